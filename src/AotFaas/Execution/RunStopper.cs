using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>
/// Stops a run once, for the first reason given: SIGTERM to its whole process group, then SIGKILL
/// after the grace period (a deadline, a client gone); or SIGKILL at once (output over its limit).
/// </summary>
internal sealed class RunStopper(ChildProcess child, TimeSpan grace) : IDisposable
{
    private int _reason;
    private Timer? _kill;

    /// <summary>The first reason the run was stopped for, or null.</summary>
    public RunOutcome? Reason => Volatile.Read(ref _reason) switch
    {
        1 => RunOutcome.TimedOut,
        2 => RunOutcome.OutputTooLarge,
        _ => null,
    };

    public void TimeOut() => Stop(1, LibC.SIGTERM);

    public void OutputTooLarge() => Stop(2, LibC.SIGKILL);

    /// <summary>The client went away: stop the run, no reason to report.</summary>
    public void Abandon() => Stop(3, LibC.SIGTERM);

    public void Dispose() => _kill?.Dispose();

    private void Stop(int reason, int signal)
    {
        if (Interlocked.CompareExchange(ref _reason, reason, 0) != 0)
        {
            return;
        }

        child.SignalGroup(signal);
        if (signal != LibC.SIGKILL)
        {
            _kill = new Timer(static state => ((ChildProcess)state!).SignalGroup(LibC.SIGKILL), child, grace, System.Threading.Timeout.InfiniteTimeSpan);
        }
    }
}
