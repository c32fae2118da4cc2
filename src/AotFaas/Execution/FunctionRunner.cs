using System.Buffers;
using System.IO.Pipelines;
using AotFaas.Execution.Native;
using AotFaas.Functions;

namespace AotFaas.Execution;

/// <summary>
/// Runs a function's program once: the input is pumped into its stdin while stdout and stderr are
/// read at the same time, so no pipe can fill up and stall the others. A program that stops reading
/// its input early is normal; a failure of the input itself (the client went away, a bad request body)
/// kills the program's whole process group and is rethrown once it has been reaped.
/// </summary>
public sealed class FunctionRunner(ProcessEnvironment environment)
{
    /// <summary>Runs <paramref name="proc"/> with <paramref name="input"/> as its stdin.</summary>
    /// <exception cref="SpawnException">The program could not be started.</exception>
    public async Task<RunResult> RunAsync(Proc proc, PipeReader input, CancellationToken cancellationToken)
    {
        using ChildProcess child = ChildProcess.Start(proc.Executable, proc.Argv, environment);
        var stdout = new OutputBuffer();
        var stderr = new OutputBuffer();
        using var stopInput = new CancellationTokenSource();
        var pump = new InputPump(child);
        try
        {
            Task pumping = pump.RunAsync(input, stopInput.Token);
            Task<ExitStatus> exited;
            using (cancellationToken.Register(static state => ((ChildProcess)state!).SignalGroup(LibC.SIGKILL), child))
            {
                await Task.WhenAll(
                    stdout.FillAsync(child.StandardOutput, CancellationToken.None),
                    stderr.FillAsync(child.StandardError, CancellationToken.None)).ConfigureAwait(false);
                exited = child.Exited;
                await exited.ConfigureAwait(false);
            }

            // The program is gone: whatever input is still on its way has nowhere to go.
            await stopInput.CancelAsync().ConfigureAwait(false);
            await pumping.ConfigureAwait(false);
            pump.ThrowIfInputFailed();
            cancellationToken.ThrowIfCancellationRequested();
            return new RunResult(exited.Result, stdout, stderr);
        }
        catch
        {
            child.SignalGroup(LibC.SIGKILL);
            await child.Exited.ConfigureAwait(false);
            stdout.Dispose();
            stderr.Dispose();
            throw;
        }
    }

    /// <summary>Copies the input into the program's stdin and closes it at the end of the input.</summary>
    private sealed class InputPump(ChildProcess child)
    {
        private Exception? _inputFailure;

        public async Task RunAsync(PipeReader input, CancellationToken stop)
        {
            Stream stdin = child.StandardInput;
            try
            {
                while (true)
                {
                    ReadResult read;
                    try
                    {
                        read = await input.ReadAsync(stop).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested)
                    {
                        return;
                    }
                    catch (Exception e)
                    {
                        // The request body failed (client gone, body too large): nothing sensible can come of this run.
                        _inputFailure = e;
                        child.SignalGroup(LibC.SIGKILL);
                        return;
                    }

                    ReadOnlySequence<byte> buffer = read.Buffer;
                    bool programReads = await WriteAsync(stdin, buffer, stop).ConfigureAwait(false);
                    input.AdvanceTo(buffer.End);
                    if (!programReads || read.IsCompleted || read.IsCanceled)
                    {
                        return;
                    }
                }
            }
            finally
            {
                // End of input for the program.
                stdin.Dispose();
            }
        }

        public void ThrowIfInputFailed()
        {
            if (_inputFailure is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_inputFailure);
            }
        }

        /// <summary>Writes to stdin; false when the program no longer reads it (closed its end, or exited).</summary>
        private static async ValueTask<bool> WriteAsync(Stream stdin, ReadOnlySequence<byte> buffer, CancellationToken stop)
        {
            try
            {
                foreach (ReadOnlyMemory<byte> segment in buffer)
                {
                    await stdin.WriteAsync(segment, stop).ConfigureAwait(false);
                }

                return true;
            }
            catch (IOException)
            {
                return false;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return false;
            }
        }
    }
}
