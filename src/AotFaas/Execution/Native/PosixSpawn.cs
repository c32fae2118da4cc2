using System.Runtime.InteropServices;
using System.Text;

namespace AotFaas.Execution.Native;

/// <summary>
/// <c>posix_spawn</c> with the attributes every run gets: <c>POSIX_SPAWN_SETSID</c> (a session and process
/// group of its own, so everything it starts can be signalled together), every signal back to its default,
/// an empty signal mask, the three pipes dup'ed onto 0, 1 and 2, every other descriptor closed, and an
/// optional working directory. No shell: the arguments reach the program exactly as given.
/// </summary>
internal static class PosixSpawn
{
    /// <summary>
    /// Starts <paramref name="executable"/> (the file at <paramref name="resolvedPath"/> when given, else looked
    /// up on PATH) in a new session with every signal at its default and none blocked, with
    /// <paramref name="stdin"/>, <paramref name="stdout"/> and <paramref name="stderr"/> as its 0, 1 and 2 and no
    /// other descriptor; returns its pid.
    /// </summary>
    /// <exception cref="SpawnException">It could not be started.</exception>
    public static unsafe int Spawn(string executable, string? resolvedPath, IReadOnlyList<string> arguments, ProcessEnvironment environment, string? workDir, int stdin, int stdout, int stderr)
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
            CloseFrom.AddTo(actions, 3);
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

    /// <summary>
    /// Starts <paramref name="path"/> as this process's sibling in spirit: same session and process group, same
    /// standard streams and working directory, signals it inherits as ignored still ignored (a server started in
    /// the background keeps SIGINT ignored), an empty signal mask, and <paramref name="passed"/> as its
    /// descriptors 3, 4, ... in order; no other descriptor. Returns its pid.
    /// </summary>
    /// <exception cref="SpawnException">It could not be started.</exception>
    public static unsafe int SpawnPassing(string path, IReadOnlyList<string> argv, ProcessEnvironment environment, IReadOnlyList<int> passed)
    {
        byte* attr = stackalloc byte[LibC.SpawnAttrSize];
        byte* actions = stackalloc byte[LibC.FileActionsSize];
        byte* mask = stackalloc byte[LibC.SigSetSize];
        using var nativeArgv = new NativeStringArray([.. argv]);
        int fileLength = Encoding.UTF8.GetByteCount(path);
        byte* file = stackalloc byte[fileLength + 1];
        Encoding.UTF8.GetBytes(path, new Span<byte>(file, fileLength));
        file[fileLength] = 0;

        // Copies above the target range first: dup2 onto 3, 4, ... must not overwrite a descriptor still to be
        // passed, and dup2 of a descriptor onto its own number would keep its close-on-exec flag.
        int firstFree = 3 + passed.Count;
        var copies = new List<int>(passed.Count);
        Check(LibC.posix_spawnattr_init(attr), path);
        Check(LibC.posix_spawn_file_actions_init(actions), path);
        try
        {
            foreach (int fd in passed)
            {
                int copy = LibC.fcntl(fd, LibC.F_DUPFD_CLOEXEC, firstFree);
                if (copy < 0)
                {
                    throw new SpawnException(path, Marshal.GetLastPInvokeError());
                }

                copies.Add(copy);
            }

            LibC.sigemptyset(mask);
            Check(LibC.posix_spawnattr_setsigmask(attr, mask), path);
            Check(LibC.posix_spawnattr_setflags(attr, LibC.POSIX_SPAWN_SETSIGMASK), path);
            for (int i = 0; i < copies.Count; i++)
            {
                Check(LibC.posix_spawn_file_actions_adddup2(actions, copies[i], 3 + i), path);
            }

            CloseFrom.AddTo(actions, firstFree);
            int pid;
            int error = LibC.posix_spawn(&pid, file, actions, attr, nativeArgv.Pointer, environment.Pointer);
            if (error != 0)
            {
                throw new SpawnException(path, error);
            }

            return pid;
        }
        finally
        {
            foreach (int copy in copies)
            {
                LibC.close(copy);
            }

            LibC.posix_spawn_file_actions_destroy(actions);
            LibC.posix_spawnattr_destroy(attr);
        }
    }

    /// <summary>Sets O_NONBLOCK on <paramref name="fd"/>.</summary>
    public static void SetNonBlocking(int fd)
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

    /// <summary>
    /// Closes every descriptor from the given one on in the child where the C library can (glibc 2.34+). Our own
    /// descriptors are close-on-exec already; this also stops ones opened without that flag by native code.
    /// </summary>
    private static unsafe class CloseFrom
    {
        private static bool s_unavailable;

        public static void AddTo(byte* actions, int first)
        {
            if (s_unavailable)
            {
                return;
            }

            try
            {
                LibC.posix_spawn_file_actions_addclosefrom_np(actions, first);
            }
            catch (EntryPointNotFoundException)
            {
                s_unavailable = true;
            }
        }
    }
}
