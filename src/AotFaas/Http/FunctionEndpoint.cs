using System.Diagnostics;
using AotFaas.Execution;
using AotFaas.Functions;
using Microsoft.AspNetCore.Http.Features;

namespace AotFaas.Http;

/// <summary>
/// <c>POST /function/{name}</c>, the seed's contract: the request body is the program's stdin;
/// exit 0 gives 200 with stdout, any other end gives 500 with stderr, an unknown name gives 404
/// with an empty body. A program that cannot be started gives 500 with a one-line reason.
/// </summary>
public sealed class FunctionEndpoint(Func<string, Proc?> functions, FunctionRunner runner, ILogger<FunctionEndpoint> logger)
{
    /// <summary>Content-Type of stdout when neither the function nor the request names one.</summary>
    public const string DefaultContentType = "application/octet-stream";

    /// <summary>Content-Type of stderr and of the server's own error messages.</summary>
    public const string TextContentType = "text/plain; charset=utf-8";

    /// <summary>Runs the function <paramref name="name"/> for this request.</summary>
    public async Task HandleAsync(HttpContext context, string name)
    {
        Proc? proc = functions(name);
        if (proc is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        long started = Stopwatch.GetTimestamp();
        RunResult result;
        try
        {
            result = await runner.RunAsync(proc, context.Request.BodyReader, context.RequestAborted);
        }
        catch (SpawnException e)
        {
            Log.SpawnFailed(logger, proc.FuncName, e.Message);
            await WriteTextAsync(context, StatusCodes.Status500InternalServerError, e.Message);
            return;
        }
        catch (BadHttpRequestException e)
        {
            // The framework's own message may be a bare resource key in the trimmed binary: say it in our words.
            string reason = e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? $"request body too large: the limit is {context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes"
                : "the request body could not be read: " + e.Message;
            Log.BadRequest(logger, proc.FuncName, e.StatusCode, reason);
            await WriteTextAsync(context, e.StatusCode, reason);
            return;
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            Log.ClientGone(logger, proc.FuncName, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return;
        }

        using (result)
        {
            HttpResponse response = context.Response;
            OutputBuffer body;
            if (result.Status.IsSuccess)
            {
                response.StatusCode = StatusCodes.Status200OK;
                response.ContentType = proc.ContentType ?? context.Request.ContentType ?? DefaultContentType;
                body = result.Stdout;
            }
            else
            {
                response.StatusCode = StatusCodes.Status500InternalServerError;
                response.ContentType = TextContentType;
                body = result.Stderr;
            }

            response.ContentLength = body.Length;
            Log.Invocation(logger, proc.FuncName, response.StatusCode, result.Status.ToString(), Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            try
            {
                await body.CopyToAsync(response.Body, context.RequestAborted);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                // The client went away while the response was being written; nothing is left to do.
            }
        }
    }

    private static Task WriteTextAsync(HttpContext context, int status, string message)
    {
        if (context.Response.HasStarted)
        {
            return Task.CompletedTask;
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = TextContentType;
        byte[] line = System.Text.Encoding.UTF8.GetBytes(message.ReplaceLineEndings(" ") + "\n");
        context.Response.ContentLength = line.Length;
        return context.Response.Body.WriteAsync(line, context.RequestAborted).AsTask();
    }
}
