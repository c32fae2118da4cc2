using AotFaas.Execution;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

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

    /// <summary>Starts the thread, which does <paramref name="first"/> first (binding the addresses, <see cref="PreboundSockets"/>).</summary>
    public static StartupWarmUp Start(Action? first = null)
    {
        var warmUp = new StartupWarmUp();
        var thread = new Thread(state =>
        {
            var self = (StartupWarmUp)state!;

            // The runtime's type loader sets itself up on the first call of a generic virtual method (~0.1 ms in perf
            // samples), which Kestrel's constructor makes on the main thread soon after this thread starts
            // (IFeatureCollection.Set<T>): made here first, before the binding, which Kestrel needs only later.
            IFeatureCollection features = new FeatureCollection();
            features.Set<IServerAddressesFeature>(null);
            first?.Invoke();
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
