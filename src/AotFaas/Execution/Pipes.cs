using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>Pipe capacity: the kernel's 64 KiB by default, 1 MiB once a run shows it moves a lot of data.</summary>
internal static class Pipes
{
    /// <summary>The capacity a busy pipe is given: Linux's default limit for unprivileged processes (/proc/sys/fs/pipe-max-size).</summary>
    public const int LargeCapacity = 1024 * 1024;

    /// <summary>Grows the pipe of <paramref name="fd"/> once; a refusal (over the system's limit) is harmless.</summary>
    public static void Grow(ref bool grown, int fd)
    {
        if (!grown && fd >= 0)
        {
            grown = true;
            LibC.fcntl(fd, LibC.F_SETPIPE_SZ, LargeCapacity);
        }
    }
}
