using AotFaas.Async;

namespace AotFaas.Tests.Async;

/// <summary>Findings of attack13 (see the report); skipped until fixed.</summary>
public sealed class Attack13Tests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-atk13-").FullName;

    private string File => Path.Combine(_folder, "calls.db");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact(Skip = "bug: a stored call's Host header is replayed on top of request.Host: HTTP_HOST is 'h, h', SERVER_NAME '[h,h]', SERVER_PORT 0 in async runs")]
    public void A_replayed_call_has_one_Host()
    {
        var stored = new CallRequest("POST", "http", "127.0.0.1:3000", "", "", "", "127.0.0.1", 5, [new("Host", "127.0.0.1:3000"), new("X-A", "1")]);
        Microsoft.AspNetCore.Http.HttpContext context = StoredContext.For("f", CallRequest.FromBytes(stored.ToBytes()), CancellationToken.None);
        Assert.Single(context.Request.Headers.Host);
        Assert.Equal("127.0.0.1", context.Request.Host.Host);
        Assert.Equal(3000, context.Request.Host.Port);
    }

    [Fact(Skip = "bug: a done call keeps its whole request (Authorization: Bearer SECRET, signatures) in the store, in a 0644 file, for the retention")]
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
        Assert.DoesNotContain(CallRequest.FromBytes(done.Request).Headers, header => header.Key == "Authorization");
    }

    [Fact(Skip = "bug: ClaimNextAsync is SELECT then UPDATE without 'AND state = 0' or a transaction: two servers on one store (or a SIGHUP swap's overlap) run a call twice, both recording runs = 1")]
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
