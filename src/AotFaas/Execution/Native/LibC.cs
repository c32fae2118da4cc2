using System.Runtime.InteropServices;

namespace AotFaas.Execution.Native;

/// <summary>
/// The few C library calls the process layer needs, bound at compile time through source-generated
/// <see cref="LibraryImportAttribute"/> stubs (no run-time marshalling code, safe for Native AOT).
/// Constants are Linux's (glibc and musl agree on all of them).
/// </summary>
internal static unsafe partial class LibC
{
    private const string Library = "libc";

    public const int EINTR = 4;
    public const int ECHILD = 10;
    public const int EAGAIN = 11;
    public const int EISDIR = 21;
    public const int EINVAL = 22;
    public const int EPIPE = 32;
    public const int EOPNOTSUPP = 95;
    public const int ESRCH = 3;

    public const int O_RDWR = 0x2;
    public const int O_NONBLOCK = 0x800;

    /// <summary>__O_TMPFILE | O_DIRECTORY: an unnamed file in the given directory (Linux 3.11+).</summary>
    public const int O_TMPFILE = 0x410000;
    public const int O_CLOEXEC = 0x80000;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int F_SETPIPE_SZ = 1031;
    public const int F_GETFD = 1;
    public const int F_SETFD = 2;
    public const int FD_CLOEXEC = 1;

    /// <summary>fcntl: the lowest free descriptor at or above the argument, close-on-exec.</summary>
    public const int F_DUPFD_CLOEXEC = 1030;

    public const int SOL_SOCKET = 1;
    public const int SO_TYPE = 3;
    public const int SO_ACCEPTCONN = 30;
    public const int SOCK_STREAM = 1;

    public const short POSIX_SPAWN_SETSIGDEF = 0x04;
    public const short POSIX_SPAWN_SETSIGMASK = 0x08;
    public const short POSIX_SPAWN_SETSID = 0x80;

    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CTL_MOD = 3;
    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLONESHOT = 1u << 30;
    public const int EPOLL_CLOEXEC = 0x80000;

    /// <summary>The pidfd_open system call number; the same on every Linux architecture (new calls share one table).</summary>
    public const long SYS_pidfd_open = 434;

    /// <summary>The pidfd_send_signal system call number (Linux 5.1+); the same on every architecture.</summary>
    public const long SYS_pidfd_send_signal = 424;

    /// <summary>prctl option: orphaned descendants are re-parented to this process instead of init (Linux 3.4+).</summary>
    public const int PR_SET_CHILD_SUBREAPER = 36;

    /// <summary>Clock that counts from boot, suspend included: the clock of /proc/PID/stat's start time.</summary>
    public const int CLOCK_BOOTTIME = 7;

    /// <summary>struct timespec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport(Library, SetLastError = true)]
    public static partial int prctl(int option, nint arg2, nint arg3, nint arg4, nint arg5);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int clock_gettime(int clock, TimeSpec* time);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int getsid(int pid);

    [LibraryImport(Library, SetLastError = true)]
    public static partial nint pread(int fd, byte* buffer, nint count, long offset);

    [LibraryImport(Library, SetLastError = true)]
    public static partial long syscall(long number, long arg1, long arg2, long arg3, long arg4);

    /// <summary>Generous sizes for the opaque glibc/musl structures (glibc x86-64: 336, 80 and 128 bytes).</summary>
    public const int SpawnAttrSize = 1024;
    public const int FileActionsSize = 1024;
    public const int SigSetSize = 256;

    [LibraryImport(Library, SetLastError = true)]
    public static partial int pipe2(int* fds, int flags);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Library, SetLastError = true)]
    public static partial nint read(int fd, byte* buffer, nint count);

    [LibraryImport(Library, SetLastError = true)]
    public static partial nint write(int fd, byte* buffer, nint count);

    /// <summary>struct iovec: one buffer of a gathered write.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public byte* Base;
        public nint Length;
    }

    /// <summary>The most buffers one writev(2) takes here (Linux allows 1024).</summary>
    public const int MaxIoVecs = 64;

    [LibraryImport(Library, SetLastError = true)]
    public static partial nint writev(int fd, IoVec* vectors, int count);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int fcntl(int fd, int command, int argument);

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport(Library)]
    public static partial int posix_spawnp(int* pid, byte* file, void* fileActions, void* attr, byte** argv, byte** envp);

    [LibraryImport(Library)]
    public static partial int posix_spawn(int* pid, byte* path, void* fileActions, void* attr, byte** argv, byte** envp);

    public const int X_OK = 1;

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int access(string path, int mode);

    [LibraryImport(Library)]
    public static partial int posix_spawnattr_init(void* attr);

    [LibraryImport(Library)]
    public static partial int posix_spawnattr_destroy(void* attr);

    [LibraryImport(Library)]
    public static partial int posix_spawnattr_setflags(void* attr, short flags);

    [LibraryImport(Library)]
    public static partial int posix_spawnattr_setsigdefault(void* attr, void* sigset);

    [LibraryImport(Library)]
    public static partial int posix_spawnattr_setsigmask(void* attr, void* sigset);

    [LibraryImport(Library)]
    public static partial int posix_spawn_file_actions_init(void* actions);

    [LibraryImport(Library)]
    public static partial int posix_spawn_file_actions_destroy(void* actions);

    [LibraryImport(Library)]
    public static partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newFd);

    /// <summary>glibc 2.34+: closes every descriptor from <paramref name="from"/> up in the child.</summary>
    [LibraryImport(Library)]
    public static partial int posix_spawn_file_actions_addclosefrom_np(void* actions, int from);

    [LibraryImport(Library)]
    public static partial int sigemptyset(void* set);

    [LibraryImport(Library)]
    public static partial int sigfillset(void* set);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int waitpid(int pid, int* status, int options);

    public const int P_PID = 1;
    public const int WNOHANG = 1;
    public const int WEXITED = 4;
    public const int WNOWAIT = 0x01000000;

    /// <summary>Size of siginfo_t, and the offset of si_pid in it, on 64-bit Linux.</summary>
    public const int SigInfoSize = 128;
    public const int SigInfoPidOffset = 16;

    [LibraryImport(Library, SetLastError = true)]
    public static partial int waitid(int idType, int id, byte* info, int options);

    /// <summary>glibc 2.29+: changes directory in the child before exec.</summary>
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int posix_spawn_file_actions_addchdir_np(void* actions, string path);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport(Library)]
    public static partial int getppid();

    [LibraryImport(Library, SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int name, int* value, int* length);

    [LibraryImport(Library, SetLastError = true)]
    public static partial long syscall(long number, long arg1, long arg2);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, void* ev);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int epoll_wait(int epfd, void* events, int maxEvents, int timeout);

    /// <summary>Starts a native thread running <paramref name="start"/>(<paramref name="argument"/>); 0 or an errno value.</summary>
    [LibraryImport(Library)]
    public static partial int pthread_create(nint* thread, void* attributes, delegate* unmanaged<nint, nint> start, nint argument);

    /// <summary>Lets the thread's resources go when it ends, without a join.</summary>
    [LibraryImport(Library)]
    public static partial int pthread_detach(nint thread);

    public const int AF_INET = 2;
    public const int AF_INET6 = 10;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SO_REUSEADDR = 2;
    public const int IPPROTO_IPV6 = 41;
    public const int IPV6_V6ONLY = 26;

    [LibraryImport(Library, SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, int* value, int length);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int bind(int fd, byte* address, int length);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int listen(int fd, int backlog);
}
