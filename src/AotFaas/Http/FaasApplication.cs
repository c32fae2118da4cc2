using AotFaas.Functions;
using AotFaas.Invokers;
using AotFaas.Operations;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace AotFaas.Http;

/// <summary>
/// What Kestrel runs for every request: <c>/function/{name}</c> and <c>/function/{name}/{**path}</c> go
/// to the <see cref="FunctionEndpoint"/>, which checks the method against the function's; health,
/// metrics, the listing and the page go to the <see cref="OperationsEndpoints"/>; everything else is
/// 404 with an empty body. A few lines of dispatch instead of the routing middleware: the server
/// has one route, and start-up time matters more than generality. No exception reaches Kestrel: one that
/// escapes a handler is answered by <see cref="HandlerFailure"/>. The endpoints are read once per request:
/// <see cref="Serve"/> swaps them for later requests while a request keeps the ones it started with.
/// </summary>
public sealed class FaasApplication(FunctionEndpoint endpoint, OperationsEndpoints operations) : IHttpApplication<HttpContext>
{
    /// <summary>The path prefix of functions; the next segment is the function's name.</summary>
    public const string FunctionPrefix = FunctionPolicy.PathPrefix;

    private Endpoints _endpoints = new(endpoint, operations);

    /// <summary>Serves <paramref name="functions"/> and <paramref name="operations"/> to the requests that arrive from now on.</summary>
    public void Serve(FunctionEndpoint functions, OperationsEndpoints operations) => Volatile.Write(ref _endpoints, new Endpoints(functions, operations));

    public HttpContext CreateContext(IFeatureCollection contextFeatures) => new DefaultHttpContext(contextFeatures);

    public void DisposeContext(HttpContext context, Exception? exception)
    {
    }

    public Task ProcessRequestAsync(HttpContext context)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        Endpoints endpoints = _endpoints;
        if (endpoints.Operations.Lifecycle.IsHandingOver)
        {
            AskToReconnect(context);
        }

        Task handled;
        try
        {
            handled = DispatchAsync(context, started, endpoints);
        }
        catch (Exception e)
        {
            handled = Task.FromException(e);
        }

        // The usual request completes synchronously or succeeds: no state machine for it.
        return handled.IsCompletedSuccessfully ? Task.CompletedTask : GuardAsync(handled, context, started, endpoints);
    }

    /// <summary>
    /// While a new binary takes over (SIGHUP): this connection is to end after this response, so that the client's next
    /// request reaches the new server. HTTP/1.x says so with <c>Connection: close</c>, after which Kestrel closes it;
    /// HTTP/2 has no such header (Kestrel would drop it with a warning): the connection is asked to close, and Kestrel
    /// sends GOAWAY, finishes the streams it has, then closes, and the client opens its next stream elsewhere.
    /// </summary>
    private static void AskToReconnect(HttpContext context)
    {
        string protocol = context.Request.Protocol;
        if (HttpProtocol.IsHttp11(protocol) || HttpProtocol.IsHttp10(protocol))
        {
            context.Response.Headers.Connection = "close";
        }
        else
        {
            context.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
        }
    }

    private static async Task GuardAsync(Task handled, HttpContext context, long started, Endpoints endpoints)
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
            await HandlerFailure.AnswerAsync(context, e, started, endpoints.Function.Logger, endpoints.Operations.Lifecycle);
        }
    }

    private static Task DispatchAsync(HttpContext context, long started, Endpoints endpoints)
    {
        string path = context.Request.Path.Value ?? string.Empty;
        if (path.StartsWith(FunctionEndpoint.AsyncPrefix, StringComparison.Ordinal) && path.Length > FunctionEndpoint.AsyncPrefix.Length)
        {
            int end = path.IndexOf('/', FunctionEndpoint.AsyncPrefix.Length);
            return end < 0
                ? endpoints.Function.HandleAsync(context, path[FunctionEndpoint.AsyncPrefix.Length..], string.Empty, async: true)
                : endpoints.Function.HandleAsync(context, path[FunctionEndpoint.AsyncPrefix.Length..end], path[end..], async: true);
        }

        if (!path.StartsWith(FunctionPrefix, StringComparison.Ordinal) || path.Length == FunctionPrefix.Length)
        {
            // Every response says how long it took, these ones too (a few microseconds).
            ResponseWriter.Stamp(context, started);
            Task? answered = endpoints.Operations.TryHandle(context, path);
            if (answered is null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return answered;
        }

        int slash = path.IndexOf('/', FunctionPrefix.Length);
        return slash < 0
            ? endpoints.Function.HandleAsync(context, path[FunctionPrefix.Length..], string.Empty)
            : endpoints.Function.HandleAsync(context, path[FunctionPrefix.Length..slash], path[slash..]);
    }

    /// <summary>The endpoints one request is served by, swapped as one.</summary>
    private sealed class Endpoints(FunctionEndpoint function, OperationsEndpoints operations)
    {
        public FunctionEndpoint Function { get; } = function;

        public OperationsEndpoints Operations { get; } = operations;
    }
}
