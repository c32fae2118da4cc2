using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AotFaas.Execution;
using AotFaas.Execution.Native;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace AotFaas.Hosting;

/// <summary>
/// A thread that does, on the other core, the one-time work the first request would otherwise do on its path
/// (<see cref="FunctionRunner.WarmUp"/>: the thread pool, the I/O loop, the runtime's timer), started as soon as the
/// command line is read, so it runs while the main thread sets up the server; last the work handed to it by
/// <see cref="Then"/> once the server exists (its functions' routes).
/// </summary>
/// <remarks>
/// The thread is a native one (pthread_create) that the runtime takes on when it first runs managed code: Native AOT's
/// <see cref="Thread.Start()"/> makes its caller spin in sched_yield until the new thread has started and attached to
/// the runtime, which took the main thread ~0.1 ms before the server listened (perf samples, issue 16).
/// </remarks>
public sealed unsafe class StartupWarmUp
{
    private readonly TaskCompletionSource<Action> _then = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private StartupWarmUp()
    {
    }

    /// <summary>Starts the thread.</summary>
    /// <exception cref="InvalidOperationException">No thread could be started.</exception>
    public static StartupWarmUp Start()
    {
        var warmUp = new StartupWarmUp();
        GCHandle handle = GCHandle.Alloc(warmUp);
        nint thread;
        int error = LibC.pthread_create(&thread, null, &Run, GCHandle.ToIntPtr(handle));
        if (error != 0)
        {
            handle.Free();
            throw new InvalidOperationException($"cannot start the warm-up thread (errno {error})");
        }

        _ = LibC.pthread_detach(thread);
        return warmUp;
    }

    /// <summary>Runs <paramref name="work"/> on the thread once its own warm-up is done (once: later calls are ignored).</summary>
    public void Then(Action work) => _then.TrySetResult(work);

    [UnmanagedCallersOnly]
    private static nint Run(nint argument)
    {
        GCHandle handle = GCHandle.FromIntPtr(argument);
        var self = (StartupWarmUp)handle.Target!;
        handle.Free();
        try
        {
            Thread.CurrentThread.Name = "aotfaas warm-up";

            // The runtime's type loader sets itself up on the first call of a generic virtual method (~0.1 ms in perf
            // samples), which Kestrel's constructor makes on the main thread soon after this thread starts
            // (IFeatureCollection.Set<T>): made here first.
            IFeatureCollection features = new FeatureCollection();
            features.Set<IServerAddressesFeature>(null);

            // The socket classes' own set-up (class constructors: protocol support, the async engine), which Kestrel's
            // bind would otherwise do on the main thread when it takes the sockets bound early (PreboundSockets).
            new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp).Dispose();
            FunctionRunner.WarmUp();
            self._then.Task.Wait();
            self._then.Task.Result();
        }
        catch (Exception e)
        {
            // An exception must not leave a method the runtime was called into from C (the process would end): what
            // failed here fails again, with its own error, where the server needs it.
            Console.Error.WriteLine($"aotfaas: warm-up: {e.GetType().Name}: {e.Message}");
        }

        return 0;
    }
}
