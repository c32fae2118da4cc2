using System.Globalization;
using AotFaas.Execution;

namespace AotFaas.Tests.Containment;

/// <summary>
/// No signal ever reaches a pid or a process group once the run's leader was reaped: by then the pid may
/// belong to another run (or, as root, to any process group on the host). Proved by forcing the reuse.
/// </summary>
[Collection(nameof(LeakTests))]
public class PidReuseTests
{
    private static readonly ProcessEnvironment Environment = ProcessEnvironment.FromCurrentProcess();

    [RootFact]
    public async Task Signalling_a_reaped_run_never_reaches_the_run_that_got_its_pid()
    {
        using var outA = new OutputBuffer();
        using var errA = new OutputBuffer();
        using ChildProcess a = ChildProcess.Start("true", [], Environment, outA, errA);
        await a.Completion.WaitAsync(TimeSpan.FromSeconds(10));

        // B, a later run, gets A's old pid (and so leads the process group of that id).
        using var outB = new OutputBuffer();
        using var errB = new OutputBuffer();
        using ChildProcess b = StartWithPid(a.Id, outB, errB);

        a.SignalGroup(Signals.SIGKILL);
        a.SignalGroup(Signals.SIGTERM);

        // kill(2) is synchronous: had either reached B, B would be dying already. Check it is alive, then end it.
        Assert.False(b.Completion.IsCompleted);
        Assert.False(await ProcessTable.IsGoneAsync(b.Id, timeoutMilliseconds: 100), "a signal meant for the reaped run reached the new one");
        b.SignalGroup(Signals.SIGKILL);
        Assert.Equal(Signals.SIGKILL, (await b.Completion.WaitAsync(TimeSpan.FromSeconds(10))).Signal);
    }

    /// <summary>Starts <c>sleep 600</c> as pid <paramref name="pid"/>, through /proc/sys/kernel/ns_last_pid, retrying if another process takes it first.</summary>
    private static ChildProcess StartWithPid(int pid, OutputBuffer stdout, OutputBuffer stderr)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            File.WriteAllText("/proc/sys/kernel/ns_last_pid", (pid - 1).ToString(CultureInfo.InvariantCulture));
            ChildProcess child = ChildProcess.Start("sleep", ["600"], Environment, stdout, stderr);
            if (child.Id == pid)
            {
                return child;
            }

            child.SignalGroup(Signals.SIGKILL);
            child.Completion.Wait(TimeSpan.FromSeconds(10));
            child.Dispose();
        }

        throw new InvalidOperationException($"pid {pid} could not be had again");
    }
}
