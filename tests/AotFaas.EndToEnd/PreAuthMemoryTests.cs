using System.Globalization;
using System.Net;

namespace AotFaas.EndToEnd;

/// <summary>
/// What unauthenticated callers make the server hold: four concurrent 32 MB unsigned bodies to an
/// <c>hmac-sha256</c> function must not raise its resident memory by their size (they are checked with a
/// small part in memory and the rest in an unnamed temporary file). Receiving at loopback speed costs the
/// same as any upload (about 7 MB of collectable buffers per connection, measured on a plain streaming
/// upload); holding the bodies, as before, cost their whole size.
/// </summary>
[Collection(nameof(PublishedBinary))]
public sealed class PreAuthMemoryTests(PublishedBinary binary)
{
    [Fact]
    public async Task Four_concurrent_32_MB_unsigned_bodies_do_not_grow_the_server_by_their_size()
    {
        // 128 MiB of signed max-body makes the server's budget for unverified bodies 128 MiB: all four fit in it.
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"http://127.0.0.1:{port}", "--max-body", "128MiB"]);
        using (HttpResponseMessage warm = await server.Client.PostAsync("/function/hook", new ByteArrayContent(new byte[1 << 20])))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, warm.StatusCode);
        }

        long before = PeakKib(server.ProcessId);
        byte[] body = new byte[32 << 20];
        HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/function/hook") { Content = new ByteArrayContent(body) };
            request.Headers.Add("X-Hub-Signature-256", "sha256=" + new string('0', 64));
            return server.Client.SendAsync(request);
        }));
        long grown = PeakKib(server.ProcessId) - before;

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode));
        foreach (HttpResponseMessage response in responses)
        {
            response.Dispose();
        }

        // 128 MB arrived; an in-memory copy of each body alone would add that much.
        Assert.True(grown < 64 * 1024, $"peak resident memory grew by {grown} KiB");
    }

    /// <summary>VmHWM: the most resident memory the process has had, in KiB.</summary>
    private static long PeakKib(int pid) => long.Parse(
        File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
        CultureInfo.InvariantCulture);
}
