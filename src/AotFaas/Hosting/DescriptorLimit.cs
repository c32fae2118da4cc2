using System.Runtime.InteropServices;

namespace AotFaas.Hosting;

/// <summary>
/// The process's limit on open descriptors (<c>RLIMIT_NOFILE</c>), which bounds connections and runs
/// together. The soft limit is raised to the hard one at start, as Go's runtime does: the soft
/// default of many systems (1024) is there for programs that use <c>select(2)</c>, which this one does not.
/// </summary>
public static partial class DescriptorLimit
{
    private const int RLIMIT_NOFILE = 7;

    /// <summary>Raises the soft limit to the hard one; returns the soft limit in force afterwards (as it was, if raising failed).</summary>
    public static long RaiseSoftToHard()
    {
        if (GetRLimit(RLIMIT_NOFILE, out RLimit limit) != 0)
        {
            return long.MaxValue;
        }

        if (limit.Current < limit.Maximum)
        {
            var raised = new RLimit { Current = limit.Maximum, Maximum = limit.Maximum };
            if (SetRLimit(RLIMIT_NOFILE, raised) == 0)
            {
                return Clamp(raised.Current);
            }
        }

        return Clamp(limit.Current);
    }

    /// <summary>The soft limit in force (<see cref="long.MaxValue"/> when unlimited or unknown).</summary>
    public static long Current => GetRLimit(RLIMIT_NOFILE, out RLimit limit) == 0 ? Clamp(limit.Current) : long.MaxValue;

    // RLIM_INFINITY is all ones.
    private static long Clamp(ulong value) => value > long.MaxValue ? long.MaxValue : (long)value;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit")]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit")]
    private static partial int SetRLimit(int resource, in RLimit limit);
}
