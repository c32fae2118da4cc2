using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AotFaas.Tests.Containment;

/// <summary>
/// Nothing a function starts outlives its run: processes that leave the run's process group (setsid,
/// setpgid, double forks) are re-parented to the server, killed and reaped; pipes they hold cannot keep a
/// request, its slot or its descriptors past the grace.
/// </summary>
[Collection(nameof(LeakTests))]
public class EscapeTests(ContainmentFixture server) : IClassFixture<ContainmentFixture>
{
    private readonly CleanCheck _clean = new(server.Client);

    private static async Task<HttpResponseMessage> PostBoundedAsync(HttpClient client, string function, string body = "x")
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await client.PostAsync("/function/" + function, new StringContent(body), bound.Token);
    }

    [Theory]
    [InlineData("escape-pipes")]
    [InlineData("escape-stderr")]
    public async Task A_descendant_that_leaves_the_group_holding_the_pipes_cannot_hold_the_request_or_its_slot(string function)
    {
        int before = await _clean.BaselineAsync();

        using HttpResponseMessage first = await PostBoundedAsync(server.Client, function);
        int escapee = await server.PidAsync(function + ".pid");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("parent-done\n", await first.Content.ReadAsStringAsync());
        Assert.True(await ProcessTable.IsGoneAsync(escapee), "the escaped process still runs");

        // The only slot is free again.
        File.Delete(Path.Combine(server.Scratch, function + ".pid"));
        using HttpResponseMessage second = await PostBoundedAsync(server.Client, function);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.True(await ProcessTable.IsGoneAsync(await server.PidAsync(function + ".pid")));
        await _clean.AssertCleanAsync(before);
    }

    [Fact]
    public async Task A_client_that_leaves_while_an_escapee_holds_the_pipes_frees_the_slot()
    {
        int before = await _clean.BaselineAsync();
        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(server.Address.Host, server.Address.Port);
            await socket.SendAsync(Encoding.ASCII.GetBytes("POST /function/escape-pipes HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx"));
            await server.PidAsync("escape-pipes.pid");
        }

        int escapee = await server.PidAsync("escape-pipes.pid");
        Assert.True(await ProcessTable.IsGoneAsync(escapee), "the escaped process still runs");
        Assert.True(await server.IdleAsync("escape-pipes"), "the slot is still held");
        File.Delete(Path.Combine(server.Scratch, "escape-pipes.pid"));
        using HttpResponseMessage next = await PostBoundedAsync(server.Client, "escape-pipes");
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        await server.PidAsync("escape-pipes.pid");
        await _clean.AssertCleanAsync(before);
    }

    [Fact]
    public async Task A_daemon_with_its_own_session_and_no_descriptors_is_killed_and_reaped_when_its_run_ends()
    {
        int before = await _clean.BaselineAsync();

        using HttpResponseMessage response = await PostBoundedAsync(server.Client, "daemon");
        int daemon = await server.PidAsync("daemon.pid");

        Assert.Equal("started\n", await response.Content.ReadAsStringAsync());
        Assert.True(await ProcessTable.IsGoneAsync(daemon), "the daemon still runs");

        // Reaped too: no zombie is left under the server (CleanCheck counts every child, zombies included).
        await _clean.AssertCleanAsync(before);
        File.Delete(Path.Combine(server.Scratch, "daemon.pid"));
    }

    [Fact]
    public async Task An_orphan_its_run_still_waits_for_is_not_killed_when_other_runs_end()
    {
        int before = await _clean.BaselineAsync();

        Task<HttpResponseMessage> waiting = PostBoundedAsync(server.Client, "helper");
        int helper = await server.PidAsync("helper.pid");

        // Other runs end while the helper, re-parented to the server, works on: each end looks for orphans to kill.
        for (int i = 0; i < 5; i++)
        {
            using HttpResponseMessage other = await PostBoundedAsync(server.Client, "daemon");
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        using HttpResponseMessage response = await waiting;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("helper-done\n", await response.Content.ReadAsStringAsync());
        Assert.True(await ProcessTable.IsGoneAsync(helper));
        await _clean.AssertCleanAsync(before);
        File.Delete(Path.Combine(server.Scratch, "helper.pid"));
    }

    [Fact]
    public async Task A_line_of_processes_that_keeps_changing_its_pid_does_not_outlive_its_run_while_other_runs_go_on()
    {
        string hops = Path.Combine(server.Scratch, "hopper.pids");
        File.Delete(hops);

        // One run before the hopper's, then a stream of overlapping runs: there is always one in flight, and
        // every hop of the line is younger than most of them.
        Task<HttpResponseMessage> first = PostBoundedAsync(server.Client, "busy");
        Assert.True(await server.GateAsync("busy", running: 1));
        using (HttpResponseMessage started = await PostBoundedAsync(server.Client, "hopper"))
        {
            Assert.Equal("started\n", await started.Content.ReadAsStringAsync());
        }

        var stream = new List<Task<HttpResponseMessage>>();
        using var streaming = new CancellationTokenSource();
        Task keepBusy = Task.Run(async () =>
        {
            while (!streaming.IsCancellationRequested && stream.Count < 30)
            {
                stream.Add(PostBoundedAsync(server.Client, "busy"));
                await Task.Delay(250);
            }
        });

        (await first).Dispose();

        // The run that was in flight before the line began has ended: nothing can claim the line any more.
        bool dead = await LineEndedAsync(hops);
        await streaming.CancelAsync();
        await keepBusy;
        foreach (Task<HttpResponseMessage> run in stream)
        {
            (await run).Dispose();
        }

        Assert.True(dead, $"the line of processes went on while runs were in flight: {File.ReadAllLines(hops).Length} hops");
    }

    /// <summary>True once the line writing pids to <paramref name="file"/> has stopped: its last pid gone, nothing new for 250 ms (5 hops); false after 3 s.</summary>
    private static async Task<bool> LineEndedAsync(string file)
    {
        for (int i = 0; i < 12; i++)
        {
            string[] before = File.ReadAllLines(file);
            await Task.Delay(250);
            string[] after = File.ReadAllLines(file);
            if (after.Length == before.Length && await ProcessTable.IsGoneAsync(int.Parse(after[^1], System.Globalization.CultureInfo.InvariantCulture), timeoutMilliseconds: 0))
            {
                return true;
            }
        }

        return false;
    }
}
