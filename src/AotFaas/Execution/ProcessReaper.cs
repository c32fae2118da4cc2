using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>
/// Collects the exit status of the children this server spawned, without a thread per child:
/// each child gets a pidfd (Linux 5.3+), one background thread waits on all of them in epoll and
/// reaps a child with <c>waitpid</c> as soon as its pidfd turns readable. Only the pids it was given
/// are reaped, so children started by other code in the process are left alone. Where pidfds are not
/// available the child is reaped by a blocking <c>waitpid</c> on a thread of its own.
/// </summary>
internal sealed unsafe class ProcessReaper
{
    private const int MaxEvents = 64;

    private static readonly Lazy<ProcessReaper> LazyInstance = new(() => new ProcessReaper());

    // struct epoll_event is packed on x86-64 (12 bytes) and naturally aligned elsewhere (16 bytes).
    private static readonly bool PackedEvents = RuntimeInformation.ProcessArchitecture == Architecture.X64;
    private static readonly int EventSize = PackedEvents ? 12 : 16;
    private static readonly int DataOffset = PackedEvents ? 4 : 8;

    private readonly int _epoll;
    private readonly ConcurrentDictionary<int, Waiter> _waiters = new();

    private ProcessReaper()
    {
        _epoll = LibC.epoll_create1(LibC.EPOLL_CLOEXEC);
        if (_epoll >= 0)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = "aotfaas reaper" };
            thread.UnsafeStart();
        }
    }

    public static ProcessReaper Instance => LazyInstance.Value;

    /// <summary>Completes when child <paramref name="pid"/> has exited and been reaped.</summary>
    public Task<ExitStatus> WaitForExitAsync(int pid)
    {
        int pidfd = _epoll < 0 ? -1 : (int)LibC.syscall(LibC.SYS_pidfd_open, pid, 0);
        if (pidfd < 0)
        {
            return Task.Factory.StartNew(static state => Reap((int)state!), pid, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        var waiter = new Waiter(pid);
        _waiters[pidfd] = waiter;

        byte* ev = stackalloc byte[16];
        Unsafe.WriteUnaligned(ev, LibC.EPOLLIN | LibC.EPOLLONESHOT);
        Unsafe.WriteUnaligned(ev + DataOffset, (ulong)pidfd);
        if (LibC.epoll_ctl(_epoll, LibC.EPOLL_CTL_ADD, pidfd, ev) != 0)
        {
            _waiters.TryRemove(pidfd, out _);
            LibC.close(pidfd);
            return Task.Factory.StartNew(static state => Reap((int)state!), pid, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        return waiter.Task;
    }

    /// <summary>Waits for <paramref name="pid"/> and decodes its status.</summary>
    private static ExitStatus Reap(int pid)
    {
        int status;
        int result;
        do
        {
            result = LibC.waitpid(pid, &status, 0);
        }
        while (result < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR);

        // ECHILD: something else reaped it (e.g. the runtime, when the server was started with SIGCHLD ignored).
        return result < 0 ? ExitStatus.Lost : ExitStatus.FromWaitStatus(status);
    }

    private void Loop()
    {
        byte* events = stackalloc byte[MaxEvents * 16];
        while (true)
        {
            int count = LibC.epoll_wait(_epoll, events, MaxEvents, -1);
            if (count < 0)
            {
                if (Marshal.GetLastPInvokeError() == LibC.EINTR)
                {
                    continue;
                }

                Environment.FailFast("aotfaas: epoll_wait failed in the process reaper: errno " + Marshal.GetLastPInvokeError());
            }

            for (int i = 0; i < count; i++)
            {
                int pidfd = (int)Unsafe.ReadUnaligned<ulong>(events + (i * EventSize) + DataOffset);
                if (_waiters.TryRemove(pidfd, out Waiter? waiter))
                {
                    ExitStatus status = Reap(waiter.Pid);
                    LibC.close(pidfd);
                    waiter.TrySetResult(status);
                }
            }
        }
    }

    private sealed class Waiter(int pid) : TaskCompletionSource<ExitStatus>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public int Pid { get; } = pid;
    }
}
