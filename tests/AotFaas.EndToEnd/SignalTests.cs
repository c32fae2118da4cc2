using System.Net;
using System.Runtime.InteropServices;

namespace AotFaas.EndToEnd;

/// <summary>
/// No signal an operator or a supervisor sends by habit ends the server without a drain: SIGQUIT, SIGPWR and
/// SIGRTMIN+3 drain like SIGTERM; SIGUSR1, SIGUSR2, SIGALRM and the unused timer and I/O signals are
/// logged and ignored. SIGKILL cannot be caught:
/// in a PID namespace (a container) the server's death takes its runs with it.
/// </summary>
[Collection(nameof(PublishedBinary))]
public sealed partial class SignalTests(PublishedBinary binary)
{
    private const string ForeverPidFile = "/tmp/aotfaas-e2e-forever.pid";

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    private async Task<RunningServer> StartAsync(string program, params string[] args)
    {
        int port = RunningServer.FreePort();
        return await RunningServer.StartAsync(program, port, [.. args, "--urls", $"http://127.0.0.1:{port}"]);
    }

    [Theory]
    [InlineData(10, "SIGUSR1: not used by this server: ignored")]
    [InlineData(12, "SIGUSR2: not used by this server: ignored")]
    [InlineData(14, "SIGALRM: not used by this server: ignored")]
    [InlineData(16, "SIGSTKFLT: not used by this server: ignored")]
    [InlineData(26, "SIGVTALRM: not used by this server: ignored")]
    [InlineData(27, "SIGPROF: not used by this server: ignored")]
    [InlineData(29, "SIGIO: not used by this server: ignored")]
    public async Task A_signal_sent_by_habit_is_logged_and_the_server_still_answers(int signal, string logged)
    {
        await using RunningServer server = await StartAsync(binary.Path);

        Assert.Equal(0, Kill(server.ProcessId, signal));

        Assert.True(await ProcessInfo.EventuallyAsync(() => server.Output.Contains(logged, StringComparison.Ordinal)), "not logged:\n" + server.Output);
        using HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("still here"));
        Assert.Equal("still here", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, await server.StopAsync());
    }

    [Fact]
    public async Task A_signal_sent_the_moment_the_port_answers_waits_for_its_handler_instead_of_ending_the_server()
    {
        // The server listens first thing in Program.Main, a millisecond or two before its handlers are registered; the
        // signals it handles are held until then (Hosting/held-signals.c), so one sent in between is handled, not fatal.
        for (int round = 0; round < 3; round++)
        {
            int port = RunningServer.FreePort();
            await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"http://127.0.0.1:{port}"], spin: true);
            Assert.Equal(0, Kill(server.ProcessId, 10));

            Assert.True(await ProcessInfo.EventuallyAsync(() => server.Output.Contains("SIGUSR1: not used by this server: ignored", StringComparison.Ordinal)), $"round {round}: exit {server.ExitCode}, not logged:\n" + server.Output);
            using HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("still here"));
            Assert.Equal("still here", await response.Content.ReadAsStringAsync());
            Assert.Equal(0, await server.StopAsync());
        }

        int stopPort = RunningServer.FreePort();
        await using RunningServer stopped = await RunningServer.StartAsync(binary.Path, stopPort, ["--urls", $"http://127.0.0.1:{stopPort}"], spin: true);
        Assert.Equal(0, Kill(stopped.ProcessId, 15));
        Assert.Equal(0, await stopped.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("Stopping: no new requests", stopped.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(10)] // SIGUSR1
    [InlineData(1)] // SIGHUP
    public async Task A_signal_while_the_server_shuts_down_is_still_handled_and_it_exits_0_having_said_so(int signal)
    {
        // The handlers stay registered to the end: one that arrives in the shutdown's last milliseconds (the listeners
        // closing, the logs written) no longer finds its default action and ends the process before its last lines.
        for (int round = 0; round < 3; round++)
        {
            await using RunningServer server = await StartAsync(binary.Path);
            using (HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("x")))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            Assert.Equal(0, Kill(server.ProcessId, 15));
            for (int i = 0; i < 10 && server.ExitCode is null; i++)
            {
                await Task.Delay(3);
                Kill(server.ProcessId, signal);
            }

            Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(10)));
            Assert.Contains("Stopped", server.Output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(3)] // SIGQUIT, nginx's graceful stop
    [InlineData(30)] // SIGPWR, LXC's halt
    [InlineData(37)] // SIGRTMIN+3, systemd's halt
    public async Task A_stop_signal_lets_a_run_in_flight_finish_then_exits_0_like_SIGTERM(int signal)
    {
        await using RunningServer server = await StartAsync(binary.Path);
        Task<HttpResponseMessage> running = server.Client.PostAsync("/function/slow", new StringContent("x"));
        Assert.True(await ProcessInfo.EventuallyAsync(() => ProcessInfo.Children(server.ProcessId).Length > 0), "the run never started");

        Assert.Equal(0, Kill(server.ProcessId, signal));

        using HttpResponseMessage response = await running;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("Stopping: no new requests", server.Output, StringComparison.Ordinal);
    }

    [RootFact("unshare --pid needs CAP_SYS_ADMIN")]
    public async Task In_a_PID_namespace_a_SIGKILL_of_the_server_takes_its_runs_with_it()
    {
        File.Delete(ForeverPidFile);
        await using RunningServer unshare = await StartAsync("unshare", "--pid", "--fork", "--mount-proc", binary.Path);
        int serverPid = ProcessInfo.Children(unshare.ProcessId).Single();
        Assert.Equal(1, ProcessInfo.InnermostPid(serverPid));
        Task<HttpResponseMessage> running = unshare.Client.PostAsync("/function/forever", new StringContent("x"));

        // The pid file holds the sleeper's pid inside the namespace; its host pid is the server's child with that NSpid.
        Assert.True(await ProcessInfo.EventuallyAsync(() => File.Exists(ForeverPidFile) && File.ReadAllText(ForeverPidFile).EndsWith('\n')), "the forever function never started");
        int inner = int.Parse(File.ReadAllText(ForeverPidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        int sleeper = ProcessInfo.Children(serverPid).Single(pid => ProcessInfo.InnermostPid(pid) == inner);

        Assert.Equal(0, Kill(serverPid, 9));

        Assert.True(await ProcessInfo.IsGoneAsync(sleeper), $"the run's process {sleeper} survived the server's SIGKILL");
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => running);
    }
}
