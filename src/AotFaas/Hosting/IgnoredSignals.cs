using System.Runtime.InteropServices;

namespace AotFaas.Hosting;

/// <summary>
/// The signals an operator or a supervisor sends by habit whose default action would end the server
/// at once, with no drain and its runs left behind: the server logs each one and carries on.
/// </summary>
public static class IgnoredSignals
{
    // Linux numbers, the same on x86-64 and arm64: PosixSignal names only the portable signals, and
    // PosixSignalRegistration takes a raw number cast to it.
    private const int SIGUSR1 = 10;
    private const int SIGUSR2 = 12;
    private const int SIGALRM = 14;
    private const int SIGSTKFLT = 16;
    private const int SIGVTALRM = 26;
    private const int SIGPROF = 27;
    private const int SIGIO = 29;

    /// <summary>
    /// SIGUSR1, SIGUSR2, SIGALRM, and the timers' and I/O's signals
    /// that nothing in this server uses (SIGVTALRM, SIGPROF, SIGIO, SIGSTKFLT), whose default also ends a process.
    /// </summary>
    public static IReadOnlyList<PosixSignal> All { get; } =
        [(PosixSignal)SIGUSR1, (PosixSignal)SIGUSR2, (PosixSignal)SIGALRM, (PosixSignal)SIGVTALRM, (PosixSignal)SIGPROF, (PosixSignal)SIGIO, (PosixSignal)SIGSTKFLT];

    /// <summary>The warning logged when <paramref name="signal"/> arrives.</summary>
    public static string Message(PosixSignal signal) => signal switch
    {
        (PosixSignal)SIGUSR1 => "SIGUSR1: not used by this server: ignored",
        (PosixSignal)SIGUSR2 => "SIGUSR2: not used by this server: ignored",
        (PosixSignal)SIGALRM => "SIGALRM: not used by this server: ignored",
        (PosixSignal)SIGVTALRM => "SIGVTALRM: not used by this server: ignored",
        (PosixSignal)SIGPROF => "SIGPROF: not used by this server: ignored",
        (PosixSignal)SIGIO => "SIGIO: not used by this server: ignored",
        (PosixSignal)SIGSTKFLT => "SIGSTKFLT: not used by this server: ignored",
        _ => $"signal {(int)signal}: ignored",
    };
}
