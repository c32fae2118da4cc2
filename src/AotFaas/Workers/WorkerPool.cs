using System.Diagnostics;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Invokers;
using AotFaas.Shared;

namespace AotFaas.Workers;

/// <summary>
/// The workers of one <c>mode: http</c> function (<c>replicas</c> of them) and the choice of one for each call: the
/// ready worker with the fewest calls in flight. Started by the server's warm-up or the first call; with
/// <c>idle-stop</c>, stopped after that long without a call and started again by the next one, which waits for
/// the first worker ready.
/// </summary>
internal sealed partial class WorkerPool : IWorkerStatus
{
    /// <summary>Calls in a row a worker may leave unanswered within the timeout before it is restarted.</summary>
    public const int TimeoutsBeforeRestart = 3;

    /// <summary>How long a worker may take to be ready when the function's <c>start-timeout</c> does not say.</summary>
    public static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(30);

    private readonly Worker[] _workers;
    private readonly Lock _lock = new();
    private readonly TimeSpan? _idleStop;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Timer? _idleTimer;
    private bool _running;
    private bool _stopped;
    private int _waiting;
    private long _lastCall = System.Environment.TickCount64;
    private long _restarts;
    private long _upstreamErrors;

    public WorkerPool(FunctionPolicy policy, ILogger log)
    {
        Proc proc = policy.Proc;
        Function = proc.FuncName;
        Log = log;
        Executable = new ExecutablePath(proc.Executable, policy.ServerEnvironment("PATH"));
        Arguments = proc.Argv;
        Environment = ProcessEnvironment.ForFunction(proc, policy.ServerEnvironment);
        WorkDir = proc.WorkDir;
        ReadyPath = proc.ReadyPath;
        StartTimeout = proc.StartTimeout ?? DefaultStartTimeout;
        KillGrace = policy.KillGrace;
        LogsStderr = policy.StderrLog is not null;
        _idleStop = proc.IdleStop;
        _workers = new Worker[proc.Replicas ?? 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Worker(this, i + 1);
        }
    }

    public string Function { get; }

    public ILogger Log { get; }

    public ExecutablePath Executable { get; }

    public IReadOnlyList<string> Arguments { get; }

    public ProcessEnvironment Environment { get; }

    public string? WorkDir { get; }

    public string? ReadyPath { get; }

    public TimeSpan StartTimeout { get; }

    public TimeSpan KillGrace { get; }

    public bool LogsStderr { get; }

    public int Replicas => _workers.Length;

    public int Ready
    {
        get
        {
            int ready = 0;
            foreach (Worker worker in _workers)
            {
                ready += worker.State == WorkerState.Ready ? 1 : 0;
            }

            return ready;
        }
    }

    public long Restarts => Interlocked.Read(ref _restarts);

    public long UpstreamErrors => Interlocked.Read(ref _upstreamErrors);

    /// <summary>Starts every worker, unless they run already or the pool was stopped for good.</summary>
    public void Start()
    {
        lock (_lock)
        {
            if (_running || _stopped)
            {
                return;
            }

            _running = true;
            foreach (Worker worker in _workers)
            {
                worker.Start();
            }

            if (_idleStop is TimeSpan idle && _idleTimer is null)
            {
                TimeSpan period = TimeSpan.FromMilliseconds(Math.Clamp(idle.TotalMilliseconds / 4, 50, 5000));
                _idleTimer = new Timer(static state => ((WorkerPool)state!).CheckIdle(), this, period, period);
            }
        }
    }

    /// <summary>
    /// A ready worker for a call, the one with the fewest in flight; while none is ready (they are starting, after the
    /// server's start, a crash or an idle stop), waits for one up to the start timeout. Or the refusal, 503: none can be
    /// ready (their starts failed, or the server stops), or none was within the start timeout.
    /// </summary>
    public async Task<(Worker? Worker, InvokeResult? Refusal)> AcquireAsync(CancellationToken aborted)
    {
        TimeSpan wait = StartTimeout;
        Interlocked.Increment(ref _waiting);
        Volatile.Write(ref _lastCall, System.Environment.TickCount64);
        try
        {
            Start();
            long deadline = System.Environment.TickCount64 + (long)wait.TotalMilliseconds;
            while (true)
            {
                Task changed = Volatile.Read(ref _changed).Task;
                if (Pick() is Worker worker)
                {
                    return (worker, null);
                }

                if (Volatile.Read(ref _stopped))
                {
                    return (null, InvokeResult.Refusal(StatusCodes.Status503ServiceUnavailable, $"'{Function}' is stopping: its workers take no new calls"));
                }

                if (NoneStarting() is string failure)
                {
                    return (null, InvokeResult.Refusal(StatusCodes.Status503ServiceUnavailable, $"'{Function}' has no worker ready: {failure}", LogLevel.Error));
                }

                long left = deadline - System.Environment.TickCount64;
                if (left <= 0)
                {
                    return (null, InvokeResult.Refusal(StatusCodes.Status503ServiceUnavailable, $"'{Function}' had no worker ready within its start timeout of {Quantity.FormatDuration((long)wait.TotalMilliseconds)}", LogLevel.Error));
                }

                await Task.WhenAny(changed, Task.Delay(TimeSpan.FromMilliseconds(left), aborted)).ConfigureAwait(false);
                aborted.ThrowIfCancellationRequested();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    /// <summary>A call on <paramref name="worker"/> is over.</summary>
    public void Release(Worker worker, bool timedOut, bool failed)
    {
        Volatile.Write(ref _lastCall, System.Environment.TickCount64);
        if (failed)
        {
            Interlocked.Increment(ref _upstreamErrors);
        }

        worker.Release(timedOut);
    }

    /// <summary>Stops every worker for good (the drain, or a reload that replaced the function).</summary>
    public async Task StopAsync(TimeSpan killGrace)
    {
        lock (_lock)
        {
            _stopped = true;
            _running = false;
            _idleTimer?.Dispose();
            _idleTimer = null;
        }

        Changed();
        await Task.WhenAll(_workers.Select(worker => worker.StopAsync(killGrace))).ConfigureAwait(false);
        Environment.Dispose();
    }

    /// <summary>A worker's state changed: callers waiting for one look again.</summary>
    public void Changed() => Interlocked.Exchange(ref _changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public void CountRestart() => Interlocked.Increment(ref _restarts);

    private Worker? Pick()
    {
        Worker? best = null;
        foreach (Worker worker in _workers)
        {
            if (worker.State == WorkerState.Ready && (best is null || worker.Inflight < best.Inflight))
            {
                best = worker;
            }
        }

        best?.Take();
        return best;
    }

    /// <summary>Why no worker can take a call soon, when every one's last start failed; null while one starts.</summary>
    private string? NoneStarting()
    {
        string? failure = null;
        foreach (Worker worker in _workers)
        {
            if (worker.State != WorkerState.Failed)
            {
                return null;
            }

            failure ??= worker.LastFailure;
        }

        return failure ?? "it failed to start";
    }

    private void CheckIdle()
    {
        if (_idleStop is not TimeSpan idle)
        {
            return;
        }

        lock (_lock)
        {
            if (!_running || Volatile.Read(ref _waiting) > 0 || System.Environment.TickCount64 - Volatile.Read(ref _lastCall) < idle.TotalMilliseconds
                || _workers.Any(static worker => worker.Inflight > 0 || worker.State == WorkerState.Starting))
            {
                return;
            }

            // Under the lock: a call that comes now starts them again only after this stop took their lives.
            _running = false;
            LogIdleStop(Log, Function, Quantity.FormatDuration((long)idle.TotalMilliseconds));
            foreach (Worker worker in _workers)
            {
                _ = worker.StopAsync(KillGrace);
            }
        }
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "{Function}: no call for {IdleStop}: stopping its workers until the next one")]
    private static partial void LogIdleStop(ILogger logger, string function, string idleStop);
}
