using System.Collections;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using AotFaas.Execution;
using AotFaas.Execution.Native;

namespace AotFaas.Hosting;

/// <summary>
/// SIGHUP: the binary at the path this server was started from (<c>publish.sh</c> renames a new one into place) is
/// started with the same arguments and handed the listening sockets (<see cref="InheritedSockets"/>; those that serve TLS
/// named <c>https</c> in <c>LISTEN_FDNAMES</c>, so that the new server serves them with TLS too). Once it says it
/// serves, this server stops accepting and drains (<see cref="FaasServer.HandOverAsync"/>); the kernel queue of each
/// socket is shared, so no connection is refused in between. A new binary that exits, or is not serving within
/// <see cref="ReadyTimeout"/>, leaves this server serving, with the reason logged; its own lines (why it refused to
/// start) go to the same output as this server's.
/// </summary>
public sealed class BinarySwap
{
    /// <summary>How long a new binary may take to serve (the server starts in milliseconds).</summary>
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(10);

    private readonly Lazy<string> _path = new(StartPath);
    private readonly IReadOnlyList<string> _arguments;
    private readonly ILogger _log;
    private TaskCompletionSource _requested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _busy;

    /// <param name="arguments">This server's arguments, given to the new one as they are.</param>
    /// <param name="log">Where the swap is logged.</param>
    public BinarySwap(IReadOnlyList<string> arguments, ILogger log)
    {
        _arguments = arguments;
        _log = log;
    }

    /// <summary>Completes when a SIGHUP asks for a swap.</summary>
    public Task Requested => _requested.Task;

    /// <summary>
    /// The path this process was started from, as its command line named it (a symbolic link stays a link, so that
    /// re-pointing the link switches the binary): the first argument, against the working directory (which the server
    /// never changes) when it holds a slash, else looked up on PATH as the shell did. Only when neither works, the
    /// process's own file, whose path the kernel marks " (deleted)" once a new binary was renamed over it.
    /// </summary>
    public static string StartPath()
    {
        string[] commandLine = Environment.GetCommandLineArgs();
        string? first = commandLine.Length > 0 ? commandLine[0] : null;
        if (first is not null && first.Contains('/', StringComparison.Ordinal))
        {
            return Path.GetFullPath(first);
        }

        if (first is not null)
        {
            foreach (string folder in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries))
            {
                string candidate = Path.Combine(folder, first);
                if (File.Exists(candidate))
                {
                    return Path.GetFullPath(candidate);
                }
            }
        }

        const string Deleted = " (deleted)";
        string own = Environment.ProcessPath ?? "aotfaas";
        return own.EndsWith(Deleted, StringComparison.Ordinal) ? own[..^Deleted.Length] : own;
    }

    /// <summary>On SIGHUP: asks for a swap, unless one is under way, the server is stopping, or it is PID 1.</summary>
    public void OnHangUp(bool stopping)
    {
        if (Environment.ProcessId == 1)
        {
            _log.LogWarning("SIGHUP: this server is PID 1 (a container's init), and the container would end with it: no swap; restart the container to run a new binary");
        }
        else if (stopping)
        {
            _log.LogWarning("SIGHUP: the server is stopping: ignored");
        }
        else if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            _log.LogWarning("SIGHUP: a swap is already under way: ignored");
        }
        else
        {
            _requested.TrySetResult();
        }
    }

    /// <summary>
    /// Starts the new binary with <paramref name="sockets"/> and waits until it serves; its pid, or null when it did
    /// not come up (logged; the next SIGHUP may try again). <paramref name="stopping"/> abandons the attempt.
    /// </summary>
    public async Task<int?> StartAsync(IReadOnlyList<ListenSocket> sockets, Task stopping)
    {
        try
        {
            int? pid = await TryStartAsync(sockets, stopping).ConfigureAwait(false);
            if (pid is not null)
            {
                return pid;
            }
        }
        catch (SpawnException e)
        {
            _log.LogError("SIGHUP: {Reason}; this server goes on serving", e.Message);
        }

        _requested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _busy, 0);
        return null;
    }

    private async Task<int?> TryStartAsync(IReadOnlyList<ListenSocket> sockets, Task stopping)
    {
        int readEnd;
        int writeEnd;
        unsafe
        {
            int* ends = stackalloc int[2];
            if (LibC.pipe2(ends, LibC.O_CLOEXEC) != 0)
            {
                _log.LogError("SIGHUP: no pipe for the new binary's readiness: {Reason}; this server goes on serving", Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
                return null;
            }

            readEnd = ends[0];
            writeEnd = ends[1];
        }

        int pid;
        try
        {
            try
            {
                using ProcessEnvironment environment = EnvironmentFor(sockets);
                pid = PosixSpawn.SpawnPassing(_path.Value, [_path.Value, .. _arguments], environment, [.. sockets.Select(static socket => socket.Descriptor), writeEnd]);
            }
            finally
            {
                LibC.close(writeEnd);
            }

            _log.LogInformation("SIGHUP: started {Path} (pid {Pid}) with the {Count} listening socket(s); waiting for it to serve", _path.Value, pid, sockets.Count);
            string? why = await WaitForReadyAsync(readEnd, stopping).ConfigureAwait(false);
            if (why is null)
            {
                _log.LogInformation("SIGHUP: pid {Pid} serves; this server stops accepting, lets its connections close and drains", pid);
                return pid;
            }

            LibC.kill(pid, LibC.SIGKILL);
            string status = await ReapAsync(pid).ConfigureAwait(false);
            await KillLeftoversAsync().ConfigureAwait(false);
            if (stopping.IsCompleted)
            {
                _log.LogWarning("SIGHUP: the swap was abandoned ({Why}); the new binary was stopped ({Status})", why, status);
            }
            else
            {
                _log.LogError("SIGHUP: the new binary did not take over ({Why}; {Status}); this server goes on serving", why, status);
            }

            return null;
        }
        finally
        {
            LibC.close(readEnd);
        }
    }

    /// <summary>
    /// Reads the ready pipe until the new binary's READY line (null), its end of file (it exited, or closed the pipe,
    /// without serving), <see cref="ReadyTimeout"/>, <paramref name="stopping"/>, or <see cref="MaxUnready"/> bytes
    /// that hold no READY line; each is checked on every pass, so a binary that writes without end cannot hold the swap.
    /// The pipe is polled, never read in a blocking call, so nothing waits on it after this returns (a process the new
    /// binary started could hold it open).
    /// </summary>
    private static async Task<string?> WaitForReadyAsync(int readEnd, Task stopping)
    {
        PosixSpawn.SetNonBlocking(readEnd);
        string tail = string.Empty;
        long received = 0;
        byte[] buffer = new byte[256];
        for (long deadline = Environment.TickCount64 + (long)ReadyTimeout.TotalMilliseconds; ;)
        {
            if (stopping.IsCompleted)
            {
                return "this server is stopping";
            }

            if (Environment.TickCount64 > deadline)
            {
                return $"it did not serve within {ReadyTimeout.TotalSeconds} s";
            }

            int read = Read(readEnd, buffer);
            if (read > 0)
            {
                // Only the end is kept: enough to find the READY line across two reads.
                string text = tail + Encoding.ASCII.GetString(buffer, 0, read);
                if (text.Contains(InheritedSockets.ReadyMessage, StringComparison.Ordinal))
                {
                    return null;
                }

                received += read;
                if (received > MaxUnready)
                {
                    return $"it wrote {received} bytes on its ready pipe and no {InheritedSockets.ReadyMessage.TrimEnd()}";
                }

                tail = text[^Math.Min(text.Length, InheritedSockets.ReadyMessage.Length)..];
            }
            else if (read == 0)
            {
                return "it exited, or closed its ready pipe, before it served";
            }
            else
            {
                await Task.Delay(10).ConfigureAwait(false);
            }
        }
    }

    /// <summary>How much a new binary may write on its ready pipe before its READY line.</summary>
    private const int MaxUnready = 4096;

    /// <summary>
    /// After a new binary that did not take over was killed: what it left behind (re-parented to this server, which
    /// adopts orphans, and in this server's session, where runs never are) is killed and reaped, so that it neither
    /// holds the listening sockets nor stays a zombie of this server.
    /// </summary>
    private static async Task KillLeftoversAsync()
    {
        int session = LibC.getsid(0);
        for (int pass = 0, quiet = 0; pass < 50 && quiet < 3; pass++)
        {
            bool found = false;
            foreach (int child in Children())
            {
                if (ProcStat.TryRead(child, out _, out int childSession, out _) && childSession == session)
                {
                    found = true;
                    LibC.kill(child, LibC.SIGKILL);
                    TryReap(child);
                }
            }

            quiet = found ? 0 : quiet + 1;
            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    /// <summary>This process's children, whichever of its threads they belong to.</summary>
    private static List<int> Children()
    {
        var children = new List<int>();
        try
        {
            foreach (string task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    foreach (string pid in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        children.Add(int.Parse(pid, CultureInfo.InvariantCulture));
                    }
                }
                catch (IOException)
                {
                    // The thread ended meanwhile.
                }
            }
        }
        catch (IOException)
        {
        }

        return children;
    }

    /// <summary>One non-blocking read: the bytes read, 0 at end of file, -1 when nothing is there yet.</summary>
    private static unsafe int Read(int fd, byte[] buffer)
    {
        fixed (byte* bytes = buffer)
        {
            nint read;
            do
            {
                read = LibC.read(fd, bytes, buffer.Length);
            }
            while (read < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR);

            return read >= 0 ? (int)read : -1;
        }
    }

    /// <summary>This server's environment without the hand-over variables it was given, plus those of this hand-over.</summary>
    private static ProcessEnvironment EnvironmentFor(IReadOnlyList<ListenSocket> sockets)
    {
        int socketCount = sockets.Count;
        string[] handOver = [InheritedSockets.ListenFds, InheritedSockets.ListenPid, InheritedSockets.ListenFdNames, InheritedSockets.SwapFrom, InheritedSockets.SwapReadyFd];
        var variables = new List<KeyValuePair<string, string>>
        {
            new(InheritedSockets.ListenFds, socketCount.ToString(CultureInfo.InvariantCulture)),
            new(InheritedSockets.ListenFdNames, string.Join(':', sockets.Select(static socket => socket.Name))),
            new(InheritedSockets.SwapFrom, Environment.ProcessId.ToString(CultureInfo.InvariantCulture)),
            new(InheritedSockets.SwapReadyFd, (InheritedSockets.First + socketCount).ToString(CultureInfo.InvariantCulture)),
        };
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            var name = (string)entry.Key;
            if (Array.IndexOf(handOver, name) < 0)
            {
                variables.Add(new KeyValuePair<string, string>(name, (string?)entry.Value ?? string.Empty));
            }
        }

        return new ProcessEnvironment(variables);
    }

    /// <summary>Reaps the new binary that did not take over (it exited, or was just killed) and says how it ended.</summary>
    private static async Task<string> ReapAsync(int pid)
    {
        for (int attempt = 0; attempt < 200; attempt++)
        {
            if (TryReap(pid) is string ended)
            {
                return ended;
            }

            await Task.Delay(10).ConfigureAwait(false);
        }

        return "it has not exited yet";
    }

    private static unsafe string? TryReap(int pid)
    {
        int status = 0;
        int result = LibC.waitpid(pid, &status, LibC.WNOHANG);
        return result == pid ? ExitStatus.FromWaitStatus(status).ToString()
            : result < 0 ? "its exit status is unknown"
            : null;
    }
}
