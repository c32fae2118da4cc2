using System.Net;
using System.Runtime.InteropServices;

namespace AotFaas.EndToEnd;

/// <summary>SIGTERM drains, the drain timeout stops what is left, a second signal kills at once; no child survives.</summary>
[Collection(nameof(PublishedBinary))]
public sealed partial class ShutdownTests(PublishedBinary binary)
{
    private const string ForeverPidFile = "/tmp/aotfaas-e2e-forever.pid";

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    private async Task<RunningServer> StartAsync(params string[] extra)
    {
        int port = RunningServer.FreePort();
        return await RunningServer.StartAsync(binary.Path, port, ["--urls", $"http://127.0.0.1:{port}", .. extra]);
    }

    private static async Task<int> ForeverPidAsync()
    {
        for (int i = 0; i < 250; i++)
        {
            if (File.Exists(ForeverPidFile) && int.TryParse((await File.ReadAllTextAsync(ForeverPidFile)).Trim(), out int pid))
            {
                return pid;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("the forever function never started");
    }

    private static async Task<bool> IsGoneAsync(int pid)
    {
        for (int i = 0; i < 250; i++)
        {
            string stat = $"/proc/{pid}/stat";
            if (!File.Exists(stat) || (await File.ReadAllTextAsync(stat)).Contains(") Z ", StringComparison.Ordinal))
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }

    [Fact]
    public async Task Health_turns_503_on_SIGTERM_while_the_drain_delay_keeps_serving_then_the_server_exits()
    {
        await using RunningServer server = await StartAsync("--drain-delay", "1500ms");
        using (HttpResponseMessage before = await server.Client.GetAsync("/_/health"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        Kill(server.ProcessId, 15);
        Assert.True(await server.WaitForOutputAsync("Draining in 1.5 s"), server.Output);

        // New connections are still accepted during the delay: a load balancer sees 503 and stops sending.
        using var fresh = new HttpClient { BaseAddress = server.Address };
        using HttpResponseMessage health = await fresh.GetAsync("/healthz");
        using HttpResponseMessage work = await fresh.PostAsync("/function/cat", new StringContent("still here"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("still here", await work.Content.ReadAsStringAsync());
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("Draining in 1.5 s: health checks answer 503", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SIGTERM_lets_a_run_in_flight_finish_then_exits_0()
    {
        await using RunningServer server = await StartAsync();
        Task<HttpResponseMessage> running = server.Client.PostAsync("/function/slow", new StringContent("x"));
        Assert.True(await server.WaitForMetricAsync("aotfaas_inflight{function=\"slow\"} 1"), "the run never started");

        Kill(server.ProcessId, 15);

        using HttpResponseMessage response = await running;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Past_the_drain_timeout_runs_are_stopped_and_the_server_exits_0_leaving_no_child()
    {
        File.Delete(ForeverPidFile);
        await using RunningServer server = await StartAsync("--drain-timeout", "300ms", "--kill-grace", "200ms");
        Task<HttpResponseMessage> running = server.Client.PostAsync("/function/forever", new StringContent("x"));
        int pid = await ForeverPidAsync();

        Kill(server.ProcessId, 15);

        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(await IsGoneAsync(pid), $"the function's process {pid} survived the server");
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => running);
    }

    [Fact]
    public async Task A_second_signal_kills_every_run_at_once()
    {
        File.Delete(ForeverPidFile);
        await using RunningServer server = await StartAsync();
        Task<HttpResponseMessage> running = server.Client.PostAsync("/function/forever", new StringContent("x"));
        int pid = await ForeverPidAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        Kill(server.ProcessId, 15);

        // The first one must have been handled: two pending signals of one kind are one.
        Assert.True(await server.WaitForOutputAsync("Stopping: no new requests"), server.Output);
        Kill(server.ProcessId, 15);

        Assert.Equal(143, await server.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.InRange(clock.ElapsedMilliseconds, 0, 5_000);
        Assert.True(await IsGoneAsync(pid), $"the function's process {pid} survived the server");
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => running);
    }
}
