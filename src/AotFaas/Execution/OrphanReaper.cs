using System.Globalization;
using System.Runtime.InteropServices;
using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>
/// Nothing a function starts outlives its run. The server becomes a child subreaper
/// (<c>prctl(PR_SET_CHILD_SUBREAPER)</c>), so every process a run leaves behind when its parent dies,
/// double forks and <c>setsid</c> daemons included, is re-parented to the server instead of to init (as
/// PID 1 of a container the server is every orphan's parent anyway). Whenever a run's program or an orphan
/// is reaped, the server's new children are looked up (<c>/proc/self/task/PID/children</c>, one read), each
/// one is watched through a pidfd, killed once no run that could have started it is still running, and reaped.
/// <para>
/// An orphan in the session or process group of the run that just ended is that run's, and is killed at once.
/// One that made a session of its own cannot be traced to its run any more: it is killed as soon as every
/// run that started before it has ended, so it never outlives its own run by more than the runs that
/// overlapped it (each bounded by its timeout). Only the exact pids found are ever waited for, never
/// <c>waitpid(-1)</c>, so no run's exit status is taken from the code that waits for it; and a process in
/// the server's own session (one the server did not start for a run) is left alone. Everything happens on
/// the I/O loop's thread.
/// </para>
/// </summary>
internal sealed unsafe class OrphanReaper : IoWatch
{
    private static OrphanReaper? s_instance;
    private static int s_pending;

    private readonly int _children;
    private readonly int _serverSession;
    private readonly Dictionary<int, Orphan> _byPidfd = [];
    private readonly Dictionary<int, Orphan> _byPid = [];
    private readonly List<int> _pids = [];
    private byte[] _buffer = new byte[4096];

    private OrphanReaper(int children, int serverSession)
    {
        _children = children;
        _serverSession = serverSession;
    }

    /// <summary>Orphans found and not yet reaped.</summary>
    public static int Pending => Volatile.Read(ref s_pending);

    /// <summary>True once <see cref="Enable"/> has succeeded.</summary>
    public static bool Enabled => s_instance is not null;

    /// <summary>
    /// Makes this process the parent of every orphan its runs leave, and starts watching for them.
    /// Returns null when it works, else why not (the server still runs, without that guarantee).
    /// </summary>
    public static string? Enable()
    {
        if (s_instance is not null)
        {
            return null;
        }

        int self = Environment.ProcessId;
        if (self != 1 && LibC.prctl(LibC.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        {
            return "prctl(PR_SET_CHILD_SUBREAPER) failed: " + Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
        }

        // Orphans are re-parented to the first live thread of the process: the main thread, which lives as long as the server.
        int children = LibC.open(string.Create(CultureInfo.InvariantCulture, $"/proc/self/task/{self}/children"), LibC.O_CLOEXEC, 0);
        if (children < 0)
        {
            return "cannot read /proc/self/task/PID/children (a kernel without CONFIG_PROC_CHILDREN?): " + Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
        }

        s_instance = new OrphanReaper(children, LibC.getsid(0));
        return null;
    }

    /// <summary>A run's program was reaped (on the I/O loop's thread): what it left is now the server's to end.</summary>
    public static void RunReaped(int pid) => s_instance?.Scan(pid);

    public override void OnReady(int fd, uint events)
    {
        if (!_byPidfd.TryGetValue(fd, out Orphan? orphan))
        {
            return;
        }

        int status;
        int result;
        do
        {
            result = LibC.waitpid(orphan.Pid, &status, LibC.WNOHANG);
        }
        while (result < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR);

        if (result == 0)
        {
            return;
        }

        // Reaped (or, ECHILD, by something else): its pid is free again, so nothing more is sent to it.
        _byPidfd.Remove(fd);
        _byPid.Remove(orphan.Pid);
        IoLoop.Instance.Remove(fd);
        LibC.close(fd);
        Interlocked.Decrement(ref s_pending);

        // Its own children, if it had any, are the server's now, and of its line.
        Scan(0, orphan);
    }

    /// <summary>
    /// Finds the server's new children, then kills every orphan no live run can claim. After a run's program was
    /// reaped (<paramref name="endedRun"/>), what is in its session or group is its own. After an orphan was reaped
    /// (<paramref name="endedOrphan"/>), what was just re-parented, or shares its session or group, descends from it
    /// and keeps its line's start: a process that forks and lets its parent exit, again and again, stays as old as
    /// the first of its line instead of looking younger than every run in flight.
    /// </summary>
    private void Scan(int endedRun, Orphan? endedOrphan = null)
    {
        foreach (int pid in ReadChildren())
        {
            if (_byPid.ContainsKey(pid) || LiveRuns.Contains(pid) || !ProcStat.TryRead(pid, out int group, out int session, out long started))
            {
                continue;
            }

            if (session == _serverSession)
            {
                // Started by this process for something other than a run (runs always get a session of their own).
                continue;
            }

            int pidfd = (int)LibC.syscall(LibC.SYS_pidfd_open, pid, 0);
            if (pidfd < 0)
            {
                continue;
            }

            var orphan = new Orphan(pid, pidfd, group, session, started);
            if (endedOrphan is not null && started >= endedOrphan.StartTicks)
            {
                // Re-parented by that death: its child, as far as anything can tell.
                orphan.LineStart = Math.Min(orphan.LineStart, endedOrphan.LineStart);
            }

            _byPid[pid] = orphan;
            _byPidfd[pidfd] = orphan;
            Interlocked.Increment(ref s_pending);
            if (!IoLoop.Instance.Add(pidfd, LibC.EPOLLIN, this))
            {
                _byPidfd.Remove(pidfd);
                _byPid.Remove(pid);
                Interlocked.Decrement(ref s_pending);
                LibC.close(pidfd);
            }
        }

        foreach (Orphan orphan in _byPid.Values)
        {
            if (orphan.Killed || LiveRuns.Contains(orphan.Pid))
            {
                continue;
            }

            if (endedOrphan is not null && (orphan.Session == endedOrphan.Session || orphan.Group == endedOrphan.Group))
            {
                orphan.LineStart = Math.Min(orphan.LineStart, endedOrphan.LineStart);
            }

            bool ofEndedRun = endedRun != 0 && (orphan.Session == endedRun || orphan.Group == endedRun);
            if (ofEndedRun || !LiveRuns.AnyStartedBy(orphan.LineStart))
            {
                Kill(orphan);
            }
        }
    }

    private static void Kill(Orphan orphan)
    {
        orphan.Killed = true;

        // Not reaped yet (only this class reaps it), so its pid, and the id of a group it leads, are still its own.
        if (orphan.Group == orphan.Pid)
        {
            LibC.kill(-orphan.Pid, LibC.SIGKILL);
        }

        LibC.syscall(LibC.SYS_pidfd_send_signal, orphan.Pidfd, LibC.SIGKILL, 0, 0);
    }

    /// <summary>The pids of the main thread's children: one pread of a file kept open.</summary>
    private List<int> ReadChildren()
    {
        List<int> pids = _pids;
        pids.Clear();
        int length;
        while (true)
        {
            fixed (byte* buffer = _buffer)
            {
                length = (int)LibC.pread(_children, buffer, _buffer.Length, 0);
            }

            if (length < _buffer.Length)
            {
                break;
            }

            _buffer = new byte[_buffer.Length * 2];
        }

        int value = 0;
        bool inNumber = false;
        for (int i = 0; i < length; i++)
        {
            byte c = _buffer[i];
            if (c is >= (byte)'0' and <= (byte)'9')
            {
                value = (value * 10) + (c - '0');
                inNumber = true;
            }
            else if (inNumber)
            {
                pids.Add(value);
                value = 0;
                inNumber = false;
            }
        }

        if (inNumber)
        {
            pids.Add(value);
        }

        return pids;
    }

    /// <summary>One orphan: its pidfd, and what it was when found.</summary>
    private sealed class Orphan(int pid, int pidfd, int group, int session, long startTicks)
    {
        public int Pid { get; } = pid;

        public int Pidfd { get; } = pidfd;

        public int Group { get; } = group;

        public int Session { get; } = session;

        public long StartTicks { get; } = startTicks;

        /// <summary>When the first of its line started: its own start, or an older orphan's it descends from.</summary>
        public long LineStart { get; set; } = startTicks;

        public bool Killed { get; set; }
    }
}
