using System.Buffers;
using System.Runtime.InteropServices;
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
    /// A <paramref name="longLived"/> program (a worker) does not count as a run that a process which left its group may
    /// come from: such a process is ended once the runs started before it are over, as for any run.
    /// </summary>
    /// <exception cref="SpawnException">The program could not be started.</exception>
    public static unsafe ChildProcess Start(
        string executable,
        IReadOnlyList<string> arguments,
        ProcessEnvironment environment,
        IOutputSink stdout,
        IOutputSink stderr,
        string? workDir = null,
        Action? onStdoutOverflow = null,
        string? resolvedPath = null,
        TimeSpan? outputGrace = null,
        bool longLived = false)
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

            PosixSpawn.SetNonBlocking(fds[1]);
            PosixSpawn.SetNonBlocking(fds[2]);
            PosixSpawn.SetNonBlocking(fds[4]);

            long started = BootClock.Ticks();
            int pid = PosixSpawn.Spawn(executable, resolvedPath, arguments, environment, workDir, fds[0], fds[3], fds[5]);
            CloseAndClear(fds, 0);
            CloseAndClear(fds, 3);
            CloseAndClear(fds, 5);

            // A long-lived worker is no run an orphan may belong to: an escapee of a run is not spared for as long as a worker lives.
            var watch = new RunWatch(pid, longLived ? long.MaxValue : started, fds[2], fds[4], stdout, stderr, onStdoutOverflow, outputGrace ?? DefaultOutputGrace);
            LiveRuns.Add(pid, watch);
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

    private static unsafe void CloseAndClear(int* fds, int index)
    {
        if (fds[index] >= 0)
        {
            LibC.close(fds[index]);
            fds[index] = -1;
        }
    }
}
