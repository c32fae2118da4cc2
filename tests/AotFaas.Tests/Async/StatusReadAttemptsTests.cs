using System.Net;
using AotFaas.Async;
using AotFaas.Functions;
using AotFaas.Tests.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace AotFaas.Tests.Async;

/// <summary>How often a status read reads the store: once, whatever the output's size (on SQLite, counted by a store that passes every call on).</summary>
public sealed class StatusReadAttemptsTests : IAsyncLifetime
{
    private const long Budget = 1 << 20;
    private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-status-").FullName;
    private CountingStore _store = null!;
    private AsyncCallService _calls = null!;
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        var settings = new AsyncSettings(Path.Combine(_folder, "calls.db"), TimeSpan.FromHours(1), CallbackPolicy.None);
        _store = new CountingStore(await CallStores.OpenAsync(settings, static _ => null, NullLogger.Instance));
        _calls = new AsyncCallService(_store, settings, NullLogger.Instance, Budget);
        Proc[] functions = [new("big", "cat", [], takesAsync: true, maxOutput: 8 << 20, maxBody: 8 << 20)];
        _server = await TestServer.StartAsync(functions, asyncCalls: _calls);
        await _calls.StartAsync(functions, _server.Server.FindRoute);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _calls.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(Budget - 1)]
    [InlineData(3 * Budget)]
    public async Task A_status_read_reads_the_call_once_even_when_its_output_is_larger_than_all_reads_may_hold(long size)
    {
        byte[] body = new byte[size];
        body.AsSpan().Fill((byte)'a');
        using HttpResponseMessage accepted = await _server.Client.PostAsync("/async-function/big", new ByteArrayContent(body));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        string location = accepted.Headers.Location!.OriginalString;
        for (int i = 0; i < 400 && !(await _server.Client.GetStringAsync(location)).Contains("\"state\":\"done\"", StringComparison.Ordinal); i++)
        {
            await Task.Delay(25);
        }

        int before = _store.Finds;
        using HttpResponseMessage read = await _server.Client.GetAsync(location);
        string json = await read.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Contains($"\"output\":\"{new string('a', (int)size)}\"", json, StringComparison.Ordinal);
        Assert.Equal(1, _store.Finds - before);
        Assert.Equal(0, _calls.StatusReadsHeld.Held);
    }

    /// <summary>The real store, every call passed on; status reads counted.</summary>
    private sealed class CountingStore(ICallStore inner) : ICallStore
    {
        private int _finds;

        public int Finds => Volatile.Read(ref _finds);

        public Task<StoredCall?> FindAsync(string function, string id)
        {
            Interlocked.Increment(ref _finds);
            return inner.FindAsync(function, id);
        }

        public Task<long> OutputSizeAsync(string function, string id) => inner.OutputSizeAsync(function, id);

        public Task<EnqueueResult> EnqueueAsync(StoredCall call, int queueLimit) => inner.EnqueueAsync(call, queueLimit);

        public Task<StoredCall?> ClaimNextAsync(string function, string owner) => inner.ClaimNextAsync(function, owner);

        public Task<IReadOnlyList<StoredCall>> ClaimAsync(string function, string owner, int max) => inner.ClaimAsync(function, owner, max);

        public Task CompleteAsync(StoredCall call) => inner.CompleteAsync(call);

        public Task RequeueAsync(StoredCall call) => inner.RequeueAsync(call);

        public Task<int> RecoverAsync(Func<string?, bool> ownerAlive) => inner.RecoverAsync(ownerAlive);

        public Task<IReadOnlyDictionary<string, (int Queued, long OldestAcceptedAt)>> QueueStatsAsync(IReadOnlyCollection<string> functions) => inner.QueueStatsAsync(functions);

        public Task WatchAsync(Action<string> queued, CancellationToken stopping) => inner.WatchAsync(queued, stopping);

        public Task<IReadOnlyList<StoredCall>> DueCallbacksAsync(long now, int limit) => inner.DueCallbacksAsync(now, limit);

        public Task UpdateCallbackAsync(StoredCall call) => inner.UpdateCallbackAsync(call);

        public Task<int> PurgeAsync(long before) => inner.PurgeAsync(before);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
