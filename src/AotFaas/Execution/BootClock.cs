using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>
/// Time since boot in clock ticks (USER_HZ, 100 a second on Linux), the unit and clock of the start time
/// in <c>/proc/PID/stat</c>, so that when a run started and when some process started can be compared.
/// </summary>
internal static unsafe class BootClock
{
    /// <summary>Ticks per second of <c>/proc/PID/stat</c>'s start time: USER_HZ, fixed at 100 for user space.</summary>
    public const long TicksPerSecond = 100;

    /// <summary>Now, in ticks since boot, rounded down (never later than a process started now reads).</summary>
    public static long Ticks()
    {
        LibC.TimeSpec now;
        LibC.clock_gettime(LibC.CLOCK_BOOTTIME, &now);
        return (now.Seconds * TicksPerSecond) + (now.Nanoseconds / (1_000_000_000 / TicksPerSecond));
    }
}
