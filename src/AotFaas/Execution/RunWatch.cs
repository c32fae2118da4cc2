using System.Runtime.InteropServices;
using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>
/// The I/O loop's view of one run: drains stdout and stderr into their buffers, reaps the process
/// when its pidfd turns readable, wakes a writer waiting for room in stdin, and completes
/// <see cref="ChildProcess.Completion"/> when all three of exit, stdout EOF and stderr EOF have happened.
/// A descriptor field is set to -1 the moment it is closed: its number may come straight back
/// from the kernel for another descriptor (even this run's pidfd), and must not be mistaken for it.
/// </summary>
internal sealed unsafe class RunWatch(int pid, long startTicks, int stdout, int stderr, IOutputSink stdoutBuffer, IOutputSink stderrBuffer, Action? onStdoutOverflow, TimeSpan outputGrace) : IoWatch
{
    /// <summary>Reads a descriptor at most this many times an event, so one busy pipe cannot starve the others.</summary>
    private const int MaxReadsPerEvent = 16;

    // Held while the program is reaped and while its group is signalled, so that no signal can follow the reap.
    private readonly Lock _reaping = new();
    private bool _reaped;

    /// <summary>When the run started, in <see cref="BootClock"/> ticks (taken just before the spawn).</summary>
    public long StartTicks { get; } = startTicks;

    /// <summary>True once the server closed a pipe that something else still held open.</summary>
    public bool OutputAbandoned { get; private set; }

    private int _stdout = stdout;
    private bool _stdoutGrown;
    private int _stderr = stderr;
    private int _pidfd = -1;
    private int _pending = 3;
    private ExitStatus _status;

    public TaskCompletionSource<ExitStatus> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource? Writable { get; set; }

    /// <summary>Signals the group while its leader is alive or an unreaped zombie (so its id is still the run's); never after.</summary>
    public void SignalGroup(int signal)
    {
        lock (_reaping)
        {
            if (!_reaped)
            {
                LibC.kill(-pid, signal);
            }
        }
    }

    /// <summary>
    /// Registers the pipes, then the pidfd. In that order: the reap drains and may close the pipes, on the loop's
    /// thread, and it must never find one this thread has not registered yet (it would close a descriptor whose
    /// number this thread then registers, or closes again, after it was given to another run).
    /// </summary>
    public void Begin()
    {
        IoLoop loop = IoLoop.Instance;
        (int stdoutFd, int stderrFd) = (_stdout, _stderr);
        if (!loop.Add(stdoutFd, LibC.EPOLLIN, this))
        {
            _stdout = -1;
            LibC.close(stdoutFd);
            Done();
        }

        if (!loop.Add(stderrFd, LibC.EPOLLIN, this))
        {
            _stderr = -1;
            LibC.close(stderrFd);
            Done();
        }

        int pidfd = (int)LibC.syscall(LibC.SYS_pidfd_open, pid, 0);
        if (pidfd >= 0)
        {
            _pidfd = pidfd;
            if (!loop.Add(pidfd, LibC.EPOLLIN, this))
            {
                _pidfd = -1;
                LibC.close(pidfd);
                pidfd = -1;
            }
        }

        if (pidfd < 0)
        {
            // No pidfds (Linux < 5.3): a thread of its own waits for this child.
            new Thread(static state => ((RunWatch)state!).WaitAndDone()) { IsBackground = true, Name = "aotfaas waitpid" }.UnsafeStart(this);
        }
    }

    public override void OnReady(int fd, uint events)
    {
        if (fd == _stdout)
        {
            bool ended = Drain(fd, stdoutBuffer);
            if (stdoutBuffer.Overflowed && onStdoutOverflow is not null)
            {
                Action notify = onStdoutOverflow;
                onStdoutOverflow = null;
                notify();
            }

            if (ended)
            {
                _stdout = -1;
                Close(fd);
            }
        }
        else if (fd == _stderr)
        {
            if (Drain(fd, stderrBuffer))
            {
                _stderr = -1;
                Close(fd);
            }
        }
        else if (fd == _pidfd)
        {
            // Never block the loop: a readable pidfd means the process has ended, but make sure.
            int state = ExitState();
            if (state != 0)
            {
                if (state > 0)
                {
                    // The leader is a zombie, so its pid (the group's id) cannot be reused yet: end what it left behind.
                    LibC.kill(-pid, LibC.SIGKILL);
                }

                TryReap(LibC.WNOHANG);
                _pidfd = -1;
                IoLoop.Instance.Remove(fd);
                LibC.close(fd);
                OrphanReaper.RunReaped(pid);
                DrainOpenPipes();
                if (_stdout >= 0 || _stderr >= 0)
                {
                    // Something that left the group may hold the pipes: they get the grace, then are closed.
                    IoLoop.Instance.After(outputGrace, this);
                }

                Done();
            }
        }
        else
        {
            Writable?.TrySetResult();
        }
    }

    /// <summary>The grace after the reap is over: pipes still open are closed, whoever holds their other end.</summary>
    public override void OnTimer()
    {
        // Read what is there first: it was written before the grace ran out.
        DrainOpenPipes();

        if (_stdout >= 0)
        {
            int fd = _stdout;
            _stdout = -1;
            OutputAbandoned = true;
            Close(fd);
        }

        if (_stderr >= 0)
        {
            int fd = _stderr;
            _stderr = -1;
            OutputAbandoned = true;
            Close(fd);
        }
    }

    /// <summary>Reads what the pipes still open hold, closing those at their end (the usual case right after the reap).</summary>
    private void DrainOpenPipes()
    {
        if (_stdout >= 0)
        {
            OnReady(_stdout, LibC.EPOLLIN);
        }

        if (_stderr >= 0)
        {
            OnReady(_stderr, LibC.EPOLLIN);
        }
    }

    /// <summary>Reads what is there; true at end of file (or an error that ends the pipe all the same).</summary>
    private bool Drain(int fd, IOutputSink buffer)
    {
        for (int i = 0; i < MaxReadsPerEvent; i++)
        {
            nint read = buffer.ReadFrom(fd);
            if (read > 0)
            {
                if (i == MaxReadsPerEvent - 1 && fd == _stdout)
                {
                    // Still data after many reads: a large output; a larger pipe means fewer wake-ups.
                    Pipes.Grow(ref _stdoutGrown, fd);
                }

                continue;
            }

            return read == 0 || Marshal.GetLastPInvokeError() != LibC.EAGAIN;
        }

        return false;
    }

    private void Close(int fd)
    {
        IoLoop.Instance.Remove(fd);
        LibC.close(fd);
        Done();
    }

    private void WaitAndDone()
    {
        byte* info = stackalloc byte[LibC.SigInfoSize];
        while (LibC.waitid(LibC.P_PID, pid, info, LibC.WEXITED | LibC.WNOWAIT) < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR)
        {
        }

        SignalGroup(LibC.SIGKILL);
        TryReap(0);
        Done();
    }

    /// <summary>1: the process has ended and waits to be reaped; 0: it still runs; -1: it is not ours to wait for any more.</summary>
    private int ExitState()
    {
        byte* info = stackalloc byte[LibC.SigInfoSize];
        new Span<byte>(info, LibC.SigInfoSize).Clear();
        int result;
        do
        {
            result = LibC.waitid(LibC.P_PID, pid, info, LibC.WEXITED | LibC.WNOHANG | LibC.WNOWAIT);
        }
        while (result < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR);

        return result < 0 ? -1 : *(int*)(info + LibC.SigInfoPidOffset) != 0 ? 1 : 0;
    }

    /// <summary>Collects the exit status; false only when <c>WNOHANG</c> finds the process still running.</summary>
    private bool TryReap(int options)
    {
        int status;
        int result;
        if (options == 0)
        {
            // The fallback thread: wait outside the lock (the process has exited, see WaitAndDone), then reap under it.
            options = LibC.WNOHANG;
        }

        lock (_reaping)
        {
            do
            {
                result = LibC.waitpid(pid, &status, options);
            }
            while (result < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR);

            if (result == 0)
            {
                return false;
            }

            _reaped = true;
        }

        // ECHILD: something else reaped it (e.g. the runtime, when the server was started with SIGCHLD ignored).
        _status = result < 0 ? ExitStatus.Lost : ExitStatus.FromWaitStatus(status);
        LiveRuns.Remove(pid);
        return true;
    }

    private void Done()
    {
        if (Interlocked.Decrement(ref _pending) == 0)
        {
            Completion.TrySetResult(_status);
        }
    }
}
