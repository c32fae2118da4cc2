using System.Net;

namespace AotFaas.Invokers;

/// <summary>
/// The HTTP client for requests the server makes itself (to a <c>mode: http</c> worker, to an asynchronous call's
/// callback): .NET's <see cref="SocketsHttpHandler"/> with everything a server acting for its callers must not do
/// turned off: no proxy from the environment, no redirects (they could lead anywhere), no cookies, no decompression,
/// no trace headers of its own.
/// </summary>
public static class OutboundHttp
{
    /// <summary>A client whose pooled connections are dropped after <paramref name="idle"/> unused.</summary>
    public static HttpMessageInvoker Create(TimeSpan idle, int maxResponseHeadersKiB = 64) => new(
        new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ActivityHeadersPropagator = null,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            MaxResponseHeadersLength = maxResponseHeadersKiB,
            PooledConnectionIdleTimeout = idle,
            Expect100ContinueTimeout = TimeSpan.Zero,
        },
        disposeHandler: false);
}
