using Microsoft.AspNetCore.Connections;

namespace AotFaas.Invokers;

/// <summary>
/// What an invocation comes to: the answer to write (a status with a body the function produced, or one
/// line of text the server writes itself, or nothing when the client went away) and what its log line and
/// metrics say. A result may be handed over before its work is over (a timed-out run is answered at its
/// deadline, while its program is being stopped): <see cref="Ended"/> says when it is, and the function's slot
/// is held until then. Dispose frees what it holds.
/// </summary>
public class InvokeResult : IAsyncDisposable
{
    /// <summary>The status of a request whose client went away before the response (nginx's convention).</summary>
    public const int ClientClosedRequest = 499;

    /// <summary>The response's status (or <see cref="ClientClosedRequest"/> with <see cref="NoResponse"/>).</summary>
    public int Status { get; init; }

    /// <summary>A reason phrase other than the status's usual one, or null.</summary>
    public string? ReasonPhrase { get; init; }

    /// <summary>The Content-Type of <see cref="Body"/>.</summary>
    public string? ContentType { get; init; }

    /// <summary>Headers to send, in order; a name may repeat.</summary>
    public List<KeyValuePair<string, string>> Headers { get; } = [];

    /// <summary>The body to send from <see cref="BodyOffset"/> on, with a Content-Length; null for a <see cref="Message"/>.</summary>
    public IResponseBody? Body { get; init; }

    /// <summary>Where the body starts in <see cref="Body"/> (after a CGI header block).</summary>
    public long BodyOffset { get; init; }

    /// <summary>One line of text the server answers with itself, when there is no <see cref="Body"/>.</summary>
    public string? Message { get; init; }

    /// <summary>Nothing to send: the client went away.</summary>
    public bool NoResponse { get; init; }

    /// <summary>How it ended, in a few words, for the log line: <c>exit code 0</c>, <c>'cat' is busy ...</c>.</summary>
    public string Outcome { get; set; } = string.Empty;

    /// <summary>The program's exit code, or the signal's name, or <c>-</c> when no program ran.</summary>
    public string Exit { get; set; } = "-";

    /// <summary>The level of the log line: warnings for refusals, errors for what the operator must fix.</summary>
    public LogLevel Level { get; set; } = LogLevel.Information;

    /// <summary>Request body bytes the function read.</summary>
    public long BytesIn { get; set; }

    /// <summary>The server stopped the run (deadline, output limit, client gone, bad input).</summary>
    public bool Killed { get; set; }

    /// <summary>The deadline passed.</summary>
    public bool TimedOut { get; set; }

    /// <summary>The program could not be started.</summary>
    public bool SpawnFailed { get; set; }

    /// <summary>
    /// The body is read from the function while it is written (a worker's response): the function's slot is held
    /// until the response is written, since the worker is busy until then.
    /// </summary>
    public bool StreamsBody { get; init; }

    /// <summary>Completes when the work behind the result is over (at once, for most).</summary>
    public virtual Task Ended => Task.CompletedTask;

    /// <summary>Called once, after <see cref="Ended"/>: fills in what only the end tells (how a timed-out program ended).</summary>
    public virtual void Conclude()
    {
    }

    /// <summary>One line of text for <paramref name="status"/>, which is also the outcome.</summary>
    public static InvokeResult Refusal(int status, string message, LogLevel level = LogLevel.Warning)
        => new() { Status = status, Message = message, Outcome = message, Level = level };

    /// <summary>The client went away: nothing to answer.</summary>
    public static InvokeResult ClientGone(TimeSpan after)
        => new() { Status = ClientClosedRequest, NoResponse = true, Outcome = $"the client went away after {after.TotalMilliseconds:F1} ms", Level = LogLevel.Information };

    /// <summary>
    /// The request body failed: over <paramref name="maxBody"/> (413), malformed (400, and the connection is closed),
    /// or the client went away (nothing); null when <paramref name="e"/> is none of these.
    /// </summary>
    public static InvokeResult? ForInputFailure(HttpContext context, Exception e, string function, long maxBody, TimeSpan elapsed)
    {
        if (e is InputTooLargeException || (e is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }))
        {
            return Refusal(StatusCodes.Status413PayloadTooLarge, BodyTooLarge(function, maxBody));
        }

        if (e is BadHttpRequestException || IsMalformedBody(context, e))
        {
            // The framework's own message may be a bare resource key in the trimmed binary: say it in our words.
            int status = (e as BadHttpRequestException)?.StatusCode ?? StatusCodes.Status400BadRequest;
            InvokeResult refusal = Refusal(status, "the request body could not be read");
            if (status == StatusCodes.Status400BadRequest && !HttpProtocol.IsHttp2(context.Request.Protocol) && !HttpProtocol.IsHttp3(context.Request.Protocol))
            {
                // The framing is lost: nothing after this body can be read as a request (HTTP/1.x; an HTTP/2 stream
                // has its own framing, and the header is not HTTP/2's).
                refusal.Headers.Add(new("Connection", "close"));
            }

            return refusal;
        }

        return ClientWentAway(context, e) ? ClientGone(elapsed) : null;
    }

    /// <summary>The 413 line.</summary>
    public static string BodyTooLarge(string function, long maxBody)
        => $"request body too large: the limit of '{function}' is {Shared.Quantity.FormatSize(maxBody)}";

    /// <summary>
    /// Whether <paramref name="e"/> says the client went away: a reset (which a body read may report before
    /// <see cref="HttpContext.RequestAborted"/> fires), or a read or write cut short once it fired.
    /// </summary>
    public static bool ClientWentAway(HttpContext context, Exception e)
        => e is ConnectionResetException || (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException);

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Whether <paramref name="e"/> is a malformed body that Kestrel reports as a plain <see cref="IOException"/>
    /// rather than a <see cref="BadHttpRequestException"/>: a chunk size that overflows (its parser's checked
    /// arithmetic turns the OverflowException into an IOException). A client that went away is a
    /// <see cref="ConnectionResetException"/> or an abort instead.
    /// </summary>
    private static bool IsMalformedBody(HttpContext context, Exception e)
        => e is IOException and not ConnectionResetException && !context.RequestAborted.IsCancellationRequested;
}
