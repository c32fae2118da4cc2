using System.Diagnostics;
using System.Globalization;
using AotFaas.Execution;
using AotFaas.Shared;

namespace AotFaas.Workers;

/// <summary>Where a worker is in its life.</summary>
internal enum WorkerState
{
    /// <summary>Not running: never started, idle-stopped or stopped by the drain.</summary>
    Stopped,

    /// <summary>Started (or about to be), not ready yet.</summary>
    Starting,

    /// <summary>Ready for calls.</summary>
    Ready,

    /// <summary>Its last start failed (it exited, or was not ready in time): waiting to try again.</summary>
    Failed,
}

/// <summary>
/// One replica of a <c>mode: http</c> function: its program, started in a process group of its own with <c>PORT</c>
/// set to a free loopback port, probed until ready, and supervised: when it exits it is started again (on a new
/// port) after a pause that doubles with each failure in a row, from 100 ms to 30 s, and starts over once a run
/// stayed up for <see cref="StableAfter"/>. Its stdout and stderr go to the log line by line.
/// </summary>
internal sealed partial class Worker(WorkerPool pool, int number)
{
    /// <summary>A run that stayed up this long resets the backoff.</summary>
    public static readonly TimeSpan StableAfter = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(30);

    private readonly Lock _lock = new();
    private CancellationTokenSource? _life;
    private Task _supervision = Task.CompletedTask;
    private ChildProcess? _process;
    private int _inflight;
    private int _timeoutsInRow;

    /// <summary>Its number among the function's replicas, from 1.</summary>
    public int Number { get; } = number;

    /// <summary>The port it listens on (valid while it is <see cref="WorkerState.Starting"/> or <see cref="WorkerState.Ready"/>).</summary>
    public int Port { get; private set; }

    public WorkerState State { get; private set; }

    /// <summary>Why its last start failed, for a 503 while none is ready.</summary>
    public string? LastFailure { get; private set; }

    /// <summary>Calls it is answering now.</summary>
    public int Inflight => Volatile.Read(ref _inflight);

    /// <summary>Starts it, and keeps it running until <see cref="StopAsync"/>; nothing when it runs already.</summary>
    public void Start()
    {
        lock (_lock)
        {
            if (_life is not null)
            {
                return;
            }

            _life = new CancellationTokenSource();
            State = WorkerState.Starting;
            Task previous = _supervision;
            CancellationToken stop = _life.Token;
            _supervision = Task.Run(async () =>
            {
                // An idle stop still under way finishes first: one program per replica at a time.
                await previous.ConfigureAwait(false);
                await SuperviseAsync(stop).ConfigureAwait(false);
            });
        }
    }

    /// <summary>Stops it: SIGTERM to its process group, SIGKILL after <paramref name="killGrace"/>; returns once it is reaped.</summary>
    public async Task StopAsync(TimeSpan killGrace)
    {
        CancellationTokenSource? life;
        Task supervision;
        lock (_lock)
        {
            (life, _life) = (_life, null);
            supervision = _supervision;
        }

        if (life is null)
        {
            await supervision.ConfigureAwait(false);
            return;
        }

        life.Cancel();
        await EndProcessAsync(killGrace).ConfigureAwait(false);
        await supervision.ConfigureAwait(false);
        life.Dispose();
    }

    /// <summary>Takes a call; the caller gives it back with <see cref="Release"/>.</summary>
    public void Take() => Interlocked.Increment(ref _inflight);

    /// <summary>A call is over; <paramref name="timedOut"/> when the worker did not answer it in time.</summary>
    public void Release(bool timedOut)
    {
        Interlocked.Decrement(ref _inflight);
        if (!timedOut)
        {
            Volatile.Write(ref _timeoutsInRow, 0);
            return;
        }

        if (Interlocked.Increment(ref _timeoutsInRow) == WorkerPool.TimeoutsBeforeRestart)
        {
            Volatile.Write(ref _timeoutsInRow, 0);
            LogUnresponsive(pool.Log, pool.Function, Number, WorkerPool.TimeoutsBeforeRestart);
            _ = EndProcessAsync(pool.KillGrace);
        }
    }

    /// <summary>Ends the program now running, if any: the supervision starts it again unless it is stopping.</summary>
    private async Task EndProcessAsync(TimeSpan killGrace)
    {
        ChildProcess? process = _process;
        if (process is null)
        {
            return;
        }

        process.SignalGroup(Signals.SIGTERM);
        if (await Task.WhenAny(process.Completion, Task.Delay(killGrace)).ConfigureAwait(false) != process.Completion)
        {
            process.SignalGroup(Signals.SIGKILL);
            await process.Completion.ConfigureAwait(false);
        }
    }

    private async Task SuperviseAsync(CancellationToken stop)
    {
        int failuresInRow = 0;
        while (!stop.IsCancellationRequested)
        {
            long started = Stopwatch.GetTimestamp();
            bool wasReady = await RunOnceAsync(stop).ConfigureAwait(false);
            if (stop.IsCancellationRequested)
            {
                break;
            }

            failuresInRow = wasReady && Stopwatch.GetElapsedTime(started) >= StableAfter ? 1 : failuresInRow + 1;
            TimeSpan pause = TimeSpan.FromTicks(Math.Min(FirstPause.Ticks << Math.Min(failuresInRow - 1, 20), LongestPause.Ticks));
            pool.CountRestart();
            SetState(wasReady ? WorkerState.Starting : WorkerState.Failed);
            LogRestarting(pool.Log, pool.Function, Number, (long)pause.TotalMilliseconds);
            try
            {
                await Task.Delay(pause, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            SetState(WorkerState.Starting);
        }

        SetState(WorkerState.Stopped);
    }

    /// <summary>Starts the program, waits for it to be ready, then for it to end; true when it was ready at some point.</summary>
    private async Task<bool> RunOnceAsync(CancellationToken stop)
    {
        Port = ReadyProbe.FreePort();
        string port = Port.ToString(CultureInfo.InvariantCulture);
        if (!pool.Environment.TryWith([new("PORT", port)], out ProcessEnvironment? environment, out string? tooLong))
        {
            LastFailure = tooLong;
            return false;
        }

        long started = Stopwatch.GetTimestamp();
        using (environment)
        {
            ChildProcess process;
            try
            {
                process = ChildProcess.Start(
                    pool.Executable.Name, pool.Arguments, environment!, new WorkerOutput(pool.Log, pool.Function, Number, "stdout"),
                    pool.LogsStderr ? new WorkerOutput(pool.Log, pool.Function, Number, "stderr") : new DiscardedOutput(),
                    pool.WorkDir, resolvedPath: pool.Executable.Resolved, outputGrace: pool.KillGrace, longLived: true);
            }
            catch (SpawnException e)
            {
                LastFailure = e.Message;
                LogStartFailed(pool.Log, pool.Function, Number, e.Message);
                return false;
            }

            // A worker reads its calls from its port; its stdin is at its end from the start.
            process.CloseInput();
            _process = process;
            bool ready = await ReadyProbe.WaitAsync(Port, pool.ReadyPath, process.Completion, pool.StartTimeout, stop).ConfigureAwait(false);
            if (ready)
            {
                LastFailure = null;
                LogReady(pool.Log, pool.Function, Number, process.Id, Port, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                SetState(WorkerState.Ready);
            }
            else if (stop.IsCancellationRequested)
            {
                // Stopped while it started (the stop may have come before the program was known to it).
                await EndProcessAsync(pool.KillGrace).ConfigureAwait(false);
            }
            else if (!process.Completion.IsCompleted)
            {
                LastFailure = $"worker {Number} was not ready within {Quantity.FormatDuration((long)pool.StartTimeout.TotalMilliseconds)}"
                    + (pool.ReadyPath is null ? $" (nothing listened on its port {port})" : $" (GET {pool.ReadyPath} on its port {port} did not answer 2xx)");
                LogNotReady(pool.Log, pool.Function, LastFailure);
                await EndProcessAsync(pool.KillGrace).ConfigureAwait(false);
            }

            ExitStatus status = await process.Completion.ConfigureAwait(false);
            _process = null;
            process.Dispose();
            if (!ready && LastFailure is null)
            {
                LastFailure = $"worker {Number} ended before it was ready: {status}";
            }

            if (stop.IsCancellationRequested)
            {
                LogStopped(pool.Log, pool.Function, Number, process.Id, status.ToString());
            }
            else
            {
                SetState(ready ? WorkerState.Starting : WorkerState.Failed);
                LogExited(pool.Log, pool.Function, Number, process.Id, status.ToString());
            }

            return ready;
        }
    }

    private void SetState(WorkerState state)
    {
        State = state;
        pool.Changed();
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "{Function}[{Worker}] ready: pid {Pid}, port {Port}, {Milliseconds:F1} ms after its start")]
    private static partial void LogReady(ILogger logger, string function, int worker, int pid, int port, double milliseconds);

    [LoggerMessage(EventId = 11, Level = LogLevel.Error, Message = "{Function}[{Worker}] could not be started: {Reason}")]
    private static partial void LogStartFailed(ILogger logger, string function, int worker, string reason);

    [LoggerMessage(EventId = 12, Level = LogLevel.Error, Message = "{Function}: {Reason}; stopping it")]
    private static partial void LogNotReady(ILogger logger, string function, string reason);

    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "{Function}[{Worker}] (pid {Pid}) exited: {Status}")]
    private static partial void LogExited(ILogger logger, string function, int worker, int pid, string status);

    [LoggerMessage(EventId = 14, Level = LogLevel.Information, Message = "{Function}[{Worker}] (pid {Pid}) stopped: {Status}")]
    private static partial void LogStopped(ILogger logger, string function, int worker, int pid, string status);

    [LoggerMessage(EventId = 15, Level = LogLevel.Warning, Message = "{Function}[{Worker}] starts again in {Milliseconds} ms")]
    private static partial void LogRestarting(ILogger logger, string function, int worker, long milliseconds);

    [LoggerMessage(EventId = 16, Level = LogLevel.Warning, Message = "{Function}[{Worker}] did not answer {Calls} calls in a row within the timeout: restarting it")]
    private static partial void LogUnresponsive(ILogger logger, string function, int worker, int calls);

    /// <summary>A stream nobody logs (<c>log-stderr: false</c>): read and dropped, so the worker never blocks on it.</summary>
    private sealed class DiscardedOutput : IOutputSink
    {
        public bool Overflowed => false;

        public unsafe nint ReadFrom(int fd)
        {
            byte* buffer = stackalloc byte[4096];
            return Execution.Native.LibC.read(fd, buffer, 4096);
        }
    }
}
