using AotFaas.Functions;

namespace AotFaas.Execution;

/// <summary>Why a run ended.</summary>
public enum RunOutcome
{
    /// <summary>The program ended by itself (exit code or signal in <see cref="RunResult.Status"/>).</summary>
    Ended,

    /// <summary>The run hit its deadline and is being stopped: 504, answered at once.</summary>
    TimedOut,

    /// <summary>Stdout passed <c>max-output</c> and the run was killed: 502.</summary>
    OutputTooLarge,

    /// <summary>Stdout could not be kept (its temporary file failed, e.g. a full disk) and the run was killed: 500.</summary>
    SpillFailed,
}

/// <summary>
/// One run, from the moment its outcome is known: why and how the program ended and what it wrote.
/// A timed-out run is reported at its deadline, before the program is gone: <see cref="Ended"/> says
/// when it is. <see cref="DisposeAsync"/> waits for that, then frees the buffers and the process handle.
/// </summary>
public sealed class RunResult : IAsyncDisposable
{
    private readonly ChildProcess _child;
    private readonly IDisposable[] _owned;
    private readonly FunctionPolicy _policy;
    private readonly string _requestId;
    private int _disposed;

    internal RunResult(RunOutcome outcome, ChildProcess child, OutputBuffer stdout, OutputBuffer stderr, long inputBytes, IDisposable[] owned, FunctionPolicy policy, string requestId)
    {
        Outcome = outcome;
        _child = child;
        Stdout = stdout;
        Stderr = stderr;
        InputBytes = inputBytes;
        _owned = owned;
        _policy = policy;
        _requestId = requestId;
    }

    public RunOutcome Outcome { get; }

    /// <summary>Completes with the exit status once the program has been reaped and its output pipes are closed.</summary>
    public Task<ExitStatus> Ended => _child.Completion;

    /// <summary>How the program ended; valid once <see cref="Ended"/> has completed (always, unless <see cref="RunOutcome.TimedOut"/>).</summary>
    public ExitStatus Status => _child.Completion.Result;

    /// <summary>True when a process that left the run's group held its stdout or stderr open, and the server closed its ends.</summary>
    public bool OutputAbandoned => _child.OutputAbandoned;

    public OutputBuffer Stdout { get; }

    public OutputBuffer Stderr { get; }

    /// <summary>Bytes of input read from the request (written to stdin, or dropped once the program stopped reading).</summary>
    public long InputBytes { get; }

    /// <summary>True when the program ended by itself with exit code 0.</summary>
    public bool IsSuccess => Outcome == RunOutcome.Ended && Status.IsSuccess;

    /// <summary>
    /// Waits until the program is gone (bounded: it has been signalled, and its pipes have a grace), logs its stderr
    /// (<see cref="StderrLog"/>: after the response, whichever way the run ended), then frees everything.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _child.Completion.ConfigureAwait(false);
        try
        {
            if (_policy.StderrLog is ILogger log && Stderr.Length > 0)
            {
                // A failed run's stderr says why it failed: a warning, as the failure is; a successful one's is information.
                StderrLog.Write(log, IsSuccess ? LogLevel.Information : LogLevel.Warning, _policy.Proc.FuncName, _requestId, Stderr);
            }
        }
        finally
        {
            foreach (IDisposable owned in _owned)
            {
                owned.Dispose();
            }

            _child.Dispose();
            Stdout.Dispose();
            Stderr.Dispose();
        }
    }
}
