using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Security.Cryptography;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Operations;
using AotFaas.Security;
using AotFaas.Shared;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace AotFaas.Http;

/// <summary>
/// <c>POST /function/{name}</c>, the seed's contract: the request body is the program's stdin;
/// exit 0 gives 200 with stdout, any other end gives 500 with stderr, an unknown name gives 404
/// with an empty body. Around it, the limits of a server that runs strangers' requests: 413 for a
/// body over <c>max-body</c>, 429 when the function's slots and queue are full, 504 past the
/// deadline, 502 for stdout over <c>max-output</c>, 500 with a one-line reason when the program
/// cannot start. Every response the server writes itself is one line of plain text. Around those, the
/// function's own options: its methods, its request variables, a CGI response, an auth check. Each
/// request to a known function is one <see cref="Invocation"/>: one log line and one metrics record.
/// </summary>
public sealed class FunctionEndpoint(FunctionCatalog catalog, ILogger<FunctionEndpoint> logger, FaasMetrics? metrics = null)
{
    /// <summary>Content-Type of stdout when neither the function nor the request names one.</summary>
    public const string DefaultContentType = "application/octet-stream";

    /// <summary>Content-Type of stderr and of the server's own messages.</summary>
    public const string TextContentType = "text/plain; charset=utf-8";

    /// <summary>The header that says how long the request took, in seconds.</summary>
    public const string DurationHeader = "X-Duration-Seconds";

    /// <summary>Seconds a client turned away with 429 is asked to wait.</summary>
    public const int RetryAfterSeconds = 1;

    /// <summary>The slowest a client may read a large response: below it, it is cut off once the function's timeout has passed.</summary>
    public const int MinWriteRate = 64 * 1024;

    /// <summary>Where the endpoint's lines go; the dispatcher logs an unhandled exception there too.</summary>
    internal ILogger Logger => logger;

    /// <summary>
    /// Runs the function <paramref name="name"/> for this request; <paramref name="pathInfo"/> is the
    /// decoded path after its name, empty or starting with '/'.
    /// </summary>
    public async Task HandleAsync(HttpContext context, string name, string pathInfo)
    {
        long started = Stopwatch.GetTimestamp();
        StringValues offered = context.Request.Headers[RequestId.Header];
        string requestId = RequestId.For(offered.Count == 1 ? offered[0] : null);
        context.Response.Headers[RequestId.Header] = requestId;
        FunctionPolicy? policy = catalog.Find(name);
        if (policy is null)
        {
            // Not an invocation: no function, no log line, and no metric labelled with a name anyone can make up.
            metrics?.UnknownFunction();
            Stamp(context, started);
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        policy.CountInvocation();
        var invocation = new Invocation(policy.Proc.FuncName, context.Request.Method, requestId, started);
        try
        {
            await InvokeAsync(context, policy, pathInfo, invocation);
        }
        catch (Exception e) when (ClientWentAway(context, e))
        {
            // Not a bug: a read or write of ours met a closed connection. The client got what was under way, or nothing.
            if (!context.Response.HasStarted)
            {
                invocation.Refuse($"the client went away after {invocation.Elapsed.TotalMilliseconds:F1} ms", LogLevel.Information);
                invocation.Status = Invocation.ClientClosedRequest;
            }
        }
        catch (Exception e)
        {
            // The dispatcher answers it (HandlerFailure); the invocation records what the client gets.
            invocation.Unhandled = true;
            invocation.Status = HandlerFailure.StatusFor(context);
            invocation.Refuse($"unhandled {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}", LogLevel.Error);
            throw;
        }
        finally
        {
            Complete(context, invocation);
        }
    }

    private async Task InvokeAsync(HttpContext context, FunctionPolicy policy, string pathInfo, Invocation invocation)
    {
        string function = policy.Proc.FuncName;
        string method = invocation.Method;
        if (!policy.Allows(method))
        {
            context.Response.Headers.Allow = policy.Allow;
            await RefuseAsync(context, invocation, StatusCodes.Status405MethodNotAllowed, $"'{function}' answers {policy.Allow}, not {method}");
            return;
        }

        if ((BadPath(context, pathInfo) ?? BadContentType(context)) is string malformed)
        {
            await RefuseAsync(context, invocation, StatusCodes.Status400BadRequest, malformed);
            return;
        }

        if (policy.Auth is { Scheme: AuthScheme.Bearer } bearer && !bearer.CheckBearer(context.Request.Headers.Authorization))
        {
            await UnauthorizedAsync(context, invocation, policy);
            return;
        }

        if (!LimitBody(context, policy))
        {
            await RefuseAsync(context, invocation, StatusCodes.Status413PayloadTooLarge, BodyTooLarge(policy));
            return;
        }

        SignedBody.Received? signedBody = null;
        try
        {
            if (policy.Auth is { Scheme: AuthScheme.HmacSha256 } hmac)
            {
                // Before a slot is taken, and within the deadline: an unsigned body must not hold what signed ones need.
                (bool signed, signedBody) = await ReceiveSignedAsync(context, policy, hmac, invocation);
                if (!signed)
                {
                    return;
                }
            }

            Admission admission = await policy.Gate.EnterAsync(Remaining(policy, invocation), context.RequestAborted);
            switch (admission)
            {
                case Admission.QueueFull or Admission.ServerFull:
                    string busy = admission == Admission.QueueFull
                        ? $"'{function}' is busy: {policy.Gate.Running} running, {policy.Gate.Waiting} waiting; try again later"
                        : "the server is busy: try again later";
                    context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                    await RefuseAsync(context, invocation, StatusCodes.Status429TooManyRequests, busy);
                    return;
                case Admission.TimedOut:
                    invocation.TimedOut = true;
                    await RefuseAsync(context, invocation, StatusCodes.Status504GatewayTimeout, $"'{function}' timed out after {TimeoutText(policy)} waiting for a free slot");
                    return;
                case Admission.Canceled:
                    invocation.Refuse("the client went away while queued", LogLevel.Information);
                    invocation.Status = Invocation.ClientClosedRequest;
                    return;
            }

            var slot = new Slot(policy.Gate);
            try
            {
                await RunAsync(context, policy, pathInfo, invocation, signedBody, slot);
            }
            finally
            {
                slot.Release();
            }
        }
        finally
        {
            signedBody?.Dispose();
        }
    }

    /// <summary>What is left of the function's timeout since the request arrived (at least a millisecond).</summary>
    private static TimeSpan Remaining(FunctionPolicy policy, Invocation invocation)
    {
        TimeSpan left = policy.Timeout - invocation.Elapsed;
        return left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1);
    }

    /// <summary>
    /// Receives an <c>hmac-sha256</c> function's body (none for GET and HEAD, which run with an empty stdin) and
    /// checks its signature, within the deadline. True with the body when it is signed; false once the refusal
    /// (401, 413, 504, 400, or nothing when the client went away) has been answered.
    /// </summary>
    private async Task<(bool Signed, SignedBody.Received? Body)> ReceiveSignedAsync(HttpContext context, FunctionPolicy policy, FunctionAuth hmac, Invocation invocation)
    {
        PipeReader body = HasInput(invocation.Method) ? context.Request.BodyReader : PipeReader.Create(ReadOnlySequence<byte>.Empty);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(Remaining(policy, invocation));
        try
        {
            SignedBody.Received? received = await SignedBody.ReceiveAsync(body, hmac, context.Request.Headers[hmac.Header!], policy.MaxBody, policy.TempDirectory, deadline.Token);
            if (received is null)
            {
                await UnauthorizedAsync(context, invocation, policy);
                return (false, null);
            }

            return (true, received);
        }
        catch (SignedBody.NotKeptException e)
        {
            await RefuseAsync(context, invocation, StatusCodes.Status500InternalServerError, $"the request body of '{policy.Proc.FuncName}' could not be kept: {e.Message}", LogLevel.Error);
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            invocation.TimedOut = true;
            await RefuseAsync(context, invocation, StatusCodes.Status504GatewayTimeout, $"'{policy.Proc.FuncName}' timed out after {TimeoutText(policy)} receiving the request body");
        }
        catch (Exception e) when (e is InputTooLargeException or BadHttpRequestException or OperationCanceledException or IOException)
        {
            await InputFailedAsync(context, policy, invocation, e);
        }

        return (false, null);
    }

    /// <summary>The one log line and metrics record of <paramref name="invocation"/>.</summary>
    private void Complete(HttpContext context, Invocation invocation)
    {
        if (invocation.Status == 0)
        {
            invocation.Status = context.Response.HasStarted || context.Response.StatusCode != StatusCodes.Status200OK || !context.RequestAborted.IsCancellationRequested
                ? context.Response.StatusCode
                : Invocation.ClientClosedRequest;
        }

        invocation.BytesOut = invocation.Unhandled ? HandlerFailure.BytesFor(context)
            : HttpMethods.IsHead(invocation.Method) ? 0
            : context.Response.ContentLength ?? 0;
        Log.Invocation(
            logger, invocation.Level, invocation.Function, invocation.Method, invocation.Status, invocation.Elapsed.TotalMilliseconds,
            invocation.Outcome, invocation.Exit, invocation.BytesIn, invocation.BytesOut, invocation.RequestId);
        metrics?.Record(invocation);
    }

    /// <summary>
    /// Why the path after the function's name cannot be passed on, or null. Kestrel has already decoded it
    /// and removed its dot segments, but leaves <c>%2F</c> encoded: an encoded '/' would make PATH_INFO
    /// ambiguous, so it is refused, as is a control character: a NUL no environment variable can hold, and a
    /// CR or LF that a program echoing PATH_INFO into a CGI header would turn into headers of its own.
    /// </summary>
    private static string? BadPath(HttpContext context, string pathInfo)
    {
        if (pathInfo.AsSpan().IndexOfAnyInRange('\0', '\x1F') >= 0 || pathInfo.Contains('\x7F', StringComparison.Ordinal))
        {
            return "the path cannot hold a control character (%00-%1F, %7F)";
        }

        string? raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (raw is not null)
        {
            int query = raw.IndexOf('?', StringComparison.Ordinal);
            ReadOnlySpan<char> path = query < 0 ? raw : raw.AsSpan(0, query);
            if (path.Contains("%2F", StringComparison.OrdinalIgnoreCase))
            {
                return "the path cannot hold an encoded '/' (%2F)";
            }
        }

        return null;
    }

    /// <summary>
    /// Why the request's Content-Type cannot be used, or null. It may become the response's Content-Type, and a
    /// control or non-ASCII character, which Kestrel takes in a request, cannot be sent in a response header.
    /// </summary>
    private static string? BadContentType(HttpContext context)
    {
        string? contentType = context.Request.ContentType;
        if (contentType is null)
        {
            return null;
        }

        foreach (char c in contentType)
        {
            if ((c < ' ' && c != '\t') || c >= '\x7F')
            {
                return "the Content-Type header cannot hold a control or non-ASCII character";
            }
        }

        return null;
    }

    /// <summary>
    /// Sets the request's body limit; false when its Content-Length is already over it. A body without a
    /// Content-Length (chunked) that the program reads is counted by the run itself, byte for byte: Kestrel's
    /// own limit would count the chunk framing too, refusing a small body sent in small chunks.
    /// </summary>
    private static bool LimitBody(HttpContext context, FunctionPolicy policy)
    {
        if (context.Request.ContentLength > policy.MaxBody)
        {
            return false;
        }

        IHttpMaxRequestBodySizeFeature? limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (limit is { IsReadOnly: false })
        {
            limit.MaxRequestBodySize = context.Request.ContentLength is null && HasInput(context.Request.Method) ? null : policy.MaxBody;
        }

        return true;
    }

    /// <summary>GET and HEAD run with an empty stdin, whatever body the request may carry.</summary>
    private static bool HasInput(string method) => !HttpMethods.IsGet(method) && !HttpMethods.IsHead(method);

    private async Task RunAsync(HttpContext context, FunctionPolicy policy, string pathInfo, Invocation invocation, SignedBody.Received? signedBody, Slot slot)
    {
        HttpRequest request = context.Request;
        PipeReader input;
        long? inputLength;
        if (!HasInput(request.Method))
        {
            input = PipeReader.Create(ReadOnlySequence<byte>.Empty);
            inputLength = null;
        }
        else if (signedBody is not null)
        {
            input = PipeReader.Create(signedBody.Body.OpenRead());
            inputLength = signedBody.Body.Length;
        }
        else
        {
            input = request.BodyReader;
            inputLength = request.ContentLength;
        }

        ProcessEnvironment? environment = null;
        try
        {
            List<KeyValuePair<string, string>> variables = RequestVariables.For(context, policy.Proc, pathInfo, inputLength, invocation.RequestId);
            if (variables.Count > 0 && !policy.Environment.TryWith(variables, out environment, out string? tooLong))
            {
                await RefuseAsync(context, invocation, StatusCodes.Status431RequestHeaderFieldsTooLarge, $"the request's headers are too large to pass to '{policy.Proc.FuncName}': {tooLong}");
                return;
            }

            await RunAsync(context, policy, input, environment, invocation, slot);
        }
        finally
        {
            environment?.Dispose();
            if (signedBody is not null)
            {
                await input.CompleteAsync();
            }
        }
    }

    private async Task RunAsync(HttpContext context, FunctionPolicy policy, PipeReader input, ProcessEnvironment? environment, Invocation invocation, Slot slot)
    {
        string function = policy.Proc.FuncName;
        RunResult result;
        try
        {
            result = await FunctionRunner.RunAsync(policy, input, Remaining(policy, invocation), context.RequestAborted, environment);
        }
        catch (SpawnException e)
        {
            invocation.SpawnFailed = true;
            await RefuseAsync(context, invocation, StatusCodes.Status500InternalServerError, e.Message, LogLevel.Error);
            return;
        }
        catch (Exception e) when (e is BadHttpRequestException or InputTooLargeException || IsMalformedBody(context, e) || ClientWentAway(context, e))
        {
            invocation.Killed = true;
            await InputFailedAsync(context, policy, invocation, e);
            return;
        }

        await using (result)
        {
            invocation.BytesIn = result.InputBytes;
            if (result.Outcome == RunOutcome.TimedOut)
            {
                // Answered at the deadline; the slot is held until the program is gone, which the log line then says.
                invocation.TimedOut = invocation.Killed = true;
                await RefuseAsync(context, invocation, StatusCodes.Status504GatewayTimeout, $"'{function}' timed out after {TimeoutText(policy)} and was stopped");
                await result.Ended;
                slot.Release();
                RecordExit(invocation, result);
                invocation.Outcome += ", " + result.Status;
                return;
            }

            // The program is gone: writing the response holds no slot.
            slot.Release();
            RecordExit(invocation, result);
            switch (result.Outcome)
            {
                case RunOutcome.OutputTooLarge:
                    invocation.Killed = true;
                    await RefuseAsync(context, invocation, StatusCodes.Status502BadGateway, $"'{function}' wrote more than {Quantity.FormatSize(policy.MaxOutput)} to stdout and was stopped");
                    invocation.Outcome += ", " + result.Status;
                    return;
                case RunOutcome.SpillFailed:
                    invocation.Killed = true;
                    await RefuseAsync(context, invocation, StatusCodes.Status500InternalServerError, $"the output of '{function}' could not be kept: {result.Stdout.SpillError}", LogLevel.Error);
                    return;
            }

            if (result.Stdout.SpillError is string spillError)
            {
                await RefuseAsync(context, invocation, StatusCodes.Status500InternalServerError, $"the output of '{function}' could not be kept: {spillError}", LogLevel.Error);
                return;
            }

            await WriteRunAsync(context, policy, result, invocation);
            if (result.OutputAbandoned)
            {
                invocation.Outcome += "; its output was held open by a process that left its group, closed after the grace";
            }
        }
    }

    private static void RecordExit(Invocation invocation, RunResult result)
        => invocation.Exit = result.Status.Signal != 0 ? SignalNames.Name(result.Status.Signal) : result.Status.IsLost ? "-" : result.Status.ExitCode.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Whether <paramref name="e"/> is a malformed body that Kestrel reports as a plain <see cref="IOException"/>
    /// rather than a <see cref="BadHttpRequestException"/>: a chunk size that overflows (its parser's checked
    /// arithmetic turns the OverflowException into an IOException). A client that went away is a
    /// <see cref="ConnectionResetException"/> or an abort instead.
    /// </summary>
    private static bool IsMalformedBody(HttpContext context, Exception e)
        => e is IOException and not ConnectionResetException && !context.RequestAborted.IsCancellationRequested;

    /// <summary>
    /// Whether <paramref name="e"/> says the client went away: a reset (which a body read may report before
    /// <see cref="HttpContext.RequestAborted"/> fires), or a read or write cut short once it fired.
    /// </summary>
    internal static bool ClientWentAway(HttpContext context, Exception e)
        => e is ConnectionResetException || (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException);

    /// <summary>The request body failed: too large (413), malformed (400), or the client went away (no response).</summary>
    private Task InputFailedAsync(HttpContext context, FunctionPolicy policy, Invocation invocation, Exception e)
    {
        if (e is InputTooLargeException)
        {
            return RefuseAsync(context, invocation, StatusCodes.Status413PayloadTooLarge, BodyTooLarge(policy));
        }

        if (e is BadHttpRequestException || IsMalformedBody(context, e))
        {
            int status = (e as BadHttpRequestException)?.StatusCode ?? StatusCodes.Status400BadRequest;

            // The framework's own message may be a bare resource key in the trimmed binary: say it in our words.
            string reason = status == StatusCodes.Status413PayloadTooLarge
                ? BodyTooLarge(policy)
                : "the request body could not be read";
            if (status == StatusCodes.Status400BadRequest)
            {
                // The framing is lost: nothing after this body can be read as a request.
                context.Response.Headers.Connection = "close";
            }

            return RefuseAsync(context, invocation, status, reason);
        }

        invocation.Refuse($"the client went away after {invocation.Elapsed.TotalMilliseconds:F1} ms", LogLevel.Information);
        invocation.Status = Invocation.ClientClosedRequest;
        return Task.CompletedTask;
    }

    /// <summary>401 with no detail: which part failed is no business of the caller's.</summary>
    private static Task UnauthorizedAsync(HttpContext context, Invocation invocation, FunctionPolicy policy)
    {
        invocation.Refuse("authentication failed");
        if (policy.Auth!.Scheme == AuthScheme.Bearer)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }

        return WriteTextAsync(context, invocation.Started, StatusCodes.Status401Unauthorized, "unauthorized");
    }

    /// <summary>Answers with one line of text that is also the invocation's outcome.</summary>
    private static Task RefuseAsync(HttpContext context, Invocation invocation, int status, string message, LogLevel level = LogLevel.Warning)
    {
        invocation.Refuse(message, level);
        return WriteTextAsync(context, invocation.Started, status, message);
    }

    private static async Task WriteRunAsync(HttpContext context, FunctionPolicy policy, RunResult result, Invocation invocation)
    {
        HttpResponse response = context.Response;
        string function = policy.Proc.FuncName;
        invocation.Outcome = result.Status.ToString();
        OutputBuffer body;
        long skip = 0;
        if (result.IsSuccess)
        {
            body = result.Stdout;
            response.StatusCode = StatusCodes.Status200OK;
            string contentType = policy.Proc.ContentType ?? context.Request.ContentType ?? DefaultContentType;
            if (policy.Proc.Response == ResponseMode.Cgi)
            {
                CgiResponse? cgi = ReadCgiHead(body, out string? malformed);
                if (cgi is null)
                {
                    await RefuseAsync(context, invocation, StatusCodes.Status502BadGateway, $"'{function}' wrote a malformed CGI response: {malformed}");
                    return;
                }

                response.StatusCode = cgi.Status;
                if (cgi.Reason is not null)
                {
                    context.Features.GetRequiredFeature<IHttpResponseFeature>().ReasonPhrase = cgi.Reason;
                }

                foreach (KeyValuePair<string, string> header in cgi.Headers)
                {
                    if (!header.Key.Equals(DurationHeader, StringComparison.OrdinalIgnoreCase) && !header.Key.Equals(RequestId.Header, StringComparison.OrdinalIgnoreCase))
                    {
                        response.Headers.Append(header.Key, header.Value);
                    }
                }

                contentType = cgi.ContentType ?? contentType;
                skip = cgi.BodyOffset;
            }

            response.ContentType = contentType;
        }
        else
        {
            response.StatusCode = StatusCodes.Status500InternalServerError;
            response.ContentType = TextContentType;
            body = result.Stderr;
            if (result.Status.Signal != 0)
            {
                response.Headers["X-Exit-Signal"] = SignalNames.Name(result.Status.Signal);
            }
            else
            {
                response.Headers["X-Exit-Code"] = result.Status.ExitCode.ToString(CultureInfo.InvariantCulture);
            }

            if (result.Stderr.Overflowed)
            {
                response.Headers["X-Stderr-Dropped"] = result.Stderr.Dropped.ToString(CultureInfo.InvariantCulture);
            }

            if (body.Length == 0 && result.Status.Signal != 0)
            {
                await WriteTextAsync(context, invocation.Started, StatusCodes.Status500InternalServerError, $"'{function}' was {result.Status}");
                return;
            }
        }

        // 204, 205 and 304 have no body by definition (RFC 9110 15.3.5, 15.3.6, 15.4.5), nor has a response to
        // HEAD; whatever the function wrote after its headers is dropped. A 205 says so with Content-Length: 0.
        if (response.StatusCode is StatusCodes.Status204NoContent or StatusCodes.Status304NotModified)
        {
            Stamp(context, invocation.Started);
            return;
        }

        if (response.StatusCode == StatusCodes.Status205ResetContent)
        {
            response.ContentLength = 0;
            Stamp(context, invocation.Started);
            return;
        }

        response.ContentLength = body.Length - skip;
        Stamp(context, invocation.Started);
        if (HttpMethods.IsHead(invocation.Method))
        {
            return;
        }

        // Bounded, like the run: the function's timeout, or longer for a large body at MinWriteRate.
        using var writing = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        writing.CancelAfter(WriteBudget(policy, body.Length - skip));
        try
        {
            await body.CopyToAsync(response.Body, writing.Token, skip);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            if (!context.RequestAborted.IsCancellationRequested)
            {
                invocation.Outcome += "; the client read too slowly and was cut off";
                context.Abort();
                return;
            }

            // The client went away while the response was being written; nothing is left to do.
            invocation.Outcome += "; the client went away during the response";
        }
    }

    /// <summary>The CGI header block at the start of <paramref name="stdout"/>, or null with the reason it is malformed.</summary>
    private static CgiResponse? ReadCgiHead(OutputBuffer stdout, out string? malformed)
    {
        int length = (int)Math.Min(stdout.Length, CgiResponse.MaxHeadBytes);
        byte[] head = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            int copied = stdout.CopyHead(head.AsSpan(0, length));
            return CgiResponse.Parse(head.AsSpan(0, copied), complete: stdout.Length <= CgiResponse.MaxHeadBytes, out malformed);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(head);
        }
    }

    /// <summary>Sets <c>X-Duration-Seconds</c>, as the OpenFaaS watchdog does: seconds since <paramref name="started"/>.</summary>
    internal static void Stamp(HttpContext context, long started)
        => context.Response.Headers[DurationHeader] = Stopwatch.GetElapsedTime(started).TotalSeconds.ToString("F6", CultureInfo.InvariantCulture);

    /// <summary>How long writing a body of <paramref name="length"/> bytes may take: the function's timeout, or more at <see cref="MinWriteRate"/>.</summary>
    private static TimeSpan WriteBudget(FunctionPolicy policy, long length)
        => TimeSpan.FromSeconds(Math.Max(policy.Timeout.TotalSeconds, (double)length / MinWriteRate));

    private static string BodyTooLarge(FunctionPolicy policy)
        => $"request body too large: the limit of '{policy.Proc.FuncName}' is {Quantity.FormatSize(policy.MaxBody)}";

    private static string TimeoutText(FunctionPolicy policy) => Quantity.FormatDuration((long)policy.Timeout.TotalMilliseconds);

    private static Task WriteTextAsync(HttpContext context, long started, int status, string message)
    {
        if (context.Response.HasStarted)
        {
            return Task.CompletedTask;
        }

        Stamp(context, started);
        context.Response.StatusCode = status;
        context.Response.ContentType = TextContentType;
        byte[] line = System.Text.Encoding.UTF8.GetBytes(message.ReplaceLineEndings(" ") + "\n");
        context.Response.ContentLength = line.Length;
        return context.Response.Body.WriteAsync(line, context.RequestAborted).AsTask();
    }

    /// <summary>A slot of the function's gate, given back once: when the program is gone, or when the request ends.</summary>
    private sealed class Slot(RunGate gate)
    {
        private int _released;

        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Exit();
            }
        }
    }
}
