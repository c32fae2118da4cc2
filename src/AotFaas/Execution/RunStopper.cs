using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>
/// Stops a run once, for the first reason given: SIGTERM to its whole process group, then SIGKILL
/// after the grace period (a deadline, a client gone); or SIGKILL at once (output over its limit, or
/// output that cannot be kept). Signals reach the group only while its leader is not yet reaped
/// (<see cref="ChildProcess.SignalGroup"/>), so a late timer can never hit a process that reused the pid.
/// </summary>
internal sealed class RunStopper(ChildProcess child, TimeSpan grace, OutputBuffer stdout) : IDisposable
{
    private const int TimedOutReason = 1;
    private const int OutputTooLargeReason = 2;
    private const int AbandonedReason = 3;
    private const int SpillFailedReason = 4;

    private readonly TaskCompletionSource _timedOut = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _reason;
    private Timer? _kill;

    /// <summary>The first reason the run was stopped for, or null.</summary>
    public RunOutcome? Reason => Volatile.Read(ref _reason) switch
    {
        TimedOutReason => RunOutcome.TimedOut,
        OutputTooLargeReason => RunOutcome.OutputTooLarge,
        SpillFailedReason => RunOutcome.SpillFailed,
        _ => null,
    };

    /// <summary>Completes when the deadline stops the run.</summary>
    public Task TimedOut => _timedOut.Task;

    public void TimeOut()
    {
        if (Stop(TimedOutReason, LibC.SIGTERM))
        {
            _timedOut.TrySetResult();
        }
    }

    /// <summary>Stdout passed its limit, or its temporary file could not take more: SIGKILL at once.</summary>
    public void OutputTrouble() => Stop(stdout.SpillError is not null ? SpillFailedReason : OutputTooLargeReason, LibC.SIGKILL);

    /// <summary>The client went away: stop the run, no reason to report.</summary>
    public void Abandon() => Stop(AbandonedReason, LibC.SIGTERM);

    public void Dispose()
    {
        lock (_timedOut)
        {
            _kill?.Dispose();
            _kill = null;
            _reason = _reason == 0 ? -1 : _reason;
        }
    }

    private bool Stop(int reason, int signal)
    {
        lock (_timedOut)
        {
            if (_reason != 0)
            {
                return false;
            }

            _reason = reason;
            child.SignalGroup(signal);
            if (signal != LibC.SIGKILL)
            {
                _kill = new Timer(static state => ((ChildProcess)state!).SignalGroup(LibC.SIGKILL), child, grace, System.Threading.Timeout.InfiniteTimeSpan);
            }

            return true;
        }
    }
}
