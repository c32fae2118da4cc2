using System.Net;
using AotFaas.Functions;
using Microsoft.AspNetCore.Http.Features;

namespace AotFaas.Async;

/// <summary>
/// The request of a stored call, rebuilt as an <see cref="HttpContext"/> for the function's invoker: the same method,
/// path, query, headers and client address a synchronous call would have passed on (its <c>request-env</c> variables,
/// or a worker's request), with <see cref="HttpContext.RequestAborted"/> fired when the server stops it.
/// </summary>
internal static class StoredContext
{
    public static HttpContext For(string function, CallRequest stored, CancellationToken aborted)
    {
        var context = new DefaultHttpContext();
        HttpRequest request = context.Request;
        request.Protocol = "HTTP/1.1";
        request.Method = stored.Method;
        request.Scheme = stored.Scheme;
        request.Host = new HostString(stored.Host);
        request.Path = new PathString(FunctionPolicy.PathPrefix + function + stored.PathInfo);
        request.QueryString = stored.Query.Length > 0 ? new QueryString(stored.Query) : QueryString.Empty;
        foreach (KeyValuePair<string, string> header in stored.Headers)
        {
            // Host is the request's own (set above), once.
            if (!header.Key.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                request.Headers.Append(header.Key, header.Value);
            }
        }

        context.Connection.LocalPort = stored.LocalPort;

        if (context.Features.Get<IHttpRequestFeature>() is IHttpRequestFeature feature)
        {
            feature.RawTarget = FunctionPolicy.PathPrefix + function + stored.Target;
        }

        if (stored.RemoteAddress is not null && IPAddress.TryParse(stored.RemoteAddress, out IPAddress? address))
        {
            context.Connection.RemoteIpAddress = address;
            context.Connection.RemotePort = stored.RemotePort;
        }

        context.RequestAborted = aborted;
        return context;
    }
}
