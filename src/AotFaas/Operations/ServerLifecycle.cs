namespace AotFaas.Operations;

/// <summary>Whether the server is serving or draining after SIGTERM; health checks report it.</summary>
public sealed class ServerLifecycle
{
    private volatile bool _draining;

    /// <summary>True once SIGTERM, SIGINT or SIGQUIT arrived: health checks answer 503 so that load balancers stop sending.</summary>
    public bool IsDraining => _draining;

    public void BeginDrain() => _draining = true;
}
