using System.Buffers;
using AotFaas.Invokers;
using AotFaas.Shared;

namespace AotFaas.Workers;

/// <summary>
/// A worker's answer, passed on as it arrives: its status, its headers (minus the hop-by-hop ones, and minus Date,
/// which the server sets), and its body, streamed: never more than one 64 KiB buffer of it in the server. No more than the
/// function's timeout may pass without a byte from the worker; past it, or when the worker fails mid-body, the
/// client's connection is cut so that it cannot take a short body for a whole one.
/// </summary>
internal sealed class WorkerResponse : InvokeResult, IResponseBody
{
    private static readonly string[] LeftOut =
        ["Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Content-Type", "Date"];

    private readonly HttpContext _context;
    private readonly HttpResponseMessage _response;
    private readonly HttpRequestMessage _request;
    private readonly CancellationTokenSource _deadline;
    private readonly TimeSpan _idle;
    private readonly Action _done;
    private readonly Action<WorkerResponse> _failed;
    private bool _workerFailed;

    public WorkerResponse(HttpContext context, HttpResponseMessage response, HttpRequestMessage request, CancellationTokenSource deadline, TimeSpan idle, Action done, Action<WorkerResponse> failed)
    {
        _context = context;
        _response = response;
        _request = request;
        _deadline = deadline;
        _idle = idle;
        _done = done;
        _failed = failed;
        Status = (int)response.StatusCode;
        ContentType = response.Content.Headers.ContentType?.ToString();
        Length = response.Content.Headers.ContentLength ?? -1;
        Body = this;
        StreamsBody = true;
        string[] named = NamedByConnection(response.Headers.NonValidated);
        CopyHeaders(response.Headers.NonValidated, named);
        CopyHeaders(response.Content.Headers.NonValidated, named);
    }

    /// <summary>The body's length from its Content-Length, or -1 (chunked, or until the worker closes).</summary>
    public long Length { get; }

    public async Task CopyToAsync(Stream destination, CancellationToken cancellationToken, long skip = 0)
    {
        using CancellationTokenRegistration linked = cancellationToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), _deadline);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            Stream body = await _response.Content.ReadAsStreamAsync(_deadline.Token).ConfigureAwait(false);
            while (true)
            {
                int read;
                _deadline.CancelAfter(_idle);
                try
                {
                    read = await body.ReadAsync(buffer, _deadline.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (!_context.RequestAborted.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    WorkerFailed(_deadline.IsCancellationRequested
                        ? $"; the worker sent nothing for {Quantity.FormatDuration((long)_idle.TotalMilliseconds)} mid-body, and the response was cut off"
                        : $"; the worker failed mid-body ({HttpProxyInvoker.Describe(e)}), and the response was cut off", timedOut: _deadline.IsCancellationRequested);
                    return;
                }

                if (read == 0)
                {
                    return;
                }

                BytesIn = (_request.Content as ForwardedRequest.StreamedBody)?.BytesRead ?? 0;
                await destination.WriteAsync(buffer.AsMemory(0, read), _deadline.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public override ValueTask DisposeAsync()
    {
        BytesIn = (_request.Content as ForwardedRequest.StreamedBody)?.BytesRead ?? 0;
        _response.Dispose();
        _request.Dispose();
        _deadline.Dispose();
        if (_workerFailed)
        {
            _failed(this);
        }
        else
        {
            _done();
        }

        return base.DisposeAsync();
    }

    private void WorkerFailed(string outcome, bool timedOut)
    {
        _workerFailed = true;
        TimedOut = timedOut;
        Outcome += outcome;
        Level = LogLevel.Warning;
        _context.Abort();
    }

    /// <summary>The worker's headers that may be passed on: a name or value Kestrel would refuse (a control byte, non-ASCII) is dropped.</summary>
    private void CopyHeaders(System.Net.Http.Headers.HttpHeadersNonValidated headers, string[] named)
    {
        foreach (KeyValuePair<string, System.Net.Http.Headers.HeaderStringValues> header in headers)
        {
            if (Array.Exists(LeftOut, name => name.Equals(header.Key, StringComparison.OrdinalIgnoreCase))
                || Array.Exists(named, name => name.Equals(header.Key, StringComparison.OrdinalIgnoreCase)) || !IsToken(header.Key))
            {
                continue;
            }

            foreach (string value in header.Value)
            {
                if (IsSendable(value))
                {
                    Headers.Add(new(header.Key, value));
                }
            }
        }
    }

    /// <summary>The headers the worker's <c>Connection</c> header names: hop-by-hop too (RFC 9110 7.6.1).</summary>
    private static string[] NamedByConnection(System.Net.Http.Headers.HttpHeadersNonValidated headers)
    {
        if (!headers.TryGetValues("Connection", out System.Net.Http.Headers.HeaderStringValues values))
        {
            return [];
        }

        var named = new List<string>();
        foreach (string value in values)
        {
            named.AddRange(value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        }

        return [.. named];
    }

    private static bool IsToken(string name)
    {
        foreach (char c in name)
        {
            if (!HttpToken.IsTokenChar(c))
            {
                return false;
            }
        }

        return name.Length > 0;
    }

    private static bool IsSendable(string value)
    {
        foreach (char c in value)
        {
            if ((c < 0x20 && c != '\t') || c > 0x7E)
            {
                return false;
            }
        }

        return true;
    }
}
