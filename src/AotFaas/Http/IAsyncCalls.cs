using AotFaas.Functions;
using AotFaas.Invokers;

namespace AotFaas.Http;

/// <summary>
/// Asynchronous calls (<c>POST /async-function/NAME</c>): accepted once every check of a synchronous call passed,
/// stored durably, answered 202, and run later like a synchronous call. The endpoint admits; this stores and reads
/// back. Present only in a binary whose manifest has a function with <c>async: true</c>.
/// </summary>
public interface IAsyncCalls
{
    /// <summary>
    /// Stores the admitted call <paramref name="request"/> (its body read in full, up to <c>max-body</c>) and says
    /// 202 with <c>X-Call-Id</c> and <c>Location</c>; or refuses it: 413, 429 (the function's queue is full), 400 (a
    /// callback URL not allowed), 503 (the store failed or the server stops).
    /// </summary>
    Task<InvokeResult> AcceptAsync(InvokeRequest request, FunctionPolicy policy);

    /// <summary>
    /// For <c>GET /async-function/NAME/calls/ID</c>: the call's state as JSON (404 when there is none; 401 when the
    /// function's header check fails); null for any other request, which is an asynchronous call.
    /// </summary>
    Task<InvokeResult>? TryReadStatus(HttpContext context, FunctionRoute route, string pathInfo);

    /// <summary>
    /// The drain: no stored call is taken any more; calls running get <paramref name="drainTimeout"/> to end, then are
    /// stopped and stay queued for the next start.
    /// </summary>
    Task StopAsync(TimeSpan drainTimeout);
}
