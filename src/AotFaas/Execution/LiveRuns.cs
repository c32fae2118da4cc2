using System.Collections.Concurrent;

namespace AotFaas.Execution;

/// <summary>
/// Every run whose program has been started and not yet reaped. The server's drain waits on it and ends
/// what is left; the <see cref="OrphanReaper"/> asks it whether an orphan may still belong to a running run.
/// </summary>
public static class LiveRuns
{
    private static readonly ConcurrentDictionary<int, RunWatch> Runs = new();

    /// <summary>How many runs are alive (started, not yet reaped).</summary>
    public static int Count => Runs.Count;

    /// <summary>Sends <paramref name="signal"/> to the process group of every run not yet reaped.</summary>
    public static void SignalAll(int signal)
    {
        foreach (RunWatch watch in Runs.Values)
        {
            watch.SignalGroup(signal);
        }
    }

    /// <summary>
    /// True when a run that started at or before <paramref name="startTicks"/> (<see cref="BootClock"/> ticks) has
    /// not been reaped yet, so a process started then may be one of its descendants.
    /// </summary>
    internal static bool AnyStartedBy(long startTicks)
    {
        foreach (RunWatch watch in Runs.Values)
        {
            if (watch.StartTicks <= startTicks)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when <paramref name="pid"/> is a run's program not yet reaped.</summary>
    internal static bool Contains(int pid) => Runs.ContainsKey(pid);

    internal static void Add(int pid, RunWatch watch) => Runs[pid] = watch;

    internal static void Remove(int pid) => Runs.TryRemove(pid, out _);
}
