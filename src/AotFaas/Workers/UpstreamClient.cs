using AotFaas.Invokers;

namespace AotFaas.Workers;

/// <summary>
/// The one HTTP client every worker is called through (<see cref="OutboundHttp"/>: keep-alive connections pooled
/// per worker port). HTTP/1.1 on loopback, where TLS would only cost.
/// Measured: <c>mode: http</c> (this client, Workers/ and what they pull in) adds 1.18 MiB to the native binary, against
/// the same functions without it, and only to a binary whose manifest has such a function (nothing else references
/// these types). The proxy against nginx on the same machine: bench/README.md.
/// </summary>
internal static class UpstreamClient
{
    /// <summary>The longest response head a worker may send.</summary>
    public const int MaxResponseHeadersKiB = 64;

    // Idle connections live shorter than the keep-alive timeouts of common worker servers (gunicorn 2 s, Node and
    // uvicorn 5 s): a connection is not reused just as the worker closes it, which would fail the call. Reconnecting
    // on loopback costs tens of microseconds; under load connections never sit idle that long.
    public static HttpMessageInvoker Instance { get; } = OutboundHttp.Create(idle: TimeSpan.FromSeconds(1), MaxResponseHeadersKiB);
}
