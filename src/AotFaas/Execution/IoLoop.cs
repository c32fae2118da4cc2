using System.Collections.Concurrent;
using System.Diagnostics;
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
/// Timers set on this thread (<see cref="After"/>) fire on it too, so a watch never races itself.
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

    // Only the loop's thread touches the timers: no lock, and a timer's watch runs where its descriptors are read.
    private readonly PriorityQueue<IoWatch, long> _timers = new();
    private Thread? _thread;

    private IoLoop()
    {
        _epoll = LibC.epoll_create1(LibC.EPOLL_CLOEXEC);
        if (_epoll < 0)
        {
            throw new IOException("epoll_create1 failed: " + Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "aotfaas io" };
        _thread.UnsafeStart();
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

    /// <summary>True on the loop's own thread.</summary>
    public bool IsLoopThread => Thread.CurrentThread == _thread;

    /// <summary>
    /// Calls <paramref name="watch"/>'s <see cref="IoWatch.OnTimer"/> on the loop's thread once <paramref name="delay"/>
    /// has passed. Only the loop's thread may set a timer (from <see cref="IoWatch.OnReady"/> or <see cref="IoWatch.OnTimer"/>);
    /// a timer cannot be cancelled, so the watch ignores one that comes after it is done.
    /// </summary>
    public void After(TimeSpan delay, IoWatch watch)
    {
        Debug.Assert(IsLoopThread, "timers are set on the loop's thread");
        _timers.Enqueue(watch, Environment.TickCount64 + (long)Math.Ceiling(delay.TotalMilliseconds));
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
            int count = LibC.epoll_wait(_epoll, events, MaxEvents, NextTimeout());
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

            FireTimers();
        }
    }

    /// <summary>Milliseconds until the next timer is due, or -1 (wait for descriptors only).</summary>
    private int NextTimeout()
    {
        if (!_timers.TryPeek(out _, out long due))
        {
            return -1;
        }

        return (int)Math.Clamp(due - Environment.TickCount64, 0, int.MaxValue);
    }

    private void FireTimers()
    {
        long now = Environment.TickCount64;
        while (_timers.TryPeek(out IoWatch? watch, out long due) && due <= now)
        {
            _timers.Dequeue();
            watch.OnTimer();
        }
    }
}

/// <summary>Something the <see cref="IoLoop"/> calls, on its thread, when a descriptor is ready.</summary>
internal abstract class IoWatch
{
    /// <summary>Handles readiness of <paramref name="fd"/>; must not block.</summary>
    public abstract void OnReady(int fd, uint events);

    /// <summary>A timer set with <see cref="IoLoop.After"/> is due; must not block.</summary>
    public virtual void OnTimer()
    {
    }
}
