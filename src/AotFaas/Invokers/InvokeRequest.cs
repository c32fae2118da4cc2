using System.IO.Pipelines;

namespace AotFaas.Invokers;

/// <summary>An admitted request, as an invoker sees it.</summary>
/// <param name="Context">The HTTP request, for what a function may see of it (method, headers, addresses).</param>
/// <param name="PathInfo">The decoded path after <c>/function/{name}</c>: empty, or starting with '/'.</param>
/// <param name="Input">The body to run with: the request's, a verified signed body, or nothing for GET and HEAD.</param>
/// <param name="InputLength">The body's length when known.</param>
/// <param name="RequestId">The request's id (<c>X-Request-Id</c>).</param>
/// <param name="Timeout">What is left of the function's timeout.</param>
/// <param name="Started">When the request arrived (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</param>
public sealed record InvokeRequest(HttpContext Context, string PathInfo, PipeReader Input, long? InputLength, string RequestId, TimeSpan Timeout, long Started)
{
    /// <summary>Fires when the client goes away.</summary>
    public CancellationToken Aborted => Context.RequestAborted;
}
