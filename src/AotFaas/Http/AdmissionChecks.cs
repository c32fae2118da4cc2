using System.Globalization;
using AotFaas.Functions;
using AotFaas.Invokers;
using AotFaas.Security;
using AotFaas.Shared;
using Microsoft.AspNetCore.Http.Features;

namespace AotFaas.Http;

/// <summary>
/// What a request must pass before its function runs, each a refusal with one line of text: its method
/// (405 with <c>Allow</c>), its path and Content-Type (400), a bearer token (401), a Content-Length over
/// <c>max-body</c> (413), and a slot of the function's gate (429 with <c>Retry-After</c>, 504 past the deadline).
/// </summary>
internal static class AdmissionChecks
{
    /// <summary>Seconds a client turned away with 429 is asked to wait.</summary>
    public const int RetryAfterSeconds = 1;

    /// <summary>The refusal for a request that cannot reach <paramref name="route"/>'s function before it has to wait for anything, or null.</summary>
    public static InvokeResult? Check(HttpContext context, FunctionRoute route, string pathInfo)
    {
        FunctionPolicy policy = route.Policy;
        string function = policy.Proc.FuncName;
        string method = context.Request.Method;
        if (!policy.Allows(method))
        {
            InvokeResult refusal = InvokeResult.Refusal(StatusCodes.Status405MethodNotAllowed, $"'{function}' answers {policy.Allow}, not {method}");
            refusal.Headers.Add(new("Allow", policy.Allow));
            return refusal;
        }

        if ((BadPath(context, pathInfo) ?? BadContentType(context)) is string malformed)
        {
            return InvokeResult.Refusal(StatusCodes.Status400BadRequest, malformed);
        }

        if (route.AuthError is not null)
        {
            return InvokeResult.Refusal(StatusCodes.Status500InternalServerError, $"'{function}' cannot check its callers: its auth secret is not set", LogLevel.Error);
        }

        // A signature over the body is checked once the body is in hand (SignedBody); the others here, before anything.
        if (route.Auth is { SignsBody: false } auth && !auth.CheckHeaders(context.Request.Headers))
        {
            return FunctionAuth.Unauthorized(auth);
        }

        return LimitBody(context, policy) ? null : InvokeResult.Refusal(StatusCodes.Status413PayloadTooLarge, InvokeResult.BodyTooLarge(function, policy.MaxBody));
    }

    /// <summary>Takes a slot of the function's gate, waiting in its queue up to <paramref name="wait"/>: the slot, or the refusal.</summary>
    public static async Task<(Slot? Slot, InvokeResult? Refusal)> EnterAsync(HttpContext context, FunctionPolicy policy, TimeSpan wait, TimeSpan elapsed)
    {
        string function = policy.Proc.FuncName;
        switch (await policy.Gate.EnterAsync(wait, context.RequestAborted))
        {
            case Admission.Admitted:
                return (new Slot(policy.Gate), null);
            case Admission.QueueFull:
                return (null, Busy($"'{function}' is busy: {policy.Gate.Running} running, {policy.Gate.Waiting} waiting; try again later"));
            case Admission.ServerFull:
                return (null, Busy("the server is busy: try again later"));
            case Admission.TimedOut:
                InvokeResult timedOut = InvokeResult.Refusal(StatusCodes.Status504GatewayTimeout, $"'{function}' timed out after {Quantity.FormatDuration((long)policy.Timeout.TotalMilliseconds)} waiting for a free slot");
                timedOut.TimedOut = true;
                return (null, timedOut);
            default:
                InvokeResult gone = InvokeResult.ClientGone(elapsed);
                gone.Outcome = "the client went away while queued";
                return (null, gone);
        }
    }

    private static InvokeResult Busy(string message)
    {
        InvokeResult refusal = InvokeResult.Refusal(StatusCodes.Status429TooManyRequests, message);
        refusal.Headers.Add(new("Retry-After", RetryAfterSeconds.ToString(CultureInfo.InvariantCulture)));
        return refusal;
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
            limit.MaxRequestBodySize = context.Request.ContentLength is null && FunctionPolicy.HasInput(context.Request.Method) ? null : policy.MaxBody;
        }

        return true;
    }
}

/// <summary>A slot of a function's gate, given back once: when the run is over, or when the request ends.</summary>
internal sealed class Slot(RunGate gate)
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
