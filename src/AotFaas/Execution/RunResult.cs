namespace AotFaas.Execution;

/// <summary>Why a run ended.</summary>
public enum RunOutcome
{
    /// <summary>The program ended by itself (exit code or signal in <see cref="RunResult.Status"/>).</summary>
    Ended,

    /// <summary>The run hit its deadline and was stopped: 504.</summary>
    TimedOut,

    /// <summary>Stdout passed <c>max-output</c> and the run was killed: 502.</summary>
    OutputTooLarge,
}

/// <summary>The outcome of one run: why and how the program ended and what it wrote. Dispose frees the buffers.</summary>
public sealed class RunResult(RunOutcome outcome, ExitStatus status, OutputBuffer stdout, OutputBuffer stderr) : IDisposable
{
    public RunOutcome Outcome { get; } = outcome;

    public ExitStatus Status { get; } = status;

    public OutputBuffer Stdout { get; } = stdout;

    public OutputBuffer Stderr { get; } = stderr;

    /// <summary>True when the program ended by itself with exit code 0.</summary>
    /// <summary>Bytes of input read from the request (written to stdin, or dropped once the program stopped reading).</summary>
    public long InputBytes { get; init; }

    public bool IsSuccess => Outcome == RunOutcome.Ended && Status.IsSuccess;

    public void Dispose()
    {
        Stdout.Dispose();
        Stderr.Dispose();
    }
}
