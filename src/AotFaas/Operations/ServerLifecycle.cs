namespace AotFaas.Operations;

/// <summary>
/// Whether the server is serving or draining after SIGTERM, which health checks report, and how many
/// exceptions escaped a request handler (none should: each is a bug, answered with a 500).
/// </summary>
public sealed class ServerLifecycle
{
    private volatile bool _draining;
    private volatile bool _handingOver;
    private long _unhandledExceptions;

    /// <summary>When the server was made: when its functions were, in OpenFaaS's words, deployed.</summary>
    public DateTime StartedAt { get; } = DateTime.UtcNow;

    /// <summary>True once SIGTERM, SIGINT or SIGQUIT arrived: health checks answer 503 so that load balancers stop sending.</summary>
    public bool IsDraining => _draining;

    /// <summary>Exceptions that escaped a request handler since start; each was logged at Error and answered with a 500.</summary>
    public long UnhandledExceptions => Interlocked.Read(ref _unhandledExceptions);

    /// <summary>
    /// True once a new binary serves the listening sockets (SIGHUP): every response asks its client to close the
    /// connection, so that each client's next request goes to the new server.
    /// </summary>
    public bool IsHandingOver => _handingOver;

    public void BeginDrain() => _draining = true;

    public void BeginHandOver() => _handingOver = true;

    /// <summary>Counts an exception that escaped a request handler.</summary>
    public void CountUnhandledException() => Interlocked.Increment(ref _unhandledExceptions);
}
