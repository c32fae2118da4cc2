using System.Diagnostics;
using System.Globalization;
using AotFaas.Functions;
using AotFaas.Invokers;
using Microsoft.AspNetCore.Http.Features;

namespace AotFaas.Http;

/// <summary>
/// Writes what an invocation came to: one line of text the server says itself, or the function's status,
/// headers and body with a Content-Length. The body rules of every status hold (204, 205 and 304 have none,
/// a 205 says so with Content-Length: 0, a response to HEAD sends none), and writing is bounded like a run:
/// the function's timeout, or longer for a large body at <see cref="MinWriteRate"/>; a slower reader is cut off.
/// </summary>
public static class ResponseWriter
{
    /// <summary>Content-Type of the server's own messages.</summary>
    public const string TextContentType = "text/plain; charset=utf-8";

    /// <summary>The header that says how long the request took, in seconds.</summary>
    public const string DurationHeader = "X-Duration-Seconds";

    /// <summary>The slowest a client may read a large response: below it, it is cut off once the function's timeout has passed.</summary>
    public const int MinWriteRate = 64 * 1024;

    /// <summary>Answers with <paramref name="result"/>; <paramref name="started"/> is when the request arrived.</summary>
    public static async Task WriteAsync(HttpContext context, InvokeResult result, long started, FunctionPolicy policy)
    {
        HttpResponse response = context.Response;
        if (result.NoResponse || response.HasStarted)
        {
            return;
        }

        foreach (KeyValuePair<string, string> header in result.Headers)
        {
            // These two are the server's to say.
            if (!header.Key.Equals(DurationHeader, StringComparison.OrdinalIgnoreCase) && !header.Key.Equals(RequestId.Header, StringComparison.OrdinalIgnoreCase))
            {
                response.Headers.Append(header.Key, header.Value);
            }
        }

        if (result.Body is not IResponseBody body)
        {
            await WriteTextAsync(context, started, result.Status, result.Message ?? string.Empty);
            return;
        }

        response.StatusCode = result.Status;
        if (result.ReasonPhrase is not null)
        {
            context.Features.GetRequiredFeature<IHttpResponseFeature>().ReasonPhrase = result.ReasonPhrase;
        }

        response.ContentType = result.ContentType;

        // 204, 205 and 304 have no body by definition (RFC 9110 15.3.5, 15.3.6, 15.4.5), nor has a response to
        // HEAD; whatever the function wrote after its headers is dropped. A 205 says so with Content-Length: 0.
        if (response.StatusCode is StatusCodes.Status204NoContent or StatusCodes.Status304NotModified)
        {
            Stamp(context, started);
            return;
        }

        if (response.StatusCode == StatusCodes.Status205ResetContent)
        {
            response.ContentLength = 0;
            Stamp(context, started);
            return;
        }

        long length = body.Length < 0 ? -1 : body.Length - result.BodyOffset;
        if (length >= 0)
        {
            response.ContentLength = length;
        }

        Stamp(context, started);
        if (HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }

        using var writing = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        if (!result.StreamsBody)
        {
            // A streamed body bounds itself: no more than the timeout may pass without a byte.
            writing.CancelAfter(TimeSpan.FromSeconds(Math.Max(policy.Timeout.TotalSeconds, (double)length / MinWriteRate)));
        }

        try
        {
            await body.CopyToAsync(response.Body, writing.Token, result.BodyOffset);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            if (!context.RequestAborted.IsCancellationRequested)
            {
                result.Outcome += "; the client read too slowly and was cut off";
                context.Abort();
                return;
            }

            // The client went away while the response was being written; nothing is left to do.
            result.Outcome += "; the client went away during the response";
        }
    }

    /// <summary>Sets <c>X-Duration-Seconds</c>, as the OpenFaaS watchdog does: seconds since <paramref name="started"/>.</summary>
    public static void Stamp(HttpContext context, long started)
        => context.Response.Headers[DurationHeader] = Stopwatch.GetElapsedTime(started).TotalSeconds.ToString("F6", CultureInfo.InvariantCulture);

    /// <summary>One line of text with <paramref name="status"/>, unless a response is already under way.</summary>
    public static Task WriteTextAsync(HttpContext context, long started, int status, string message)
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
}
