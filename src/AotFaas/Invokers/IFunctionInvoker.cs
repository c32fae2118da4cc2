namespace AotFaas.Invokers;

/// <summary>
/// One way a function runs, the seam between admitting a request and answering it: the endpoint admits
/// (method, path, auth, body limit, a slot), an invoker runs the function and says what to answer, and the
/// endpoint writes that answer. Today's invoker runs a program per request (<c>ExecInvoker</c>); a warm HTTP
/// worker and a queue of asynchronous calls plug in here. The generated <c>FunctionTable.CreateInvoker</c>
/// decides which of them a binary contains: an invoker no function uses is not referenced, and the trimmer
/// leaves it out.
/// </summary>
public interface IFunctionInvoker
{
    /// <summary>
    /// Runs the function for an admitted <paramref name="request"/> and returns what to answer; it never writes
    /// the response itself. The caller disposes the result once it has answered.
    /// </summary>
    Task<InvokeResult> InvokeAsync(InvokeRequest request);

    /// <summary>The workers it keeps running, for listings and metrics; null for a way of running that keeps none.</summary>
    IWorkerStatus? Workers => null;

    /// <summary>Starts what it keeps running ahead of the first request (the server's warm-up calls it); nothing for most.</summary>
    void Start()
    {
    }

    /// <summary>
    /// Stops what it keeps running, once no request uses it any more (the drain, or a reload that replaced the
    /// function): SIGTERM, and SIGKILL after <paramref name="killGrace"/>. Nothing for most.
    /// </summary>
    Task StopAsync(TimeSpan killGrace) => Task.CompletedTask;
}

/// <summary>What a function that keeps workers running says about them.</summary>
public interface IWorkerStatus
{
    /// <summary>Workers it runs when it is not idle-stopped (<c>replicas</c>).</summary>
    int Replicas { get; }

    /// <summary>Workers up and ready for calls now.</summary>
    int Ready { get; }

    /// <summary>Workers started again after they exited, or were restarted for not answering.</summary>
    long Restarts { get; }

    /// <summary>Calls that failed between the server and a worker: refused, reset, a malformed answer, a timeout.</summary>
    long UpstreamErrors { get; }
}
