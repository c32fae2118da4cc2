using System.Text;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Tests.Http;

namespace AotFaas.Tests.Operations;

/// <summary>
/// A server with a capturing logger whose functions copy the request body to stderr, byte for byte: a test
/// sends exactly the stderr it wants a real program to write.
/// </summary>
public sealed class StderrLogFixture : IAsyncLifetime
{
    private TestServer? _server;

    public CapturingLogger Log { get; } = new();

    public HttpClient Client => _server!.Client;

    public static Proc[] Functions =>
    [
        // Exit 0 with the body on stderr and nothing on stdout.
        new("to-stderr", "sh", ["-c", "cat >&2"]),
        new("to-stderr-fail", "sh", ["-c", "cat >&2; exit 3"]),
        new("to-stderr-quiet", "sh", ["-c", "cat >&2; exit 3"], logStderr: false),
        new("cat", "cat", []),
        new("out-and-err", "sh", ["-c", "echo 'WARNING disk 91% full' >&2; printf done"]),
        new("killed", "sh", ["-c", "echo 'about to die' >&2; kill -KILL $$"]),
        new("late", "sh", ["-c", "echo 'before the deadline' >&2; exec sleep 30"], timeoutMilliseconds: 300),
    ];

    public async Task InitializeAsync()
        => _server = await TestServer.StartAsync(Functions, new RunLimits { KillGrace = TimeSpan.FromMilliseconds(200) }, loggerFactory: Log);

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <summary>Posts <paramref name="body"/> to <paramref name="function"/> with a new request id; the response and that request's stderr entries.</summary>
    public Task<Run> PostAsync(string function, string body) => PostAsync(function, Encoding.UTF8.GetBytes(body));

    public Task<Run> PostAsync(string function, byte[] body) => PostAsync(Client, Log, function, body);

    /// <summary>Posts to <paramref name="client"/>'s server, and waits for the invocation's line in <paramref name="log"/> (which follows its stderr).</summary>
    public static async Task<Run> PostAsync(HttpClient client, CapturingLogger log, string function, byte[] body)
    {
        string requestId = "stderr-" + Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/function/" + function) { Content = new ByteArrayContent(body) };
        request.Headers.Add("X-Request-Id", requestId);
        using HttpResponseMessage response = await client.SendAsync(request);
        byte[] answer = await response.Content.ReadAsByteArrayAsync();
        CapturingLogger.Entry invocation = Assert.Single(await log.InvocationsAsync(requestId));
        CapturingLogger.Entry[] all = [.. log.Entries.Where(e => Equals(e.State.GetValueOrDefault("RequestId"), requestId))];
        CapturingLogger.Entry[] stderr = [.. all.Where(e => e.Category == StderrLog.Category)];
        return new Run((int)response.StatusCode, answer, requestId, stderr, all, invocation);
    }

    /// <summary>One request: its answer, and what the log holds of it (in the order logged).</summary>
    public sealed record Run(int Status, byte[] Body, string RequestId, CapturingLogger.Entry[] Stderr, CapturingLogger.Entry[] All, CapturingLogger.Entry Invocation)
    {
        /// <summary>The lines of the stderr entries (events 3 and 4).</summary>
        public string[] Lines => [.. Stderr.Where(e => e.EventId.Id is 3 or 4).Select(e => (string)e.State["Line"]!)];

        /// <summary>The entry that counts what was not logged, or null.</summary>
        public CapturingLogger.Entry? NotLogged => Stderr.SingleOrDefault(e => e.EventId.Id == 5);
    }
}
