using AotFaas.Async;

namespace AotFaas.Tests.Async;

/// <summary>The SQLite store of asynchronous calls, on a real file: what is stored survives a reopen, the queue is FIFO per function and bounded, a running call left by a dead server is queued again.</summary>
public sealed class SqliteCallStoreTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-store-").FullName;

    private string File => Path.Combine(_folder, "calls.db");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static StoredCall Call(string id, string function = "f", long acceptedAt = 1, string? callback = null) => new()
    {
        Id = id,
        Function = function,
        AcceptedAt = acceptedAt,
        Request = new CallRequest("POST", "http", "h", "/p", "/p?q=1", "?q=1", "127.0.0.1", 5, [new("X-A", "1"), new("X-A", "2")]).ToBytes(),
        Body = [0, 1, 2, 255],
        CallbackUrl = callback,
    };

    [Fact]
    public async Task A_calls_output_size_is_told_without_its_output_and_its_status_leaves_the_body_out()
    {
        await using SqliteCallStore store = SqliteCallStore.Open(File);
        Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("a"), 10));
        Assert.Equal(0, await store.OutputSizeAsync("f", "a"));
        Assert.Equal(0, await store.OutputSizeAsync("g", "a"));
        Assert.Equal(0, await store.OutputSizeAsync("f", "nope"));
        StoredCall status = (await store.FindAsync("f", "a"))!;
        Assert.Equal((CallState.Queued, 0, 0), (status.State, status.Body.Length, status.Request.Length));

        StoredCall claimed = (await store.ClaimNextAsync("f", "me"))!;
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, claimed.Body);
        claimed.State = CallState.Done;
        claimed.Status = 200;
        claimed.EndedAt = 100;
        claimed.Output = new byte[70_001];
        await store.CompleteAsync(claimed);
        Assert.Equal(70_001, await store.OutputSizeAsync("f", "a"));
        Assert.Equal(0, await store.OutputSizeAsync("g", "a"));
        Assert.Equal(70_001, (await store.FindAsync("f", "a"))!.Output!.Length);
    }

    [Fact]
    public async Task Calls_are_claimed_oldest_first_per_function_and_survive_a_reopen()
    {
        await using (SqliteCallStore store = SqliteCallStore.Open(File))
        {
            Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("b", acceptedAt: 20), 10));
            Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("a", acceptedAt: 10), 10));
            Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("other", function: "g"), 10));
        }

        await using SqliteCallStore reopened = SqliteCallStore.Open(File);
        StoredCall? first = await reopened.ClaimNextAsync("f", "me");
        Assert.Equal("a", first!.Id);
        Assert.Equal(CallState.Running, first.State);
        Assert.Equal(1, first.Runs);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, first.Body);
        CallRequest request = CallRequest.FromBytes(first.Request);
        Assert.Equal(["1", "2"], request.Headers.Where(h => h.Key == "X-A").Select(h => h.Value));
        Assert.Equal("/p?q=1", request.Target);
        Assert.Equal("b", (await reopened.ClaimNextAsync("f", "me"))!.Id);
        Assert.Null(await reopened.ClaimNextAsync("f", "me"));
        Assert.Equal("other", (await reopened.ClaimNextAsync("g", "me"))!.Id);
    }

    [Fact]
    public async Task Several_calls_are_claimed_at_once_oldest_first_and_one_given_back_is_queued_as_it_was()
    {
        await using SqliteCallStore store = SqliteCallStore.Open(File);
        for (int i = 5; i >= 1; i--)
        {
            Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("c" + i, acceptedAt: i), 10));
        }

        IReadOnlyList<StoredCall> first = await store.ClaimAsync("f", "me", 3);
        Assert.Equal(["c1", "c2", "c3"], first.Select(call => call.Id));
        Assert.All(first, call => Assert.Equal((CallState.Running, 1), (call.State, call.Runs)));
        Assert.Equal(CallState.Running, (await store.FindAsync("f", "c3"))!.State);
        Assert.Equal(["c4", "c5"], (await store.ClaimAsync("f", "me", 10)).Select(call => call.Id));
        Assert.Empty(await store.ClaimAsync("f", "me", 10));

        // Taken ahead and never started: back in the queue with its run not counted; first again, being the oldest.
        StoredCall ahead = first[1];
        ahead.Runs--;
        await store.RequeueAsync(ahead);
        StoredCall back = (await store.FindAsync("f", "c2"))!;
        Assert.Equal((CallState.Queued, 0), (back.State, back.Runs));
        Assert.Equal((1, 2L), (await store.QueueStatsAsync(["f"]))["f"]);
        Assert.Equal(1, (await store.ClaimNextAsync("f", "me"))!.Runs);
    }

    [Fact]
    public async Task Writes_queued_together_share_a_commit_and_each_sees_its_own_outcome()
    {
        await using SqliteCallStore store = SqliteCallStore.Open(File);
        for (int i = 1; i <= 20; i++)
        {
            await store.EnqueueAsync(Call("c" + i, acceptedAt: i), 100);
        }

        IReadOnlyList<StoredCall> claimed = await store.ClaimAsync("f", "me", 10);

        // Ends and the next claims, queued without waiting: the store commits them together, in order.
        var writes = new List<Task>();
        foreach (StoredCall call in claimed)
        {
            call.State = CallState.Done;
            call.Status = 200;
            call.EndedAt = 100;
            call.Output = System.Text.Encoding.ASCII.GetBytes(call.Id);
            writes.Add(store.CompleteAsync(call));
        }

        Task<IReadOnlyList<StoredCall>> next = store.ClaimAsync("f", "me", 4);
        Task<StoredCall?> one = store.ClaimNextAsync("f", "me");
        await Task.WhenAll(writes);
        Assert.Equal(["c11", "c12", "c13", "c14"], (await next).Select(call => call.Id));
        Assert.Equal("c15", (await one)!.Id);
        foreach (StoredCall call in claimed)
        {
            StoredCall read = (await store.FindAsync("f", call.Id))!;
            Assert.Equal((CallState.Done, call.Id), (read.State, System.Text.Encoding.ASCII.GetString(read.Output!)));
        }
    }

    [Fact]
    public async Task Two_stores_on_one_file_claiming_several_at_once_never_claim_the_same_call()
    {
        await using SqliteCallStore a = SqliteCallStore.Open(File);
        await using SqliteCallStore b = SqliteCallStore.Open(File);
        for (int i = 0; i < 300; i++)
        {
            await a.EnqueueAsync(Call("c" + i, acceptedAt: i), 1000);
        }

        async Task<List<string>> Drain(SqliteCallStore store, string owner, int max)
        {
            var ids = new List<string>();
            while (await store.ClaimAsync("f", owner, max) is { Count: > 0 } calls)
            {
                ids.AddRange(calls.Select(call => call.Id));
            }

            return ids;
        }

        List<string>[] claimed = await Task.WhenAll(Task.Run(() => Drain(a, "a", 4)), Task.Run(() => Drain(b, "b", 7)));
        Assert.Empty(claimed[0].Intersect(claimed[1]));
        Assert.Equal(300, claimed[0].Count + claimed[1].Count);
    }

    [Fact]
    public async Task The_queue_is_bounded_per_function_and_ids_are_unique()
    {
        await using SqliteCallStore store = SqliteCallStore.Open(File);
        Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("1"), 2));
        Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("2"), 2));
        Assert.Equal(EnqueueResult.QueueFull, await store.EnqueueAsync(Call("3"), 2));
        Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("3", function: "g"), 2));
        Assert.Equal(EnqueueResult.DuplicateId, await store.EnqueueAsync(Call("1", function: "g"), 2));

        // A running call no longer waits: there is room again.
        await store.ClaimNextAsync("f", "me");
        Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(Call("4"), 2));
    }

    [Fact]
    public async Task Concurrent_accepts_are_all_stored_and_counted_against_the_bound_together()
    {
        await using SqliteCallStore store = SqliteCallStore.Open(File);
        EnqueueResult[] results = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => Task.Run(() => store.EnqueueAsync(Call("c" + i), 250))));
        Assert.Equal(250, results.Count(r => r == EnqueueResult.Accepted));
        Assert.Equal(50, results.Count(r => r == EnqueueResult.QueueFull));
        IReadOnlyDictionary<string, (int Queued, long OldestAcceptedAt)> stats = await store.QueueStatsAsync(["f"]);
        Assert.Equal(250, stats["f"].Queued);
    }

    [Fact]
    public async Task A_call_left_running_is_queued_again_and_its_end_is_kept_with_a_due_callback()
    {
        await using (SqliteCallStore store = SqliteCallStore.Open(File))
        {
            await store.EnqueueAsync(Call("x", callback: "http://127.0.0.1:9/cb"), 10);
            await store.EnqueueAsync(Call("y", acceptedAt: 2), 10);
            await store.ClaimNextAsync("f", "dead");
            await store.ClaimNextAsync("f", "alive");
        }

        // Only the calls of a server that is gone go back to the queue; a live one (a server being replaced) keeps its own.
        await using SqliteCallStore after = SqliteCallStore.Open(File);
        Assert.Equal(1, await after.RecoverAsync(owner => owner == "alive"));
        Assert.Equal(CallState.Running, (await after.FindAsync("f", "y"))!.State);
        StoredCall again = (await after.ClaimNextAsync("f", "me"))!;
        Assert.Equal(2, again.Runs);
        again.State = CallState.Done;
        again.Status = 500;
        again.Exit = "3";
        again.ContentType = "text/plain";
        again.Output = "bad\n"u8.ToArray();
        again.EndedAt = 1000;
        await after.CompleteAsync(again);

        StoredCall read = (await after.FindAsync("f", "x"))!;
        Assert.Equal(CallState.Done, read.State);
        Assert.Equal(500, read.Status);
        Assert.Equal("bad\n"u8.ToArray(), read.Output);
        Assert.Empty(read.Body);
        Assert.Null(await after.FindAsync("g", "x"));
        Assert.Equal(CallbackState.Pending, read.Callback);
        Assert.Equal("x", Assert.Single(await after.DueCallbacksAsync(1000, 10)).Id);
        Assert.Empty(await after.DueCallbacksAsync(999, 10));

        // Not purged while its callback is pending; purged once it is settled.
        Assert.Equal(0, await after.PurgeAsync(5000));
        read.Callback = CallbackState.Delivered;
        await after.UpdateCallbackAsync(read);
        Assert.Equal(1, await after.PurgeAsync(5000));
        Assert.Null(await after.FindAsync("f", "x"));
    }

    [Fact]
    public void A_file_that_is_not_a_store_is_a_clear_error()
    {
        System.IO.File.WriteAllText(File, "not a database, just text that is long enough to be read as a header....................");
        IOException e = Assert.Throws<IOException>(() => SqliteCallStore.Open(File));
        Assert.Contains(File, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_of_the_first_layout_is_moved_to_two_tables_with_its_calls()
    {
        // The first version's one table, with a queued call and a done one, written as that version wrote them.
        await (SqliteCallStore.Open(Path.Combine(_folder, "provider.db"))).DisposeAsync();
        Assert.Equal(SQLitePCL.raw.SQLITE_OK, SQLitePCL.raw.sqlite3_open(File, out SQLitePCL.sqlite3 db));
        using (db)
        {
            byte[] request = Call("q").Request;
            string hex = Convert.ToHexString(request);
            int rc = SQLitePCL.raw.sqlite3_exec(db, $"""
                CREATE TABLE calls (id TEXT PRIMARY KEY, function TEXT NOT NULL, state INTEGER NOT NULL, accepted_at INTEGER NOT NULL,
                  started_at INTEGER, ended_at INTEGER, runs INTEGER NOT NULL DEFAULT 0, request BLOB NOT NULL, body BLOB NOT NULL,
                  callback_url TEXT, status INTEGER, exit TEXT, content_type TEXT, output BLOB, callback_state INTEGER NOT NULL DEFAULT 0,
                  callback_attempts INTEGER NOT NULL DEFAULT 0, callback_due_at INTEGER, owner TEXT) WITHOUT ROWID;
                CREATE INDEX calls_queue ON calls (function, state, accepted_at);
                CREATE INDEX calls_callbacks ON calls (callback_state, callback_due_at);
                CREATE INDEX calls_ended ON calls (state, ended_at);
                INSERT INTO calls (id, function, state, accepted_at, request, body) VALUES ('q', 'f', 0, 5, x'{hex}', x'0102');
                INSERT INTO calls (id, function, state, accepted_at, ended_at, runs, request, body, status, exit, output)
                  VALUES ('d', 'f', 2, 1, 2, 1, x'', x'', 200, '0', x'6f6b');
                """, null, null, out string? error);
            Assert.True(rc == SQLitePCL.raw.SQLITE_OK, error);
        }

        await using SqliteCallStore store = SqliteCallStore.Open(File);
        StoredCall done = (await store.FindAsync("f", "d"))!;
        Assert.Equal(CallState.Done, done.State);
        Assert.Equal("ok"u8.ToArray(), done.Output);
        StoredCall queued = (await store.ClaimNextAsync("f", "me"))!;
        Assert.Equal("q", queued.Id);
        Assert.Equal(new byte[] { 1, 2 }, queued.Body);
        Assert.Equal("/p?q=1", CallRequest.FromBytes(queued.Request).Target);
        Assert.Equal(EnqueueResult.DuplicateId, await store.EnqueueAsync(Call("d"), 10));
    }
}
