using System.IO.Pipes;
using System.Runtime.InteropServices;
using System.Text;
using AotFaas.Execution.Native;
using Microsoft.Win32.SafeHandles;

namespace AotFaas.Execution;

/// <summary>
/// A program started with <c>posix_spawnp</c> in a session and process group of its own
/// (<c>POSIX_SPAWN_SETSID</c>), so that everything it starts can be signalled together.
/// Its stdin, stdout and stderr are pipes; only those three descriptors reach it, with default
/// signal dispositions and an empty signal mask. No shell is involved: the arguments reach the
/// program exactly as given.
/// </summary>
public sealed unsafe class ChildProcess : IDisposable
{
    private ChildProcess(int pid, int stdin, int stdout, int stderr)
    {
        Id = pid;
        StandardInput = OpenPipe(stdin, PipeDirection.Out);
        StandardOutput = OpenPipe(stdout, PipeDirection.In);
        StandardError = OpenPipe(stderr, PipeDirection.In);
        Exited = ProcessReaper.Instance.WaitForExitAsync(pid);
    }

    /// <summary>The process id, which is also its process group and session id.</summary>
    public int Id { get; }

    /// <summary>Writes to the program's stdin; dispose it to send end-of-file.</summary>
    public Stream StandardInput { get; }

    /// <summary>Reads the program's stdout.</summary>
    public Stream StandardOutput { get; }

    /// <summary>Reads the program's stderr.</summary>
    public Stream StandardError { get; }

    /// <summary>Completes once the program has exited and been reaped.</summary>
    public Task<ExitStatus> Exited { get; }

    /// <summary>
    /// Starts <paramref name="executable"/> (looked up on the server's PATH when it holds no '/')
    /// with <paramref name="arguments"/> and the environment <paramref name="environment"/>.
    /// </summary>
    /// <exception cref="SpawnException">The program could not be started.</exception>
    public static ChildProcess Start(string executable, IReadOnlyList<string> arguments, ProcessEnvironment environment)
    {
        int* fds = stackalloc int[6] { -1, -1, -1, -1, -1, -1 };
        try
        {
            for (int i = 0; i < 3; i++)
            {
                if (LibC.pipe2(fds + (2 * i), LibC.O_CLOEXEC) != 0)
                {
                    throw new SpawnException(executable, Marshal.GetLastPInvokeError());
                }
            }

            // fds: [0] stdin read (child), [1] stdin write (us), [2] stdout read (us), [3] stdout write (child),
            // [4] stderr read (us), [5] stderr write (child).
            int pid = Spawn(executable, arguments, environment, fds[0], fds[3], fds[5]);
            CloseAndClear(fds, 0);
            CloseAndClear(fds, 3);
            CloseAndClear(fds, 5);
            (int stdin, int stdout, int stderr) = (fds[1], fds[2], fds[4]);
            fds[1] = fds[2] = fds[4] = -1;
            try
            {
                return new ChildProcess(pid, stdin, stdout, stderr);
            }
            catch
            {
                // Never leave a process behind that nobody will wait for.
                LibC.kill(-pid, LibC.SIGKILL);
                _ = ProcessReaper.Instance.WaitForExitAsync(pid);
                throw;
            }
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
    /// Sends <paramref name="signal"/> to the program's whole process group, reaching what it started too.
    /// Harmless once the group is gone.
    /// </summary>
    public void SignalGroup(int signal) => LibC.kill(-Id, signal);

    /// <summary>Closes the pipes. The process itself is not touched: end it first with <see cref="SignalGroup"/>.</summary>
    public void Dispose()
    {
        StandardInput.Dispose();
        StandardOutput.Dispose();
        StandardError.Dispose();
    }

    private static int Spawn(string executable, IReadOnlyList<string> arguments, ProcessEnvironment environment, int stdin, int stdout, int stderr)
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
        int fileLength = Encoding.UTF8.GetByteCount(executable);
        byte* file = stackalloc byte[fileLength + 1];
        Encoding.UTF8.GetBytes(executable, new Span<byte>(file, fileLength));
        file[fileLength] = 0;

        Check(LibC.posix_spawnattr_init(attr), executable);
        Check(LibC.posix_spawn_file_actions_init(actions), executable);
        try
        {
            // Every signal back to its default: the runtime ignores SIGPIPE, and an ignored disposition survives exec.
            LibC.sigfillset(defaults);
            LibC.sigemptyset(mask);
            Check(LibC.posix_spawnattr_setsigdefault(attr, defaults), executable);
            Check(LibC.posix_spawnattr_setsigmask(attr, mask), executable);
            Check(LibC.posix_spawnattr_setflags(attr, LibC.POSIX_SPAWN_SETSID | LibC.POSIX_SPAWN_SETSIGDEF | LibC.POSIX_SPAWN_SETSIGMASK), executable);
            Check(LibC.posix_spawn_file_actions_adddup2(actions, stdin, 0), executable);
            Check(LibC.posix_spawn_file_actions_adddup2(actions, stdout, 1), executable);
            Check(LibC.posix_spawn_file_actions_adddup2(actions, stderr, 2), executable);
            CloseFrom.AddTo(actions);

            int pid;
            int error = LibC.posix_spawnp(&pid, file, actions, attr, nativeArgv.Pointer, environment.Pointer);
            if (error != 0)
            {
                throw new SpawnException(executable, error);
            }

            return pid;
        }
        finally
        {
            LibC.posix_spawn_file_actions_destroy(actions);
            LibC.posix_spawnattr_destroy(attr);
        }
    }

    private static void Check(int error, string executable)
    {
        if (error != 0)
        {
            throw new SpawnException(executable, error);
        }
    }

    private static void CloseAndClear(int* fds, int index)
    {
        if (fds[index] >= 0)
        {
            LibC.close(fds[index]);
            fds[index] = -1;
        }
    }

    private static PipeStream OpenPipe(int fd, PipeDirection direction)
        => new AnonymousPipeClientStream(direction, new SafePipeHandle(fd, ownsHandle: true));

    /// <summary>
    /// Closes every descriptor above 2 in the child where the C library can (glibc 2.34+). Our own
    /// descriptors are close-on-exec already; this also stops ones opened without that flag by native code.
    /// </summary>
    private static class CloseFrom
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
}
