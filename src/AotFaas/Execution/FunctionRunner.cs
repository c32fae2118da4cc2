using System.Buffers;
using System.IO.Pipelines;
using AotFaas.Execution.Native;
using AotFaas.Functions;
using AotFaas.Invokers;

namespace AotFaas.Execution;

/// <summary>
/// Runs a function's program once: the input is pumped into its stdin while the I/O loop reads
/// stdout and stderr at the same time, so no pipe can fill up and stall the others. A program that
/// stops reading its input early is normal; a failure of the input itself (the client went away, a
/// bad request body) kills the program's whole process group and is rethrown once it has been reaped.
/// </summary>
public static class FunctionRunner
{
    /// <summary>
    /// How long, after the program has ended, the rest of a request body that it did not read may take to
    /// arrive. It is read and dropped so that the client, still sending, gets the response on an intact
    /// connection instead of a reset; past this the response is sent anyway.
    /// </summary>
    public static readonly TimeSpan InputDrainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Starts the I/O loop, the thread pool and the runtime's timer thread, all of which every run needs.</summary>
    public static void WarmUp()
    {
        // In the order a starting server needs them. The thread pool first: Kestrel's accept loop is its first work item
        // otherwise, and the main thread would start its worker and gate threads. Then the runtime's processor-id cache
        // (ArrayPool.Shared, the timers and Kestrel's first formatted string need it), which times sched_getcpu against
        // a thread static in its class constructor, in a loop whose every static access takes the constructor lock
        // (~0.2 ms); a thread that needs it meanwhile waits for it.
        ThreadPool.UnsafeQueueUserWorkItem(static _ => { }, (object?)null, preferLocal: false);
        _ = Thread.GetCurrentProcessorId();
        _ = IoLoop.Instance;
        using var timer = new CancellationTokenSource(TimeSpan.FromDays(1));
    }

    /// <summary>
    /// Runs <paramref name="executable"/> for the function of <paramref name="policy"/> with <paramref name="environment"/>
    /// and <paramref name="input"/> as its stdin, stopping it when <paramref name="timeout"/> passes, its stdout passes
    /// its limit or cannot be kept, or more than its <c>max-body</c> arrives.
    /// Returns once the program has ended, or at the deadline (<see cref="RunOutcome.TimedOut"/>) while it is
    /// being stopped; either way the caller disposes the result, which waits until the program is gone.
    /// </summary>
    /// <remarks>Disposing the result logs the run's stderr under <paramref name="requestId"/> (<see cref="FunctionPolicy.StderrLog"/>).</remarks>
    /// <exception cref="SpawnException">The program could not be started.</exception>
    /// <exception cref="InputTooLargeException">More than <c>max-body</c> bytes of input arrived; the run was killed.</exception>
    public static async Task<RunResult> RunAsync(FunctionPolicy policy, ExecutablePath executable, ProcessEnvironment environment, PipeReader input, TimeSpan timeout, string requestId, CancellationToken cancellationToken)
    {
        var stdout = new OutputBuffer(policy.MaxOutput, RunLimits.StdoutInMemory, policy.TempDirectory);
        var stderr = new OutputBuffer(RunLimits.MaxStderr) { CountsDroppedLines = policy.StderrLog is not null };
        RunStopper? stopper = null;
        ChildProcess child;
        try
        {
            child = Start(policy, executable, environment, stdout, stderr, () => stopper?.OutputTrouble());
        }
        catch
        {
            stdout.Dispose();
            stderr.Dispose();
            throw;
        }

        stopper = new RunStopper(child, policy.KillGrace, stdout);
        if (stdout.Overflowed || stdout.SpillError is not null)
        {
            stopper.OutputTrouble();
        }

        var stopInput = new CancellationTokenSource();
        var pump = new InputPump(child, policy.MaxBody);
        Task pumping = pump.RunAsync(input, stopInput.Token);
        var deadline = new CancellationTokenSource(timeout);
        IDisposable[] owned =
        [
            deadline.Token.UnsafeRegister(static state => ((RunStopper)state!).TimeOut(), stopper),
            cancellationToken.UnsafeRegister(static state => ((RunStopper)state!).Abandon(), stopper),
            deadline,
            stopper,
            stopInput,
        ];

        RunResult Result(RunOutcome outcome) => new(outcome, child, stdout, stderr, pump.Bytes, owned, policy, requestId);
        try
        {
            await Task.WhenAny(child.Completion, stopper.TimedOut).ConfigureAwait(false);
            if (!child.Completion.IsCompleted)
            {
                // The deadline: answered now, whatever the client is still sending; the program is being stopped.
                await StopAsync(stopInput, pumping).ConfigureAwait(false);
                return Result(RunOutcome.TimedOut);
            }

            // The deadline cannot fire any more: the program is gone.
            deadline.Dispose();
            RunOutcome outcome = stopper.Reason ?? RunOutcome.Ended;
            if (!pumping.IsCompleted && outcome != RunOutcome.TimedOut)
            {
                // The rest of the input is drained for a while, then given up on.
                await Task.WhenAny(pumping, Task.Delay(InputDrainTimeout, CancellationToken.None)).ConfigureAwait(false);
            }

            await StopAsync(stopInput, pumping).ConfigureAwait(false);
            if (outcome != RunOutcome.TimedOut)
            {
                pump.ThrowIfInputFailed();
                cancellationToken.ThrowIfCancellationRequested();
            }

            return Result(outcome);
        }
        catch
        {
            child.SignalGroup(LibC.SIGKILL);
            await StopAsync(stopInput, pumping).ConfigureAwait(false);
            await Result(RunOutcome.Ended).DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static ChildProcess Start(FunctionPolicy policy, ExecutablePath executable, ProcessEnvironment environment, OutputBuffer stdout, OutputBuffer stderr, Action onOverflow)
    {
        Proc proc = policy.Proc;
        string? resolved = executable.Resolved;
        try
        {
            return ChildProcess.Start(proc.Executable, proc.Argv, environment, stdout, stderr, proc.WorkDir, onOverflow, resolved, policy.KillGrace);
        }
        catch (SpawnException) when (resolved is not null && resolved != proc.Executable)
        {
            // The file found on PATH earlier is gone or changed: search again.
            executable.Forget();
            return ChildProcess.Start(proc.Executable, proc.Argv, environment, stdout, stderr, proc.WorkDir, onOverflow, executable.Resolved, policy.KillGrace);
        }
    }

    private static async Task StopAsync(CancellationTokenSource stopInput, Task pumping)
    {
        if (!pumping.IsCompleted)
        {
            await stopInput.CancelAsync().ConfigureAwait(false);
            await pumping.ConfigureAwait(false);
        }
    }

    /// <summary>Copies the input into the program's stdin and closes it at the end of the input. Never throws.</summary>
    private sealed class InputPump(ChildProcess child, long maxBytes)
    {
        private Exception? _inputFailure;

        /// <summary>Bytes read from the input so far.</summary>
        public long Bytes { get; private set; }

        public async Task RunAsync(PipeReader input, CancellationToken stop)
        {
            bool programReads = true;
            try
            {
                while (true)
                {
                    ReadResult read;
                    try
                    {
                        // Stopped by cancelling the pending read, not its token: a read cancelled through its token
                        // would leave Kestrel's body reader mid-read, and its drain of the rest would fail.
                        using (stop.UnsafeRegister(static state => ((PipeReader)state!).CancelPendingRead(), input))
                        {
                            read = await input.ReadAsync().ConfigureAwait(false);
                        }
                    }
                    catch (Exception e)
                    {
                        // The request body failed (client gone, body too large): nothing sensible can come of this run.
                        _inputFailure = e;
                        child.SignalGroup(LibC.SIGKILL);
                        return;
                    }

                    if (read.IsCanceled)
                    {
                        input.AdvanceTo(read.Buffer.Start);
                        return;
                    }

                    ReadOnlySequence<byte> buffer = read.Buffer;
                    Bytes += buffer.Length;
                    if (Bytes > maxBytes)
                    {
                        // max-body counts the body's own bytes, whatever its framing (Kestrel's limit would count chunk headers too).
                        _inputFailure = new InputTooLargeException(maxBytes);
                        child.SignalGroup(LibC.SIGKILL);
                        input.AdvanceTo(buffer.End);
                        return;
                    }

                    if (programReads && !await WriteAsync(buffer, stop).ConfigureAwait(false))
                    {
                        // The program stopped reading: normal. Its stdin closes; the rest of the body is read and dropped.
                        programReads = false;
                        child.CloseInput();
                    }

                    input.AdvanceTo(buffer.End);
                    if (read.IsCompleted)
                    {
                        return;
                    }
                }
            }
            finally
            {
                // End of input for the program.
                child.CloseInput();
            }
        }

        public void ThrowIfInputFailed()
        {
            if (_inputFailure is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_inputFailure);
            }
        }

        /// <summary>Writes to stdin; false when the program no longer reads it, or the pump is stopped.</summary>
        private async ValueTask<bool> WriteAsync(ReadOnlySequence<byte> buffer, CancellationToken stop)
        {
            try
            {
                return await child.WriteInputAsync(buffer, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return false;
            }
        }
    }
}
