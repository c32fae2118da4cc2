using System.Globalization;
using AotFaas.Execution.Native;

namespace AotFaas.Async;

/// <summary>
/// Who runs a call: this process, as its pid and start time (<c>4711:123456789</c>), so that a call marked running by a
/// server that is gone (killed, crashed) can be told from one a live server runs, even when the pid was reused.
/// </summary>
internal static class CallOwner
{
    /// <summary>This process.</summary>
    public static string Self { get; } = Of(Environment.ProcessId) ?? Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

    /// <summary>Whether <paramref name="owner"/> is a process still running (a call without an owner has none).</summary>
    public static bool IsAlive(string? owner)
        => owner is not null && int.TryParse(owner.AsSpan(0, Math.Max(0, owner.IndexOf(':'))), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
            && Of(pid) == owner;

    private static string? Of(int pid)
        => ProcStat.TryRead(pid, out _, out _, out long started) ? $"{pid.ToString(CultureInfo.InvariantCulture)}:{started.ToString(CultureInfo.InvariantCulture)}" : null;
}
