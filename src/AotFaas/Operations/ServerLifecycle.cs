namespace AotFaas.Operations;

/// <summary>
/// Whether the server is serving or draining after SIGTERM, which health checks report, and how many
/// exceptions escaped a request handler (none should: each is a bug, answered with a 500).
/// </summary>
public sealed class ServerLifecycle
{
    private volatile bool _draining;
    private long _unhandledExceptions;

    /// <summary>True once SIGTERM, SIGINT or SIGQUIT arrived: health checks answer 503 so that load balancers stop sending.</summary>
    public bool IsDraining => _draining;

    /// <summary>Exceptions that escaped a request handler since start; each was logged at Error and answered with a 500.</summary>
    public long UnhandledExceptions => Interlocked.Read(ref _unhandledExceptions);

    public void BeginDrain() => _draining = true;

    /// <summary>Counts an exception that escaped a request handler.</summary>
    public void CountUnhandledException() => Interlocked.Increment(ref _unhandledExceptions);
}
