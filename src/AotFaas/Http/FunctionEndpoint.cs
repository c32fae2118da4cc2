using System.Diagnostics;
using System.Globalization;
using AotFaas.Execution;
using AotFaas.Shared;
using Microsoft.AspNetCore.Http.Features;

namespace AotFaas.Http;

/// <summary>
/// <c>POST /function/{name}</c>, the seed's contract: the request body is the program's stdin;
/// exit 0 gives 200 with stdout, any other end gives 500 with stderr, an unknown name gives 404
/// with an empty body. Around it, the limits of a server that runs strangers' requests: 413 for a
/// body over <c>max-body</c>, 429 when the function's slots and queue are full, 504 past the
/// deadline, 502 for stdout over <c>max-output</c>, 500 with a one-line reason when the program
/// cannot start. Every response the server writes itself is one line of plain text.
/// </summary>
public sealed class FunctionEndpoint(FunctionCatalog catalog, ILogger<FunctionEndpoint> logger)
{
    /// <summary>Content-Type of stdout when neither the function nor the request names one.</summary>
    public const string DefaultContentType = "application/octet-stream";

    /// <summary>Content-Type of stderr and of the server's own messages.</summary>
    public const string TextContentType = "text/plain; charset=utf-8";

    /// <summary>Seconds a client turned away with 429 is asked to wait.</summary>
    public const int RetryAfterSeconds = 1;

    /// <summary>Runs the function <paramref name="name"/> for this request.</summary>
    public async Task HandleAsync(HttpContext context, string name)
    {
        FunctionPolicy? policy = catalog.Find(name);
        if (policy is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        string function = policy.Proc.FuncName;
        long started = Stopwatch.GetTimestamp();
        if (!LimitBody(context, policy))
        {
            Log.Rejected(logger, function, StatusCodes.Status413PayloadTooLarge, "Content-Length over max-body");
            await WriteTextAsync(context, StatusCodes.Status413PayloadTooLarge, BodyTooLarge(policy));
            return;
        }

        Admission admission = await policy.Gate.EnterAsync(policy.Timeout, context.RequestAborted);
        switch (admission)
        {
            case Admission.QueueFull or Admission.ServerFull:
                string busy = admission == Admission.QueueFull
                    ? $"'{function}' is busy: {policy.Gate.Running} running, {policy.Gate.Waiting} waiting; try again later"
                    : "the server is busy: try again later";
                Log.Rejected(logger, function, StatusCodes.Status429TooManyRequests, busy);
                context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                await WriteTextAsync(context, StatusCodes.Status429TooManyRequests, busy);
                return;
            case Admission.TimedOut:
                string waited = $"'{function}' timed out after {TimeoutText(policy)} waiting for a free slot";
                Log.Rejected(logger, function, StatusCodes.Status504GatewayTimeout, waited);
                await WriteTextAsync(context, StatusCodes.Status504GatewayTimeout, waited);
                return;
            case Admission.Canceled:
                return;
        }

        try
        {
            await RunAsync(context, policy, started);
        }
        finally
        {
            policy.Gate.Exit();
        }
    }

    /// <summary>Sets the request's body limit; false when its Content-Length is already over it.</summary>
    private static bool LimitBody(HttpContext context, FunctionPolicy policy)
    {
        if (context.Request.ContentLength > policy.MaxBody)
        {
            return false;
        }

        IHttpMaxRequestBodySizeFeature? limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (limit is { IsReadOnly: false })
        {
            limit.MaxRequestBodySize = policy.MaxBody;
        }

        return true;
    }

    private async Task RunAsync(HttpContext context, FunctionPolicy policy, long started)
    {
        string function = policy.Proc.FuncName;
        TimeSpan left = policy.Timeout - Stopwatch.GetElapsedTime(started);
        RunResult result;
        try
        {
            result = await FunctionRunner.RunAsync(policy, context.Request.BodyReader, left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1), context.RequestAborted);
        }
        catch (SpawnException e)
        {
            Log.SpawnFailed(logger, function, e.Message);
            await WriteTextAsync(context, StatusCodes.Status500InternalServerError, e.Message);
            return;
        }
        catch (BadHttpRequestException e)
        {
            // The framework's own message may be a bare resource key in the trimmed binary: say it in our words.
            string reason = e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? BodyTooLarge(policy)
                : "the request body could not be read";
            Log.Rejected(logger, function, e.StatusCode, reason);
            await WriteTextAsync(context, e.StatusCode, reason);
            return;
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            Log.ClientGone(logger, function, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return;
        }

        using (result)
        {
            double milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            switch (result.Outcome)
            {
                case RunOutcome.TimedOut:
                    Log.Invocation(logger, function, StatusCodes.Status504GatewayTimeout, "timed out, " + result.Status, milliseconds);
                    await WriteTextAsync(context, StatusCodes.Status504GatewayTimeout, $"'{function}' timed out after {TimeoutText(policy)} and was stopped");
                    return;
                case RunOutcome.OutputTooLarge:
                    Log.Invocation(logger, function, StatusCodes.Status502BadGateway, "stdout over max-output, " + result.Status, milliseconds);
                    await WriteTextAsync(context, StatusCodes.Status502BadGateway, $"'{function}' wrote more than {Quantity.FormatSize(policy.MaxOutput)} to stdout and was stopped");
                    return;
            }

            if (result.Stdout.SpillError is string spillError)
            {
                Log.Invocation(logger, function, StatusCodes.Status500InternalServerError, "output lost: " + spillError, milliseconds);
                await WriteTextAsync(context, StatusCodes.Status500InternalServerError, $"the output of '{function}' could not be kept: {spillError}");
                return;
            }

            await WriteRunAsync(context, policy, result, milliseconds);
        }
    }

    private async Task WriteRunAsync(HttpContext context, FunctionPolicy policy, RunResult result, double milliseconds)
    {
        HttpResponse response = context.Response;
        OutputBuffer body;
        if (result.IsSuccess)
        {
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = policy.Proc.ContentType ?? context.Request.ContentType ?? DefaultContentType;
            body = result.Stdout;
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
                Log.Invocation(logger, policy.Proc.FuncName, response.StatusCode, result.Status.ToString(), milliseconds);
                await WriteTextAsync(context, StatusCodes.Status500InternalServerError, $"'{policy.Proc.FuncName}' was {result.Status}");
                return;
            }
        }

        response.ContentLength = body.Length;
        Log.Invocation(logger, policy.Proc.FuncName, response.StatusCode, result.Status.ToString(), milliseconds);
        try
        {
            await body.CopyToAsync(response.Body, context.RequestAborted);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client went away while the response was being written; nothing is left to do.
        }
    }

    private static string BodyTooLarge(FunctionPolicy policy)
        => $"request body too large: the limit of '{policy.Proc.FuncName}' is {Quantity.FormatSize(policy.MaxBody)}";

    private static string TimeoutText(FunctionPolicy policy) => Quantity.FormatDuration((long)policy.Timeout.TotalMilliseconds);

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
