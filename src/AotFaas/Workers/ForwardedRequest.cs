using System.IO.Pipelines;
using System.Net;
using AotFaas.Functions;
using AotFaas.Invokers;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace AotFaas.Workers;

/// <summary>
/// The request a worker gets for <c>/function/NAME/rest?query</c>: <c>http://127.0.0.1:PORT/rest?query</c> with the
/// client's method, its headers and its body, streamed. Left out: the hop-by-hop headers (RFC 9110 7.6.1: Connection
/// and the headers it names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade), Expect (the
/// server answers it), <c>Proxy</c> and <c>Proxy-Authorization</c>, <c>Authorization</c> unless the function sets
/// <c>pass-authorization: true</c>, and the header of an <c>auth: token</c> function, as for a program. Set by the
/// server, whatever the client sent: <c>X-Forwarded-For</c> (the client's address), <c>X-Forwarded-Proto</c>,
/// <c>X-Forwarded-Host</c> (the Host the client asked for, which is also passed on as Host) and
/// <c>X-Request-Id</c>; a client's <c>Forwarded</c> header is dropped, since this server is the first hop it can vouch for.
/// </summary>
internal static class ForwardedRequest
{
    private static readonly string[] HopByHop =
    [
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Expect",
        "Proxy", "Proxy-Authorization", "Host", "Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id",
    ];

    /// <summary>The request for the worker on <paramref name="port"/>.</summary>
    public static HttpRequestMessage For(InvokeRequest request, Proc proc, int port, long maxBody)
    {
        HttpRequest incoming = request.Context.Request;
        var message = new HttpRequestMessage(new HttpMethod(incoming.Method), new Uri($"http://127.0.0.1:{port}{Target(request)}", UriKind.Absolute))
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        if (FunctionPolicy.HasInput(incoming.Method) && (request.InputLength is null or > 0 || incoming.Headers.ContentLength == 0))
        {
            message.Content = new StreamedBody(request.Input, request.InputLength, maxBody);
        }

        StringValues connection = incoming.Headers.Connection;
        foreach (KeyValuePair<string, StringValues> header in incoming.Headers)
        {
            string name = header.Key;
            if (name.StartsWith(':') || IsLeftOut(name, proc, connection))
            {
                continue;
            }

            if (!message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)header.Value))
            {
                // A content header (Content-Type, Content-Encoding, ...): it belongs to the body, and goes only with one.
                message.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)header.Value);
            }
        }

        string host = incoming.Host.Value ?? string.Empty;
        if (host.Length > 0)
        {
            message.Headers.TryAddWithoutValidation("Host", host);
            message.Headers.TryAddWithoutValidation("X-Forwarded-Host", host);
        }

        if (request.Context.Connection.RemoteIpAddress is IPAddress client)
        {
            message.Headers.TryAddWithoutValidation("X-Forwarded-For", (client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client).ToString());
        }

        message.Headers.TryAddWithoutValidation("X-Forwarded-Proto", incoming.Scheme);
        message.Headers.TryAddWithoutValidation("X-Request-Id", request.RequestId);
        return message;
    }

    /// <summary>The path and query after <c>/function/NAME</c> (see <see cref="RequestTarget.After"/>).</summary>
    internal static string Target(InvokeRequest request) => RequestTarget.After(request.Context, request.PathInfo);

    private static bool IsLeftOut(string name, Proc proc, StringValues connection)
    {
        foreach (string hop in HopByHop)
        {
            if (name.Equals(hop, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        if ((!proc.PassAuthorization && name.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
            || (proc.Auth == AuthScheme.Token && name.Equals(proc.AuthHeader, StringComparison.OrdinalIgnoreCase)))
        {
            return true;
        }

        // Connection: close, X-Custom names X-Custom as hop-by-hop.
        foreach (string? value in connection)
        {
            foreach (string token in (value ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (name.Equals(token, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// The client's body, read as the worker takes it: never all in memory. More than <c>max-body</c> ends it with
    /// <see cref="InputTooLargeException"/> (a chunked body has no length to check up front).
    /// </summary>
    internal sealed class StreamedBody(PipeReader input, long? knownLength, long maxBody) : HttpContent
    {
        /// <summary>Bytes read from the client so far.</summary>
        public long BytesRead { get; private set; }

        /// <summary>The client's body has been read to its end (and handed to the worker's connection).</summary>
        public bool Complete { get; private set; }

        /// <summary>The most bytes sent to the worker in one write: the client's body arrives in 4 KiB segments, one send(2) each otherwise.</summary>
        private const int WriteSize = 64 * 1024;

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            byte[] batch = System.Buffers.ArrayPool<byte>.Shared.Rent(WriteSize);
            try
            {
                while (true)
                {
                    ReadResult read = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
                    System.Buffers.ReadOnlySequence<byte> buffer = read.Buffer;
                    if (BytesRead + buffer.Length > maxBody)
                    {
                        input.AdvanceTo(buffer.End);
                        throw new InputTooLargeException(maxBody);
                    }

                    // What has arrived goes in writes of up to 64 KiB; a single segment goes as it is.
                    if (buffer.IsSingleSegment)
                    {
                        await stream.WriteAsync(buffer.First, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        for (System.Buffers.ReadOnlySequence<byte> rest = buffer; !rest.IsEmpty;)
                        {
                            int take = (int)Math.Min(rest.Length, WriteSize);
                            System.Buffers.BuffersExtensions.CopyTo(rest.Slice(0, take), batch);
                            await stream.WriteAsync(batch.AsMemory(0, take), cancellationToken).ConfigureAwait(false);
                            rest = rest.Slice(take);
                        }
                    }

                    BytesRead += buffer.Length;
                    input.AdvanceTo(buffer.End);
                    if (read.IsCompleted || read.IsCanceled)
                    {
                        Complete = read.IsCompleted;
                        return;
                    }
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(batch);
            }
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
            => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = knownLength ?? -1;
            return knownLength is not null;
        }
    }
}
