using System.Globalization;
using System.Runtime.InteropServices;
using AotFaas.Execution.Native;

namespace AotFaas.Hosting;

/// <summary>
/// Listening sockets this process was started with, in systemd's socket-activation convention: descriptors 3, 4, ...
/// counted by <c>LISTEN_FDS</c>. They come from systemd (<c>LISTEN_PID</c> is this process) or from the server this one
/// replaces on SIGHUP (<c>AOTFAAS_SWAP_FROM</c> is this process's parent, which waits on the pipe named by
/// <c>AOTFAAS_SWAP_READY_FD</c> to hear that this one serves; see <see cref="BinarySwap"/>). Variables meant for another
/// process are left alone, as <c>sd_listen_fds</c> does. Every variable of the convention is removed from the
/// environment once read, and the descriptors are made close-on-exec, so no run of a function ever gets them.
/// <c>LISTEN_FDNAMES</c> (colon-separated, one name per descriptor; systemd's <c>FileDescriptorName=</c>) says which
/// serve TLS: those named <c>https</c> (<see cref="ListenSocket"/>).
/// </summary>
public sealed class InheritedSockets
{
    public const string ListenFds = "LISTEN_FDS";
    public const string ListenPid = "LISTEN_PID";
    public const string ListenFdNames = "LISTEN_FDNAMES";
    public const string SwapFrom = "AOTFAAS_SWAP_FROM";
    public const string SwapReadyFd = "AOTFAAS_SWAP_READY_FD";

    /// <summary>The first descriptor of the convention (SD_LISTEN_FDS_START).</summary>
    public const int First = 3;

    private int _readyFd;

    private InheritedSockets(IReadOnlyList<ListenSocket> sockets, string source, int readyFd)
    {
        Sockets = sockets;
        Source = source;
        _readyFd = readyFd;
    }

    /// <summary>The listening sockets, in order, each with whether it is named <c>https</c>.</summary>
    public IReadOnlyList<ListenSocket> Sockets { get; }

    /// <summary>Who passed them: <c>systemd</c>, or <c>the server this one replaces (pid N)</c>.</summary>
    public string Source { get; }

    /// <summary>True when the server this one replaces passed them, and waits to hear that this one serves.</summary>
    public bool FromSwap => Source != "systemd";

    /// <summary>
    /// The sockets passed to this process, or null when none were; removes the convention's variables from the environment.
    /// </summary>
    /// <exception cref="UsageException">The variables are this process's but malformed, or a descriptor is not a listening stream socket.</exception>
    public static InheritedSockets? Take(Func<string, string?> environment)
    {
        string? count = environment(ListenFds);
        string? names = environment(ListenFdNames);
        string? listenPid = environment(ListenPid);
        string? swapFrom = environment(SwapFrom);
        string? readyFd = environment(SwapReadyFd);
        if (count is null && listenPid is null && swapFrom is null && readyFd is null)
        {
            // The usual start: nothing passed, and nothing to remove (removing copies the whole environment first).
            return null;
        }

        foreach (string name in (string[])[ListenFds, ListenPid, ListenFdNames, SwapFrom, SwapReadyFd])
        {
            Environment.SetEnvironmentVariable(name, null);
        }

        string source;
        int ready = -1;
        if (listenPid is not null && Number(listenPid) == Environment.ProcessId)
        {
            source = "systemd";
        }
        else if (swapFrom is not null && Number(swapFrom) is int parent && parent == LibC.getppid())
        {
            source = $"the server this one replaces (pid {parent})";
            ready = Number(readyFd ?? string.Empty) is int fd && fd >= First && IsOpen(fd)
                ? fd
                : throw new UsageException($"{SwapReadyFd} does not name an open descriptor ('{readyFd}')");
        }
        else
        {
            // Not ours (LISTEN_PID names another process, or none was set): like sd_listen_fds, take nothing.
            return null;
        }

        if (count is null || Number(count) is not int n || n < 1 || n > 1024)
        {
            throw new UsageException($"{ListenFds} must be a count of descriptors from 1 ('{count}', passed by {source})");
        }

        if (ready >= First && ready < First + n)
        {
            throw new UsageException($"{SwapReadyFd}={ready} names one of the {n} passed sockets ({ListenFds}), not a pipe of its own");
        }

        if (ready >= 0)
        {
            SetCloseOnExec(ready);
        }

        // Without names every descriptor is "unknown" (sd_listen_fds_with_names); a list of another length is malformed.
        string[] named = names is null ? [] : names.Split(':');
        if (names is not null && named.Length != n)
        {
            throw new UsageException($"{ListenFdNames} names {named.Length} descriptor(s) ('{names}') but {ListenFds} is {n} (passed by {source})");
        }

        var sockets = new ListenSocket[n];
        for (int i = 0; i < n; i++)
        {
            int fd = First + i;
            if (!IsListeningStream(fd))
            {
                throw new UsageException($"descriptor {fd} passed by {source} ({ListenFds}={n}) is not a listening stream socket");
            }

            SetCloseOnExec(fd);
            sockets[i] = new ListenSocket(fd, named.Length > 0 && named[i] == ListenSocket.HttpsName);
        }

        return new InheritedSockets(sockets, source, ready);
    }

    /// <summary>
    /// Says that the server serves: to the server this one replaces (which then stops accepting), or to systemd
    /// (<c>READY=1</c>, for <c>Type=notify</c>).
    /// </summary>
    public void ReportReady()
    {
        if (_readyFd < 0)
        {
            SystemdNotify.Send("READY=1");
            return;
        }

        WriteReady(_readyFd);
        LibC.close(_readyFd);
        _readyFd = -1;
    }

    /// <summary>What a new server writes on its ready pipe once it serves.</summary>
    public const string ReadyMessage = "READY=1\n";

    private static unsafe void WriteReady(int fd)
    {
        byte[] message = System.Text.Encoding.ASCII.GetBytes(ReadyMessage);
        fixed (byte* bytes = message)
        {
            while (LibC.write(fd, bytes, message.Length) < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR)
            {
            }
        }
    }

    private static int? Number(string text)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : null;

    private static bool IsOpen(int fd) => LibC.fcntl(fd, LibC.F_GETFD, 0) >= 0;

    private static void SetCloseOnExec(int fd)
    {
        int flags = LibC.fcntl(fd, LibC.F_GETFD, 0);
        if (flags >= 0)
        {
            LibC.fcntl(fd, LibC.F_SETFD, flags | LibC.FD_CLOEXEC);
        }
    }

    private static unsafe bool IsListeningStream(int fd)
    {
        int value = 0;
        int length = sizeof(int);
        if (LibC.getsockopt(fd, LibC.SOL_SOCKET, LibC.SO_ACCEPTCONN, &value, &length) != 0 || value != 1)
        {
            return false;
        }

        length = sizeof(int);
        return LibC.getsockopt(fd, LibC.SOL_SOCKET, LibC.SO_TYPE, &value, &length) == 0 && value == LibC.SOCK_STREAM;
    }
}
