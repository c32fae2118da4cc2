using AotFaas.Execution;

namespace AotFaas.Hosting;

/// <summary>
/// A thread that does, on the other core, the one-time work the first request would otherwise do on its path
/// (<see cref="FunctionRunner.WarmUp"/>: the thread pool, the I/O loop, the runtime's timer), started as soon as the
/// command line is read, so it runs while the main thread sets up the server; then the work handed to it by
/// <see cref="Then"/> once the server exists (its functions' routes).
/// </summary>
public sealed class StartupWarmUp
{
    private readonly TaskCompletionSource<Action> _then = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private StartupWarmUp()
    {
    }

    /// <summary>Starts the thread.</summary>
    public static StartupWarmUp Start()
    {
        var warmUp = new StartupWarmUp();
        var thread = new Thread(static state =>
        {
            var self = (StartupWarmUp)state!;
            FunctionRunner.WarmUp();
            self._then.Task.Wait();
            self._then.Task.Result();
        })
        {
            IsBackground = true,
            Name = "aotfaas warm-up",
        };
        thread.UnsafeStart(warmUp);
        return warmUp;
    }

    /// <summary>Runs <paramref name="work"/> on the thread once its own warm-up is done (once: later calls are ignored).</summary>
    public void Then(Action work) => _then.TrySetResult(work);
}
