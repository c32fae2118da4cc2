using System.Diagnostics;
using AotFaas.Operations;

namespace AotFaas.Http;

/// <summary>
/// What the server does with an exception that escapes a request handler, so that none reaches Kestrel
/// (which would answer an empty 500 without the usual headers, or none at all): it is logged at Error once
/// and counted in <see cref="ServerLifecycle.UnhandledExceptions"/>; the client gets a 500 with a one-line
/// body, <c>X-Request-Id</c> and <c>X-Duration-Seconds</c> when nothing was sent yet, and an aborted
/// connection otherwise, since a response already under way cannot be taken back.
/// </summary>
internal static class HandlerFailure
{
    /// <summary>The one line the client gets; the details are in the log, never in the response.</summary>
    public const string Message = "internal server error: the details are in the server's log";

    private static readonly byte[] Body = System.Text.Encoding.UTF8.GetBytes(Message + "\n");

    /// <summary>The status the client gets for <paramref name="context"/>: 500, or the one already sent.</summary>
    public static int StatusFor(HttpContext context) => context.Response.HasStarted ? context.Response.StatusCode : StatusCodes.Status500InternalServerError;

    /// <summary>The response body's length the client gets: the line, or none when the connection is aborted.</summary>
    public static long BytesFor(HttpContext context) => context.Response.HasStarted ? 0 : Body.Length;

    /// <summary>Logs and counts <paramref name="exception"/>, then answers as the class remarks say.</summary>
    public static async Task AnswerAsync(HttpContext context, Exception exception, long started, ILogger logger, ServerLifecycle lifecycle)
    {
        lifecycle.CountUnhandledException();
        HttpResponse response = context.Response;
        string requestId = response.Headers[RequestId.Header].ToString();
        bool sent = response.HasStarted;
        Log.UnhandledException(logger, exception, context.Request.Method, Printable(context.Request.Path.Value), requestId, sent ? "aborted the connection" : "answered 500");
        if (sent)
        {
            context.Abort();
            return;
        }

        // Headers the handler set before it failed (a function's CGI headers among them) are not the 500's.
        response.Clear();
        if (requestId.Length > 0)
        {
            response.Headers[RequestId.Header] = requestId;
        }

        response.StatusCode = StatusCodes.Status500InternalServerError;
        response.ContentType = ResponseWriter.TextContentType;
        response.ContentLength = Body.Length;
        response.Headers[ResponseWriter.DurationHeader] = Stopwatch.GetElapsedTime(started).TotalSeconds.ToString("F6", System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            await response.Body.WriteAsync(Body, context.RequestAborted);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client went away too; nothing is left to answer.
        }
    }

    /// <summary>The path for a log line: a decoded path may hold control characters, which would forge lines.</summary>
    private static string Printable(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return string.Empty;
        }

        return string.Create(path.Length, path, static (chars, path) =>
        {
            for (int i = 0; i < path.Length; i++)
            {
                chars[i] = char.IsControl(path[i]) ? '?' : path[i];
            }
        });
    }
}
