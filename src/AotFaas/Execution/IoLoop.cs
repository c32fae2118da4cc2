using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>
/// One thread and one epoll instance that serve every running function: they read the programs'
/// stdout and stderr into their buffers the moment data arrives, notice exits through pidfds, and
/// wake writers waiting for room in a stdin pipe. Reads happen on this thread, inline, so a run
/// costs no task, stream or thread-pool hop per read; only its completion goes to the thread pool.
/// Descriptors are registered by number, and a number is only reused after its watch is removed.
/// </summary>
internal sealed unsafe class IoLoop
{
    private const int MaxEvents = 64;

    private static readonly Lazy<IoLoop> LazyInstance = new(() => new IoLoop());

    // struct epoll_event is packed on x86-64 (12 bytes) and naturally aligned elsewhere (16 bytes).
    private static readonly bool PackedEvents = RuntimeInformation.ProcessArchitecture == Architecture.X64;
    private static readonly int EventSize = PackedEvents ? 12 : 16;
    private static readonly int DataOffset = PackedEvents ? 4 : 8;

    private readonly int _epoll;
    private readonly ConcurrentDictionary<int, IoWatch> _watches = new();

    private IoLoop()
    {
        _epoll = LibC.epoll_create1(LibC.EPOLL_CLOEXEC);
        if (_epoll < 0)
        {
            throw new IOException("epoll_create1 failed: " + Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        }

        var thread = new Thread(Run) { IsBackground = true, Name = "aotfaas io" };
        thread.UnsafeStart();
    }

    public static IoLoop Instance => LazyInstance.Value;

    /// <summary>Starts watching <paramref name="fd"/> for <paramref name="events"/>; false if the kernel refused.</summary>
    public bool Add(int fd, uint events, IoWatch watch)
    {
        _watches[fd] = watch;
        if (Control(LibC.EPOLL_CTL_ADD, fd, events))
        {
            return true;
        }

        _watches.TryRemove(fd, out _);
        return false;
    }

    /// <summary>Changes the events of a watched descriptor (re-arms a one-shot watch).</summary>
    public bool Modify(int fd, uint events) => Control(LibC.EPOLL_CTL_MOD, fd, events);

    /// <summary>Stops watching <paramref name="fd"/>; call before closing it.</summary>
    public void Remove(int fd)
    {
        LibC.epoll_ctl(_epoll, LibC.EPOLL_CTL_DEL, fd, null);
        _watches.TryRemove(fd, out _);
    }

    private bool Control(int operation, int fd, uint events)
    {
        byte* ev = stackalloc byte[16];
        Unsafe.WriteUnaligned(ev, events);
        Unsafe.WriteUnaligned(ev + DataOffset, (ulong)fd);
        return LibC.epoll_ctl(_epoll, operation, fd, ev) == 0;
    }

    private void Run()
    {
        byte* events = stackalloc byte[MaxEvents * 16];
        while (true)
        {
            int count = LibC.epoll_wait(_epoll, events, MaxEvents, -1);
            if (count < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == LibC.EINTR)
                {
                    continue;
                }

                Environment.FailFast("aotfaas: epoll_wait failed in the I/O loop: " + Marshal.GetPInvokeErrorMessage(errno));
            }

            for (int i = 0; i < count; i++)
            {
                byte* ev = events + (i * EventSize);
                int fd = (int)Unsafe.ReadUnaligned<ulong>(ev + DataOffset);
                if (_watches.TryGetValue(fd, out IoWatch? watch))
                {
                    watch.OnReady(fd, Unsafe.ReadUnaligned<uint>(ev));
                }
            }
        }
    }
}

/// <summary>Something the <see cref="IoLoop"/> calls, on its thread, when a descriptor is ready.</summary>
internal abstract class IoWatch
{
    /// <summary>Handles readiness of <paramref name="fd"/>; must not block.</summary>
    public abstract void OnReady(int fd, uint events);
}
