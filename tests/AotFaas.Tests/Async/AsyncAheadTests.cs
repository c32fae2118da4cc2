using AotFaas.Async;
using AotFaas.Functions;
using AotFaas.Tests.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace AotFaas.Tests.Async;

/// <summary>
/// Calls taken from the store ahead of a free slot (a claim takes a few): a synchronous request still goes before them,
/// and those not started when the server stops go back to the queue, their run not counted.
/// </summary>
public sealed class AsyncAheadTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-ahead-").FullName;
    private AsyncCallService _calls = null!;
    private TestServer _server = null!;

    private string Started => Path.Combine(_folder, "started");

    private string Release => Path.Combine(_folder, "release");

    public async Task InitializeAsync()
    {
        string store = Path.Combine(_folder, "calls.db");
        _calls = new AsyncCallService(SqliteCallStore.Open(store), new AsyncSettings(store, TimeSpan.FromHours(1), CallbackPolicy.None), NullLogger.Instance);

        // Three calls stored before the server starts: its first claim (max-inflight 1: two at a time) takes two, runs
        // the first and keeps the second ahead.
        for (int i = 1; i <= 3; i++)
        {
            Assert.Equal(EnqueueResult.Accepted, await _calls.Store.EnqueueAsync(Call($"a{i}", i), 10));
        }
    }

    private async Task StartAsync()
    {
        // Notes its body in 'started', then holds its slot until 'release' exists.
        string script = $"IFS= read -r line; printf '%s\\n' \"$line\" >> '{Started}'; while [ ! -e '{Release}' ]; do sleep 0.02; done; printf '%s' \"$line\"";
        Proc[] functions = [new("hold", "sh", ["-c", script], takesAsync: true, maxInflight: 1, maxQueue: 10, timeoutMilliseconds: 30_000)];
        _server = await TestServer.StartAsync(functions, asyncCalls: _calls);
        await _calls.StartAsync(functions, _server.Server.FindRoute);
    }

    private static StoredCall Call(string id, long acceptedAt) => new()
    {
        Id = id,
        Function = "hold",
        AcceptedAt = acceptedAt,
        Request = new CallRequest("POST", "http", "h", "", "/async-function/hold", "", "127.0.0.1", 5, []).ToBytes(),
        Body = System.Text.Encoding.ASCII.GetBytes(id),
    };

    private async Task<StoredCall> StateAsync(string id) => (await _calls.Store.FindAsync("hold", id))!;

    private async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        for (int i = 0; !await condition(); i++)
        {
            Assert.True(i < 500, $"waited 10 s for {what}");
            await Task.Delay(20);
        }
    }

    private string[] StartedLines() => File.Exists(Started) ? File.ReadAllLines(Started) : [];

    [Fact]
    public async Task A_synchronous_request_goes_before_a_call_taken_ahead()
    {
        await StartAsync();
        await WaitForAsync(() => Task.FromResult(StartedLines().Length == 1), "a1 to start");
        Assert.Equal(CallState.Running, (await StateAsync("a2")).State);

        // The synchronous request waits for the slot a1 holds; a2, taken ahead, waits for the one after.
        Task<HttpResponseMessage> sync = _server.Client.PostAsync("/function/hold", new StringContent("sync"));
        RunGate gate = _server.Server.FindRoute("hold")!.Policy.Gate;
        await WaitForAsync(() => Task.FromResult(gate.Waiting == 1), "the synchronous request to wait for the slot");
        File.WriteAllText(Release, string.Empty);
        using (HttpResponseMessage response = await sync)
        {
            Assert.Equal("sync", await response.Content.ReadAsStringAsync());
        }

        await WaitForAsync(async () => (await StateAsync("a3")).State == CallState.Done, "a3 to end");
        Assert.Equal(["a1", "sync", "a2", "a3"], StartedLines());
        int[] runs = await Task.WhenAll(new[] { "a1", "a2", "a3" }.Select(async id => (await StateAsync(id)).Runs));
        Assert.Equal([1, 1, 1], runs);
    }

    [Fact]
    public async Task Calls_taken_ahead_and_not_started_are_queued_again_on_stop_their_run_not_counted()
    {
        await StartAsync();
        await WaitForAsync(() => Task.FromResult(StartedLines().Length == 1), "a1 to start");
        Assert.Equal(CallState.Running, (await StateAsync("a2")).State);
        Assert.Equal(CallState.Queued, (await StateAsync("a3")).State);

        // No drain time: a1 is cut (queued again, its run counted), a2 was never started (queued again as it was).
        await _calls.StopAsync(TimeSpan.Zero);
        StoredCall[] calls = await Task.WhenAll(new[] { "a1", "a2", "a3" }.Select(StateAsync));
        Assert.All(calls, call => Assert.Equal(CallState.Queued, call.State));
        Assert.Equal([1, 0, 0], calls.Select(call => call.Runs));
        Assert.Equal(["a1"], StartedLines());
    }

    public async Task DisposeAsync()
    {
        File.WriteAllText(Release, string.Empty);
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        await _calls.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }
}
