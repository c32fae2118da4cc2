using System.Net;

namespace AotFaas.Workers;

/// <summary>
/// The one HTTP client every worker is called through: .NET's <see cref="SocketsHttpHandler"/> (keep-alive
/// connections pooled per worker port), with everything a proxy must not do turned off: no proxy, no redirects,
/// no cookies, no decompression, no trace headers of its own. HTTP/1.1 on loopback, where TLS would only cost.
/// Measured: the handler adds 1.18 MiB to the native binary (9.17 MiB for bench/warm.faas against 8.00 MiB for
/// the same functions without <c>mode: http</c>), and only to a binary whose manifest has a <c>mode: http</c>
/// function (nothing else references this type). Against nginx as the proxy on the same machine see bench/README.md.
/// </summary>
internal static class UpstreamClient
{
    /// <summary>The longest response head a worker may send.</summary>
    public const int MaxResponseHeadersKiB = 64;

    public static HttpMessageInvoker Instance { get; } = new(
        new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ActivityHeadersPropagator = null,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            MaxResponseHeadersLength = MaxResponseHeadersKiB,

            // Shorter than the keep-alive timeouts of common worker servers (gunicorn 2 s, Node and uvicorn 5 s): a
            // connection is not reused just as the worker closes it, which would fail the call. Reconnecting on
            // loopback costs tens of microseconds; under load connections never sit idle that long.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(1),
            Expect100ContinueTimeout = TimeSpan.Zero,
        },
        disposeHandler: false);
}
