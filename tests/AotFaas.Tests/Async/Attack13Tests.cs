using AotFaas.Async;

namespace AotFaas.Tests.Async;

/// <summary>Found by attacking asynchronous calls from outside: a replayed request, credentials at rest, two servers on one store.</summary>
public sealed class Attack13Tests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-atk13-").FullName;

    private string File => Path.Combine(_folder, "calls.db");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void A_replayed_call_has_one_Host()
    {
        var stored = new CallRequest("POST", "http", "127.0.0.1:3000", "", "", "", "127.0.0.1", 5, [new("Host", "127.0.0.1:3000"), new("X-A", "1")]) { LocalPort = 3000 };
        Microsoft.AspNetCore.Http.HttpContext context = StoredContext.For("f", CallRequest.FromBytes(stored.ToBytes()), CancellationToken.None);
        Assert.Single(context.Request.Headers.Host);
        Assert.Equal("127.0.0.1", context.Request.Host.Host);
        Assert.Equal(3000, context.Request.Host.Port);
        Assert.Equal(3000, context.Connection.LocalPort);
    }

    [Fact]
    public async Task A_done_call_keeps_no_credentials()
    {
        await using SqliteCallStore store = SqliteCallStore.Open(File);
        var call = new StoredCall
        {
            Id = "c",
            Function = "f",
            AcceptedAt = 1,
            Request = new CallRequest("POST", "http", "h", "", "", "", null, 0, [new("Authorization", "Bearer the-function-secret")]).ToBytes(),
            Body = [1],
        };
        Assert.Equal(EnqueueResult.Accepted, await store.EnqueueAsync(call, 10));
        StoredCall claimed = (await store.ClaimNextAsync("f", "me"))!;
        claimed.State = CallState.Done;
        claimed.EndedAt = 2;
        claimed.Status = 200;
        await store.CompleteAsync(claimed);
        StoredCall done = (await store.FindAsync("f", "c"))!;
        Assert.Empty(done.Request);
        Assert.Empty(done.Body);
    }

    [Fact]
    public async Task Two_stores_on_one_file_never_claim_the_same_call()
    {
        await using SqliteCallStore a = SqliteCallStore.Open(File);
        await using SqliteCallStore b = SqliteCallStore.Open(File);
        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(EnqueueResult.Accepted, await a.EnqueueAsync(new StoredCall { Id = $"c{i}", Function = "f", AcceptedAt = i, Request = new CallRequest("POST", "http", "h", "", "", "", null, 0, []).ToBytes(), Body = [] }, 1000));
        }

        async Task<List<string>> Drain(SqliteCallStore store, string owner)
        {
            var ids = new List<string>();
            while (await store.ClaimNextAsync("f", owner) is StoredCall call)
            {
                ids.Add(call.Id);
            }

            return ids;
        }

        List<string>[] claimed = await Task.WhenAll(Task.Run(() => Drain(a, "a")), Task.Run(() => Drain(b, "b")));
        Assert.Empty(claimed[0].Intersect(claimed[1]));
    }
}
