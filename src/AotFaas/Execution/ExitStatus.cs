namespace AotFaas.Execution;

/// <summary>How a child process ended: an exit code, or the signal that killed it.</summary>
public readonly record struct ExitStatus
{
    private ExitStatus(int exitCode, int signal, bool lost)
    {
        ExitCode = exitCode;
        Signal = signal;
        IsLost = lost;
    }

    /// <summary>The exit code, when the process exited by itself; otherwise -1.</summary>
    public int ExitCode { get; }

    /// <summary>The number of the signal that killed the process, or 0.</summary>
    public int Signal { get; }

    /// <summary>True when the status could not be collected (something else reaped the child first).</summary>
    public bool IsLost { get; }

    /// <summary>True when the process exited with code 0.</summary>
    public bool IsSuccess => Signal == 0 && ExitCode == 0 && !IsLost;

    public static ExitStatus Exited(int code) => new(code, 0, false);

    public static ExitStatus Killed(int signal) => new(-1, signal, false);

    public static ExitStatus Lost => new(-1, 0, true);

    /// <summary>Decodes a <c>waitpid</c> status word.</summary>
    public static ExitStatus FromWaitStatus(int status)
    {
        int termSignal = status & 0x7F;
        return termSignal == 0 ? Exited((status >> 8) & 0xFF) : Killed(termSignal);
    }

    /// <inheritdoc/>
    public override string ToString() => IsLost
        ? "exit status lost"
        : Signal != 0 ? "killed by " + SignalNames.Name(Signal) : "exit code " + ExitCode;
}
