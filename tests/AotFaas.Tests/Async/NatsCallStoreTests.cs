using System.Text;
using AotFaas.Async;
using AotFaas.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;

namespace AotFaas.Tests.Async;

/// <summary>
/// The NATS JetStream store, on a real nats-server (started by the fixture, JetStream on, its own folder): what
/// several servers sharing one stream see. Each call is taken by one of them; a call whose server dies is given to
/// another once the ack wait passes; statuses are in the bucket; callbacks wait their pause in JetStream.
/// </summary>
public sealed class NatsCallStoreTests(NatsServer nats) : IClassFixture<NatsServer>, IAsyncLifetime
{
    private readonly List<NatsCallStore> _stores = [];
    private readonly NatsAddress _address = NatsAddress.Parse(nats.NewStore());

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (NatsCallStore store in _stores)
        {
            await store.DisposeAsync();
        }
    }

    private async Task<NatsCallStore> OpenAsync(TimeSpan? ackWait = null, TimeSpan? retention = null)
    {
        NatsCallStore store = await NatsCallStore.OpenAsync(_address, retention ?? TimeSpan.FromHours(1), static _ => null, NullLogger.Instance, ackWait);
        _stores.Add(store);
        return store;
    }

    private static StoredCall Call(string id, string function = "f", string? callback = null, int bodySize = 4, long? acceptedAt = null) => new()
    {
        Id = id,
        Function = function,
        AcceptedAt = acceptedAt ?? SqliteCallStore.Now(),
        Request = new CallRequest("POST", "http", "h", "/p", "/p?q=1", "?q=1", "127.0.0.1", 5, [new("X-A", "1"), new("X-A", "2")]).ToBytes(),
        Body = bodySize == 4 ? [0, 1, 2, 255] : new byte[bodySize],
        CallbackUrl = callback,
    };

    [Fact]
    public async Task A_call_is_queued_then_running_then_done_and_read_back_at_each_step()
    {
        NatsCallStore store = await OpenAsync();
        Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("a", acceptedAt: 1_000), 10));
        Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("b"), 10));
        Assert.Equal(CallState.Queued, (await store.FindAsync("f", "a"))!.State);
        Assert.Null(await store.FindAsync("g", "a"));
        Assert.Null(await store.FindAsync("f", "nope"));
        Assert.Equal((2, 1_000L), (await store.QueueStatsAsync(["f"]))["f"]);

        StoredCall claimed = (await store.ClaimNextAsync("f", "me"))!;
        Assert.Equal("a", claimed.Id);
        Assert.Equal(1, claimed.Runs);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, claimed.Body);
        Assert.Equal(["1", "2"], CallRequest.FromBytes(claimed.Request).Headers.Where(h => h.Key == "X-A").Select(h => h.Value));
        Assert.Equal(CallState.Running, (await store.FindAsync("f", "a"))!.State);

        claimed.State = CallState.Done;
        claimed.Status = 200;
        claimed.Exit = "0";
        claimed.Output = Encoding.UTF8.GetBytes("out");
        claimed.EndedAt = SqliteCallStore.Now();
        await store.CompleteAsync(claimed);
        StoredCall done = (await store.FindAsync("f", "a"))!;
        Assert.Equal(CallState.Done, done.State);
        Assert.Equal("out", Encoding.UTF8.GetString(done.Output!));
        Assert.Empty(done.Body);

        Assert.Equal("b", (await store.ClaimNextAsync("f", "me"))!.Id);
        Assert.Null(await store.ClaimNextAsync("f", "me"));
    }

    [Fact]
    public async Task The_queue_is_bounded_per_function_even_for_concurrent_accepts_and_ids_are_unique()
    {
        NatsCallStore store = await OpenAsync();
        EnqueueResult[] results = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Task.Run(() => store.EnqueueAsync(Call("c" + i), 50))));
        Assert.Equal(50, results.Count(r => r == EnqueueResult.Accepted));
        Assert.Equal(10, results.Count(r => r == EnqueueResult.QueueFull));
        Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("c1", function: "g"), 50));
        Assert.Equal(EnqueueResult.DuplicateId, await store.EnqueueAsync(Call("c1", function: "g"), 50));

        // A call taken to run no longer waits: there is room again; and its id stays taken.
        StoredCall taken = (await store.ClaimNextAsync("f", "me"))!;
        Assert.Equal(EnqueueResult.DuplicateId, await store.EnqueueAsync(Call(taken.Id), 50));
        Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("another"), 50));
    }

    [Fact]
    public async Task Servers_sharing_a_stream_take_each_call_once()
    {
        NatsCallStore first = await OpenAsync();
        NatsCallStore second = await OpenAsync();
        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(EnqueueResult.Accepted, await (i % 2 == 0 ? first : second).EnqueueAsync(Call("x" + i), 1000));
        }

        async Task<List<string>> DrainAsync(NatsCallStore store)
        {
            var taken = new List<string>();
            int failures = 0;
            while (true)
            {
                StoredCall? call;
                try
                {
                    call = await store.ClaimNextAsync("f", "me");
                }
                catch (IOException) when (++failures <= 3)
                {
                    // A claim may time out (5 s) on a loaded machine, as the dispatcher's would, which tries again; once
                    // (under CI's load) a fetch had no answer in time. What is tested is that each call is taken once.
                    continue;
                }

                if (call is null)
                {
                    break;
                }

                taken.Add(call.Id);
                call.State = CallState.Done;
                call.EndedAt = SqliteCallStore.Now();
                await store.CompleteAsync(call);
            }

            return taken;
        }

        List<string>[] both = await Task.WhenAll(Task.Run(() => DrainAsync(first)), Task.Run(() => DrainAsync(second)));
        Assert.NotEmpty(both[0]);
        Assert.NotEmpty(both[1]);
        Assert.Equal(200, both[0].Count + both[1].Count);
        Assert.Equal(200, both[0].Concat(both[1]).Distinct().Count());
    }

    [Fact]
    public async Task A_call_held_by_a_server_that_died_goes_to_another_after_the_ack_wait_and_one_given_back_at_once()
    {
        TimeSpan ackWait = TimeSpan.FromSeconds(2);
        NatsCallStore dying = await OpenAsync(ackWait);
        NatsCallStore other = await OpenAsync(ackWait);
        await dying.EnqueueAsync(Call("held"), 10);
        await dying.EnqueueAsync(Call("given-back"), 10);
        StoredCall held = (await dying.ClaimNextAsync("f", "me"))!;
        StoredCall givenBack = (await dying.ClaimNextAsync("f", "me"))!;
        await dying.RequeueAsync(givenBack);
        Assert.Equal(CallState.Queued, (await other.FindAsync("f", "given-back"))!.State);
        Assert.Equal("given-back", (await other.ClaimNextAsync("f", "me"))!.Id);

        await dying.AbandonAsync();
        _stores.Remove(dying);
        Assert.Null(await other.ClaimNextAsync("f", "me"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        StoredCall? again = null;
        while (again is null && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(100);
            again = await other.ClaimNextAsync("f", "me");
        }

        Assert.NotNull(again);
        Assert.Equal(held.Id, again.Id);
        Assert.Equal(2, again.Runs);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_server_holding_a_call_longer_than_the_ack_wait_keeps_it()
    {
        TimeSpan ackWait = TimeSpan.FromSeconds(1.5);
        NatsCallStore holder = await OpenAsync(ackWait);
        NatsCallStore other = await OpenAsync(ackWait);
        await holder.EnqueueAsync(Call("long"), 10);
        StoredCall running = (await holder.ClaimNextAsync("f", "me"))!;
        for (int i = 0; i < 8; i++)
        {
            await Task.Delay(500);
            Assert.Null(await other.ClaimNextAsync("f", "me"));
        }

        running.State = CallState.Done;
        running.EndedAt = SqliteCallStore.Now();
        await holder.CompleteAsync(running);
        Assert.Equal(1, (await other.FindAsync("f", "long"))!.Runs);
    }

    [Fact]
    public async Task A_callback_waits_its_pause_in_JetStream_and_goes_once_delivered()
    {
        NatsCallStore store = await OpenAsync();
        await store.EnqueueAsync(Call("cb", callback: "http://127.0.0.1:1/"), 10);
        StoredCall call = (await store.ClaimNextAsync("f", "me"))!;
        call.State = CallState.Done;
        call.Status = 200;
        call.Output = [1, 2, 3];
        call.EndedAt = SqliteCallStore.Now();
        await store.CompleteAsync(call);

        StoredCall due = Assert.Single(await store.DueCallbacksAsync(SqliteCallStore.Now(), 16));
        Assert.Equal(new byte[] { 1, 2, 3 }, due.Output);
        Assert.Equal(0, due.CallbackAttempts);
        due.CallbackAttempts = 1;
        due.CallbackDueAt = SqliteCallStore.Now() + 1500;
        await store.UpdateCallbackAsync(due);
        Assert.Empty(await store.DueCallbacksAsync(SqliteCallStore.Now(), 16));
        await Task.Delay(2000);
        StoredCall retried = Assert.Single(await store.DueCallbacksAsync(SqliteCallStore.Now(), 16));
        Assert.Equal(1, retried.CallbackAttempts);
        retried.CallbackAttempts = 2;
        retried.Callback = CallbackState.Delivered;
        await store.UpdateCallbackAsync(retried);
        Assert.Equal(CallbackState.Delivered, (await store.FindAsync("f", "cb"))!.Callback);
        await Task.Delay(200);
        Assert.Empty(await store.DueCallbacksAsync(SqliteCallStore.Now(), 16));
    }

    [Fact]
    public async Task A_call_larger_than_the_servers_max_payload_is_refused_and_an_unreadable_message_is_set_aside()
    {
        NatsCallStore store = await OpenAsync();
        Assert.Equal(EnqueueResult.TooLarge, await store.EnqueueAsync(Call("big", bodySize: (int)store.MaxPayload), 10));
        Assert.Null(await store.FindAsync("f", "big"));

        await using (var client = Client())
        {
            await client.PublishAsync($"{store.Stream}.calls.f.junk", new byte[] { 9, 9, 9 });
            await client.PingAsync();
        }

        await store.EnqueueAsync(Call("fine"), 10);
        await Task.Delay(100);
        Assert.Equal("fine", (await store.ClaimNextAsync("f", "me"))!.Id);
    }

    [Fact]
    public async Task An_ended_call_is_forgotten_after_the_retention()
    {
        NatsCallStore store = await OpenAsync(retention: TimeSpan.FromSeconds(1));
        await store.EnqueueAsync(Call("short"), 10);
        StoredCall call = (await store.ClaimNextAsync("f", "me"))!;
        call.State = CallState.Done;
        call.EndedAt = SqliteCallStore.Now();
        await store.CompleteAsync(call);
        Assert.NotNull(await store.FindAsync("f", "short"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (await store.FindAsync("f", "short") is not null && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(100);
        }

        Assert.Null(await store.FindAsync("f", "short"));
    }

    [Fact]
    public void Names_become_tokens_that_never_meet()
    {
        Assert.Equal("job-1_x", NatsCallStore.Token("job-1_x"));
        Assert.Equal("a=2Eb", NatsCallStore.Token("a.b"));
        Assert.Equal("=3D2E", NatsCallStore.Token("=2E"));
        Assert.NotEqual(NatsCallStore.Token("a.b"), NatsCallStore.Token("a=2Eb"));
        Assert.Equal("=C3=A9", NatsCallStore.Token("é"));
        Assert.Throws<FormatException>(() => NatsAddress.Parse("nats://127.0.0.1:4222/"));
        Assert.Throws<FormatException>(() => NatsAddress.Parse("nats://127.0.0.1:4222/a.b"));
        Assert.Throws<FormatException>(() => NatsAddress.Parse("nats://user:secret@127.0.0.1:4222/s"));
        Assert.Equal(new NatsAddress("nats://127.0.0.1:4222", "calls"), NatsAddress.Parse("nats://127.0.0.1/calls"));
    }

    private NatsConnection Client() => new(NatsOpts.Default with { Url = $"nats://127.0.0.1:{nats.Port}" });

    /// <summary>The test's stream, made beforehand as an operator would, with the given window and age limit.</summary>
    private Task OperatorStreamAsync(NATS.Client.JetStream.NatsJSContext js, TimeSpan? duplicateWindow = null, TimeSpan? maxAge = null)
    {
        var config = new NATS.Client.JetStream.Models.StreamConfig(_address.Stream, [$"{_address.Stream}.calls.>", $"{_address.Stream}.callbacks.>"])
        {
            Retention = NATS.Client.JetStream.Models.StreamConfigRetention.Workqueue,
        };
        if (duplicateWindow is TimeSpan window)
        {
            config.DuplicateWindow = window;
        }

        if (maxAge is TimeSpan age)
        {
            config.MaxAge = age;
        }

        return js.CreateStreamAsync(config).AsTask();
    }

    private static async Task EndAsync(NatsCallStore store, StoredCall call)
    {
        call.State = CallState.Done;
        call.Status = 200;
        call.EndedAt = SqliteCallStore.Now();
        await store.CompleteAsync(call);
    }

    private static async Task<StoredCall?> ClaimWithinAsync(NatsCallStore store, TimeSpan within)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < within)
        {
            try
            {
                if (await store.ClaimNextAsync("f", "me") is StoredCall call)
                {
                    return call;
                }
            }
            catch (IOException)
            {
                // Still reconnecting.
            }

            await Task.Delay(100);
        }

        return null;
    }

    [Fact]
    public async Task With_NATS_down_operations_fail_at_once_and_a_call_whose_end_was_not_recorded_is_given_out_again()
    {
        // A NATS server of this test's own, stopped and started again on the same port and store folder.
        using var own = new NatsServer();
        var address = NatsAddress.Parse(own.NewStore());
        TimeSpan ackWait = TimeSpan.FromSeconds(2);
        await using NatsCallStore store = await NatsCallStore.OpenAsync(address, TimeSpan.FromHours(1), static _ => null, NullLogger.Instance, ackWait);
        await store.EnqueueAsync(Call("a"), 10);
        StoredCall running = (await store.ClaimNextAsync("f", "me"))!;

        own.Stop();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAsync<IOException>(() => store.EnqueueAsync(Call("b"), 10));
        await Assert.ThrowsAsync<IOException>(() => store.FindAsync("f", "a"));
        await Assert.ThrowsAsync<IOException>(() => EndAsync(store, running));
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(12));

        // Its end was not recorded: no longer held (no heartbeat hides it), JetStream gives it out again.
        own.Start();
        StoredCall? again = await ClaimWithinAsync(store, TimeSpan.FromSeconds(20));
        Assert.NotNull(again);
        Assert.Equal("a", again.Id);
        Assert.Equal(2, again.Runs);
        await EndAsync(store, again);
        Assert.Equal(CallState.Done, (await store.FindAsync("f", "a"))!.State);
    }

    [Fact]
    public async Task A_call_whose_end_is_recorded_is_not_run_again_when_its_server_dies_before_acknowledging()
    {
        TimeSpan ackWait = TimeSpan.FromSeconds(2);
        NatsCallStore dying = await OpenAsync(ackWait);
        NatsCallStore other = await OpenAsync(ackWait);
        await dying.EnqueueAsync(Call("ended"), 10);
        StoredCall call = (await dying.ClaimNextAsync("f", "me"))!;

        // The end reaches the bucket, then the server dies before its acknowledgement.
        call.State = CallState.Done;
        call.Status = 200;
        call.Output = "out"u8.ToArray();
        call.EndedAt = SqliteCallStore.Now();
        await using (var client = Client())
        {
            var kv = new NATS.Client.KeyValueStore.NatsKVContext(new NATS.Client.JetStream.NatsJSContext(client));
            NATS.Client.KeyValueStore.INatsKVStore bucket = await kv.GetStoreAsync(dying.Stream + "-calls");
            await bucket.PutAsync("f.ended", CallRecord.Encode(call, withRequest: false), NatsRawSerializer<byte[]>.Default);
        }

        await dying.AbandonAsync();
        _stores.Remove(dying);
        Assert.Null(await ClaimWithinAsync(other, ackWait * 3));
        StoredCall read = (await other.FindAsync("f", "ended"))!;
        Assert.Equal(CallState.Done, read.State);
        Assert.Equal(1, read.Runs);
    }

    [Fact]
    public async Task An_id_still_queued_is_refused_past_the_duplicate_window()
    {
        // A stream made by an operator, with a duplicate window of a second.
        await using (var client = Client())
        {
            await OperatorStreamAsync(new NATS.Client.JetStream.NatsJSContext(client), duplicateWindow: TimeSpan.FromSeconds(1));
        }

        NatsCallStore first = await OpenAsync();
        NatsCallStore second = await OpenAsync();
        Assert.Equal(EnqueueResult.Accepted, await first.EnqueueAsync(Call("same"), 10));
        await Task.Delay(1500);
        Assert.Equal(EnqueueResult.DuplicateId, await second.EnqueueAsync(Call("same"), 10));
        Assert.Equal(EnqueueResult.DuplicateId, await first.EnqueueAsync(Call("same"), 10));
    }

    [Fact]
    public async Task A_stream_that_would_drop_accepted_calls_is_refused_and_a_lost_stream_is_made_again()
    {
        await using (var client = Client())
        {
            var js = new NATS.Client.JetStream.NatsJSContext(client);
            await OperatorStreamAsync(js, maxAge: TimeSpan.FromSeconds(5));
            IOException refused = await Assert.ThrowsAsync<IOException>(() => OpenAsync());
            Assert.Contains("drops old messages", refused.Message, StringComparison.Ordinal);

            // Without the limit it is taken; then NATS loses it, and the next operations make it again.
            await js.DeleteStreamAsync(_address.Stream);
            NatsCallStore store = await OpenAsync();
            await js.DeleteStreamAsync(_address.Stream);
            await Assert.ThrowsAsync<IOException>(() => store.EnqueueAsync(Call("lost"), 10));
            EnqueueResult result = EnqueueResult.QueueFull;
            for (int i = 0; i < 50 && result != EnqueueResult.Accepted; i++)
            {
                await Task.Delay(200);
                try
                {
                    result = await store.EnqueueAsync(Call("again" + i), 10);
                }
                catch (IOException)
                {
                }
            }

            Assert.Equal(EnqueueResult.Accepted, result);
            Assert.NotNull(await store.ClaimNextAsync("f", "me"));
        }
    }
}
