using AotFaas.Functions;
using AotFaas.Invokers;
using AotFaas.Operations;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace AotFaas.Http;

/// <summary>
/// What Kestrel runs for every request: <c>/function/{name}</c> and <c>/function/{name}/{**path}</c> go
/// to the <see cref="FunctionEndpoint"/>, which checks the method against the function's; health,
/// metrics, the listing and the page go to the <see cref="OperationsEndpoints"/>; everything else is
/// 404 with an empty body. A few lines of dispatch instead of the routing middleware: the server
/// has one route, and start-up time matters more than generality. No exception reaches Kestrel: one that
/// escapes a handler is answered by <see cref="HandlerFailure"/>.
/// </summary>
public sealed class FaasApplication(FunctionEndpoint endpoint, OperationsEndpoints operations) : IHttpApplication<HttpContext>
{
    /// <summary>The path prefix of functions; the next segment is the function's name.</summary>
    public const string FunctionPrefix = FunctionPolicy.PathPrefix;

    public HttpContext CreateContext(IFeatureCollection contextFeatures) => new DefaultHttpContext(contextFeatures);

    public void DisposeContext(HttpContext context, Exception? exception)
    {
    }

    public Task ProcessRequestAsync(HttpContext context)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        if (operations.Lifecycle.IsHandingOver)
        {
            // Kestrel closes the connection after this response; the client's next one reaches the new server.
            context.Response.Headers.Connection = "close";
        }

        Task handled;
        try
        {
            handled = DispatchAsync(context, started);
        }
        catch (Exception e)
        {
            handled = Task.FromException(e);
        }

        // The usual request completes synchronously or succeeds: no state machine for it.
        return handled.IsCompletedSuccessfully ? Task.CompletedTask : GuardAsync(handled, context, started);
    }

    private async Task GuardAsync(Task handled, HttpContext context, long started)
    {
        try
        {
            await handled;
        }
        catch (Exception e) when (InvokeResult.ClientWentAway(context, e))
        {
            // Not a bug: nobody is left to answer.
        }
        catch (Exception e)
        {
            await HandlerFailure.AnswerAsync(context, e, started, endpoint.Logger, operations.Lifecycle);
        }
    }

    private Task DispatchAsync(HttpContext context, long started)
    {
        string path = context.Request.Path.Value ?? string.Empty;
        if (!path.StartsWith(FunctionPrefix, StringComparison.Ordinal) || path.Length == FunctionPrefix.Length)
        {
            // Every response says how long it took, these ones too (a few microseconds).
            ResponseWriter.Stamp(context, started);
            Task? answered = operations.TryHandle(context, path);
            if (answered is null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return answered;
        }

        int slash = path.IndexOf('/', FunctionPrefix.Length);
        return slash < 0
            ? endpoint.HandleAsync(context, path[FunctionPrefix.Length..], string.Empty)
            : endpoint.HandleAsync(context, path[FunctionPrefix.Length..slash], path[slash..]);
    }
}
