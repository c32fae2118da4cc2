using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>
/// A program started with <c>posix_spawnp</c> in a session and process group of its own
/// (<c>POSIX_SPAWN_SETSID</c>), so that everything it starts can be signalled together.
/// Its stdin, stdout and stderr are pipes; only those three descriptors reach it, with default
/// signal dispositions and an empty signal mask. No shell is involved: the arguments reach the
/// program exactly as given. The <see cref="IoLoop"/> collects its stdout and stderr into the
/// buffers given to <see cref="Start"/> and reaps it through a pidfd.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    // Every run not yet reaped, so that a forced shutdown can end them all and orphans can be told whose they may be.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, RunWatch> Live = new();

    /// <summary>How long stdout and stderr may stay open after the program was reaped, when none is given.</summary>
    public static readonly TimeSpan DefaultOutputGrace = TimeSpan.FromSeconds(2);

    private readonly RunWatch _watch;
    private int _stdin;
    private bool _stdinWatched;
    private bool _stdinGrown;

    private ChildProcess(int pid, int stdin, RunWatch watch)
    {
        Id = pid;
        _stdin = stdin;
        _watch = watch;
    }

    /// <summary>The process id, which is also its process group and session id.</summary>
    public int Id { get; }

    /// <summary>
    /// Completes once the program has exited and been reaped, and its stdout and stderr have reached their end
    /// or were closed by the server because something outside the program kept them open past the grace.
    /// </summary>
    public Task<ExitStatus> Completion => _watch.Completion.Task;

    /// <summary>
    /// True when the program's stdout or stderr was still held open (by a process that left its group) when the
    /// grace after its exit ran out, and the server closed its ends; valid after <see cref="Completion"/>.
    /// </summary>
    public bool OutputAbandoned => _watch.OutputAbandoned;

    /// <summary>
    /// Starts <paramref name="executable"/> (looked up on the server's PATH when it holds no '/')
    /// with <paramref name="arguments"/> and <paramref name="environment"/>, in <paramref name="workDir"/>
    /// when given; its stdout and stderr are appended to <paramref name="stdout"/> and <paramref name="stderr"/>
    /// until they close. <paramref name="onStdoutOverflow"/> is called once, on the I/O thread, when stdout
    /// passes its buffer's limit or cannot be kept. When the program exits, whatever it left running in its process group
    /// is killed, and its stdout and stderr get <paramref name="outputGrace"/> to reach their end before they are closed.
    /// </summary>
    /// <exception cref="SpawnException">The program could not be started.</exception>
    public static unsafe ChildProcess Start(
        string executable,
        IReadOnlyList<string> arguments,
        ProcessEnvironment environment,
        OutputBuffer stdout,
        OutputBuffer stderr,
        string? workDir = null,
        Action? onStdoutOverflow = null,
        string? resolvedPath = null,
        TimeSpan? outputGrace = null)
    {
        int* fds = stackalloc int[6] { -1, -1, -1, -1, -1, -1 };
        try
        {
            // fds: [0] stdin read (child), [1] stdin write (us), [2] stdout read (us), [3] stdout write (child),
            // [4] stderr read (us), [5] stderr write (child). Our ends do not block; the child's must.
            for (int i = 0; i < 3; i++)
            {
                if (LibC.pipe2(fds + (2 * i), LibC.O_CLOEXEC) != 0)
                {
                    throw new SpawnException(executable, Marshal.GetLastPInvokeError());
                }
            }

            SetNonBlocking(fds[1]);
            SetNonBlocking(fds[2]);
            SetNonBlocking(fds[4]);

            long started = BootClock.Ticks();
            int pid = Spawn(executable, resolvedPath, arguments, environment, workDir, fds[0], fds[3], fds[5]);
            CloseAndClear(fds, 0);
            CloseAndClear(fds, 3);
            CloseAndClear(fds, 5);

            var watch = new RunWatch(pid, started, fds[2], fds[4], stdout, stderr, onStdoutOverflow, outputGrace ?? DefaultOutputGrace);
            Live[pid] = watch;
            var child = new ChildProcess(pid, fds[1], watch);
            fds[1] = fds[2] = fds[4] = -1;
            watch.Begin();
            return child;
        }
        finally
        {
            for (int i = 0; i < 6; i++)
            {
                CloseAndClear(fds, i);
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="data"/> to the program's stdin, waiting for room in the pipe as needed.
    /// Returns false when the program no longer reads its stdin (it closed it or exited), which is normal.
    /// </summary>
    public ValueTask<bool> WriteInputAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        => WriteInputAsync(new ReadOnlySequence<byte>(data), cancellationToken);

    /// <summary>
    /// Writes <paramref name="data"/>, however many segments it has, with one writev(2) per pipe's worth.
    /// Returns false when the program no longer reads its stdin (it closed it or exited), which is normal.
    /// </summary>
    public async ValueTask<bool> WriteInputAsync(ReadOnlySequence<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            nint written = WriteSome(data);
            if (written < 0)
            {
                return false;
            }

            if (written > 0)
            {
                data = data.Slice(written);
                continue;
            }

            // The pipe is full: a large input; a larger pipe means fewer wake-ups for the rest of it.
            Pipes.Grow(ref _stdinGrown, _stdin);
            await WaitWritableAsync(cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Closes the program's stdin: end of input. Harmless when already closed.</summary>
    public void CloseInput()
    {
        int fd = Interlocked.Exchange(ref _stdin, -1);
        if (fd >= 0)
        {
            if (_stdinWatched)
            {
                IoLoop.Instance.Remove(fd);
            }

            LibC.close(fd);
        }
    }

    /// <summary>
    /// Sends <paramref name="signal"/> to the program's whole process group, reaching what it started too.
    /// Nothing is sent once the program was reaped: its pid, the group's id, may belong to someone else by then.
    /// </summary>
    public void SignalGroup(int signal) => _watch.SignalGroup(signal);

    /// <summary>How many runs are alive (started, not yet reaped).</summary>
    public static int LiveCount => Live.Count;

    /// <summary>Sends <paramref name="signal"/> to the process group of every run not yet reaped.</summary>
    public static void SignalAll(int signal)
    {
        foreach (RunWatch watch in Live.Values)
        {
            watch.SignalGroup(signal);
        }
    }

    /// <summary>
    /// True when a run that started at or before <paramref name="startTicks"/> (<see cref="BootClock"/> ticks) has
    /// not been reaped yet, so a process started then may be one of its descendants.
    /// </summary>
    internal static bool AnyLiveRunStartedBy(long startTicks)
    {
        foreach (RunWatch watch in Live.Values)
        {
            if (watch.StartTicks <= startTicks)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when <paramref name="pid"/> is a run's program not yet reaped.</summary>
    internal static bool IsLiveRun(int pid) => Live.ContainsKey(pid);

    /// <summary>Closes stdin. The process is not touched: end it first with <see cref="SignalGroup"/>.</summary>
    public void Dispose() => CloseInput();

    /// <summary>One writev(2): bytes written, 0 when the pipe is full, -1 when nobody reads it any more.</summary>
    private unsafe nint WriteSome(ReadOnlySequence<byte> data)
    {
        int fd = _stdin;
        if (fd < 0)
        {
            return -1;
        }

        LibC.IoVec* vectors = stackalloc LibC.IoVec[LibC.MaxIoVecs];
        MemoryHandle[] pins = ArrayPool<MemoryHandle>.Shared.Rent(LibC.MaxIoVecs);
        int count = 0;
        try
        {
            foreach (ReadOnlyMemory<byte> segment in data)
            {
                if (segment.IsEmpty)
                {
                    continue;
                }

                pins[count] = segment.Pin();
                vectors[count].Base = (byte*)pins[count].Pointer;
                vectors[count].Length = segment.Length;
                if (++count == LibC.MaxIoVecs)
                {
                    break;
                }
            }

            while (true)
            {
                nint written = LibC.writev(fd, vectors, count);
                if (written >= 0)
                {
                    return written;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno == LibC.EAGAIN)
                {
                    return 0;
                }

                if (errno != LibC.EINTR)
                {
                    return -1;
                }
            }
        }
        finally
        {
            for (int i = 0; i < count; i++)
            {
                pins[i].Dispose();
                pins[i] = default;
            }

            ArrayPool<MemoryHandle>.Shared.Return(pins);
        }
    }

    private async Task WaitWritableAsync(CancellationToken cancellationToken)
    {
        var writable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _watch.Writable = writable;
        int fd = _stdin;
        const uint events = LibC.EPOLLOUT | LibC.EPOLLONESHOT;
        bool armed = _stdinWatched ? IoLoop.Instance.Modify(fd, events) : (_stdinWatched = IoLoop.Instance.Add(fd, events, _watch));
        if (!armed)
        {
            // Not watchable: poll gently rather than spin.
            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
            return;
        }

        using (cancellationToken.UnsafeRegister(static state => ((TaskCompletionSource)state!).TrySetCanceled(), writable))
        {
            await writable.Task.ConfigureAwait(false);
        }
    }

    private static unsafe int Spawn(string executable, string? resolvedPath, IReadOnlyList<string> arguments, ProcessEnvironment environment, string? workDir, int stdin, int stdout, int stderr)
    {
        byte* attr = stackalloc byte[LibC.SpawnAttrSize];
        byte* actions = stackalloc byte[LibC.FileActionsSize];
        byte* defaults = stackalloc byte[LibC.SigSetSize];
        byte* mask = stackalloc byte[LibC.SigSetSize];

        string[] argv = new string[arguments.Count + 1];
        argv[0] = executable;
        for (int i = 0; i < arguments.Count; i++)
        {
            argv[i + 1] = arguments[i];
        }

        using var nativeArgv = new NativeStringArray(argv);
        string target = resolvedPath ?? executable;
        int fileLength = Encoding.UTF8.GetByteCount(target);
        byte* file = stackalloc byte[fileLength + 1];
        Encoding.UTF8.GetBytes(target, new Span<byte>(file, fileLength));
        file[fileLength] = 0;

        Check(LibC.posix_spawnattr_init(attr), executable);
        Check(LibC.posix_spawn_file_actions_init(actions), executable);
        try
        {
            // Every signal back to its default: the runtime ignores SIGPIPE, and an ignored disposition survives exec.
            // Naming all of them is also the cheapest: glibc's child then sets each with one sigaction (64 calls);
            // naming only the ignored ones makes it read every disposition and reset the handled ones (~119, measured).
            LibC.sigfillset(defaults);
            LibC.sigemptyset(mask);
            Check(LibC.posix_spawnattr_setsigdefault(attr, defaults), executable);
            Check(LibC.posix_spawnattr_setsigmask(attr, mask), executable);
            Check(LibC.posix_spawnattr_setflags(attr, LibC.POSIX_SPAWN_SETSID | LibC.POSIX_SPAWN_SETSIGDEF | LibC.POSIX_SPAWN_SETSIGMASK), executable);
            Check(LibC.posix_spawn_file_actions_adddup2(actions, stdin, 0), executable);
            Check(LibC.posix_spawn_file_actions_adddup2(actions, stdout, 1), executable);
            Check(LibC.posix_spawn_file_actions_adddup2(actions, stderr, 2), executable);
            CloseFrom.AddTo(actions);
            if (workDir is not null)
            {
                Check(LibC.posix_spawn_file_actions_addchdir_np(actions, workDir), executable);
            }

            int pid;
            int error = resolvedPath is null
                ? LibC.posix_spawnp(&pid, file, actions, attr, nativeArgv.Pointer, environment.Pointer)
                : LibC.posix_spawn(&pid, file, actions, attr, nativeArgv.Pointer, environment.Pointer);
            if (error != 0)
            {
                throw workDir is not null && !Directory.Exists(workDir)
                    ? new SpawnException(executable, error, $"cannot run '{executable}': its working directory '{workDir}' does not exist")
                    : new SpawnException(executable, error);
            }

            return pid;
        }
        finally
        {
            LibC.posix_spawn_file_actions_destroy(actions);
            LibC.posix_spawnattr_destroy(attr);
        }
    }

    private static void SetNonBlocking(int fd)
    {
        int flags = LibC.fcntl(fd, LibC.F_GETFL, 0);
        LibC.fcntl(fd, LibC.F_SETFL, flags | LibC.O_NONBLOCK);
    }

    private static void Check(int error, string executable)
    {
        if (error != 0)
        {
            throw new SpawnException(executable, error);
        }
    }

    private static unsafe void CloseAndClear(int* fds, int index)
    {
        if (fds[index] >= 0)
        {
            LibC.close(fds[index]);
            fds[index] = -1;
        }
    }

    /// <summary>
    /// Closes every descriptor above 2 in the child where the C library can (glibc 2.34+). Our own
    /// descriptors are close-on-exec already; this also stops ones opened without that flag by native code.
    /// </summary>
    private static unsafe class CloseFrom
    {
        private static bool s_unavailable;

        public static void AddTo(byte* actions)
        {
            if (s_unavailable)
            {
                return;
            }

            try
            {
                LibC.posix_spawn_file_actions_addclosefrom_np(actions, 3);
            }
            catch (EntryPointNotFoundException)
            {
                s_unavailable = true;
            }
        }
    }

    /// <summary>
    /// The I/O loop's view of one run: drains stdout and stderr into their buffers, reaps the process
    /// when its pidfd turns readable, wakes a writer waiting for room in stdin, and completes
    /// <see cref="Completion"/> when all three of exit, stdout EOF and stderr EOF have happened.
    /// A descriptor field is set to -1 the moment it is closed: its number may come straight back
    /// from the kernel for another descriptor (even this run's pidfd), and must not be mistaken for it.
    /// </summary>
    private sealed unsafe class RunWatch(int pid, long startTicks, int stdout, int stderr, OutputBuffer stdoutBuffer, OutputBuffer stderrBuffer, Action? onStdoutOverflow, TimeSpan outputGrace) : IoWatch
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

        public void Begin()
        {
            IoLoop loop = IoLoop.Instance;
            (int stdoutFd, int stderrFd) = (_stdout, _stderr);
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
        }

        public override void OnReady(int fd, uint events)
        {
            if (fd == _stdout)
            {
                bool ended = Drain(fd, stdoutBuffer);
                if ((stdoutBuffer.Overflowed || stdoutBuffer.SpillError is not null) && onStdoutOverflow is not null)
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
        private bool Drain(int fd, OutputBuffer buffer)
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
            Live.TryRemove(pid, out _);
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
}
