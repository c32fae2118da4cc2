using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace AotFaas.Http;

/// <summary>
/// What Kestrel runs for every request: <c>POST /function/{name}</c> goes to the
/// <see cref="FunctionEndpoint"/>; another method there is 405 with <c>Allow: POST</c>;
/// everything else is 404 with an empty body. A two-line dispatch instead of the routing
/// middleware: the server has one route, and start-up time matters more than generality.
/// </summary>
public sealed class FaasApplication(FunctionEndpoint endpoint) : IHttpApplication<HttpContext>
{
    /// <summary>The path prefix of functions; the rest of the path is the function's name.</summary>
    public const string FunctionPrefix = "/function/";

    public HttpContext CreateContext(IFeatureCollection contextFeatures) => new DefaultHttpContext(contextFeatures);

    public void DisposeContext(HttpContext context, Exception? exception)
    {
    }

    public Task ProcessRequestAsync(HttpContext context)
    {
        string path = context.Request.Path.Value ?? string.Empty;
        if (!path.StartsWith(FunctionPrefix, StringComparison.Ordinal) || path.Length == FunctionPrefix.Length || path.IndexOf('/', FunctionPrefix.Length) >= 0)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            context.Response.Headers.Allow = "POST";
            return Task.CompletedTask;
        }

        return endpoint.HandleAsync(context, path[FunctionPrefix.Length..]);
    }
}
