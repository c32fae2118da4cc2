using System.Net;
using System.Text;
using AotFaas.Async;
using AotFaas.Functions;
using AotFaas.Tests.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace AotFaas.Tests.Async;

/// <summary>
/// Asynchronous calls in process, on a real store and real sockets: what accepting may hold. Run on SQLite here and on
/// NATS JetStream by <see cref="NatsAsyncServerTests"/>.
/// </summary>
public class AsyncServerTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-async-").FullName;
    private AsyncCallService _calls = null!;
    private TestServer _server = null!;

    /// <summary>The <c>--async-store</c> the tests keep their calls in.</summary>
    protected virtual string Store(string folder) => Path.Combine(folder, "calls.db");

    public async Task InitializeAsync()
    {
        var settings = new AsyncSettings(Store(_folder), TimeSpan.FromHours(1), CallbackPolicy.None);
        _calls = new AsyncCallService(await CallStores.OpenAsync(settings, static _ => null, NullLogger.Instance), settings, NullLogger.Instance);
        string worker = Path.Combine(_folder, "worker.py");
        await File.WriteAllTextAsync(worker, WorkerScript);
        Proc[] functions =
        [
            new("job", "cat", [], takesAsync: true, timeoutMilliseconds: 3000),
            new("warm", "python3", [worker], mode: FunctionMode.Http, takesAsync: true, methods: ["POST"]),
        ];
        _server = await TestServer.StartAsync(functions, asyncCalls: _calls);
        _calls.AttachMetrics(_server.Server.Meter);
        await _calls.StartAsync(functions, _server.Server.FindRoute);
    }

    /// <summary>A worker that answers with the method, path, query, a header and the body it got.</summary>
    private const string WorkerScript = """
        import os
        from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *a): pass
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                out = ("%s %s %s|" % (self.command, self.path, self.headers.get("X-Try"))).encode() + body
                self.send_response(201)
                self.send_header("Content-Type", "text/x-warm")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
        ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
        """;

    [Fact]
    public async Task An_asynchronous_call_to_a_warm_function_goes_to_its_worker_as_the_request_came()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/async-function/warm/a%20b?q=1") { Content = new StringContent("payload") };
        request.Headers.Add("X-Try", "yes");
        using HttpResponseMessage accepted = await _server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        string id = accepted.Headers.GetValues("X-Call-Id").Single();
        System.Text.Json.JsonElement status = default;
        for (int i = 0; i < 200; i++)
        {
            string json = await _server.Client.GetStringAsync($"/async-function/warm/calls/{id}");
            status = System.Text.Json.JsonDocument.Parse(json).RootElement.Clone();
            if (status.GetProperty("state").GetString() == "done")
            {
                break;
            }

            await Task.Delay(50);
        }

        Assert.Equal("done", status.GetProperty("state").GetString());
        Assert.Equal(201, status.GetProperty("status").GetInt32());
        Assert.Equal("text/x-warm", status.GetProperty("contentType").GetString());
        Assert.Equal("POST /a%20b?q=1 yes|payload", status.GetProperty("output").GetString());
    }

    [Fact]
    public async Task A_function_with_nothing_queued_reads_0_not_nothing()
    {
        string metrics = await _server.Client.GetStringAsync("/metrics");
        Assert.Contains("aotfaas_async_queued{function=\"job\"} 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("aotfaas_async_oldest_age_seconds{function=\"job\"} 0\n", metrics, StringComparison.Ordinal);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _calls.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task At_most_a_few_bodies_are_read_at_once_and_a_body_still_arriving_at_the_deadline_gets_504()
    {
        Uri server = _server.Client.BaseAddress!;
        var held = new List<System.Net.Sockets.Socket>();
        try
        {
            // Callers that announce a body and send only part of it hold their turn, until their deadline.
            for (int i = 0; i < AsyncCallService.MaxBodiesAtOnce; i++)
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                await socket.ConnectAsync(server.Host, server.Port);
                await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /async-function/job HTTP/1.1\r\nHost: {server.Authority}\r\nContent-Length: 100\r\n\r\npartial"));
                held.Add(socket);
            }

            // Once all four hold their turn (the server reads them as they come), the next caller waits for one.
            for (int i = 0; _calls.BodiesBeingRead < AsyncCallService.MaxBodiesAtOnce; i++)
            {
                Assert.True(i < 500, $"{_calls.BodiesBeingRead} bodies being read, not {AsyncCallService.MaxBodiesAtOnce}");
                await Task.Delay(10);
            }

            Task<HttpResponseMessage> waiting = _server.Client.PostAsync("/async-function/job", new StringContent("whole"));
            await Task.Delay(600);
            Assert.False(waiting.IsCompleted, "a fifth body was read while four were");

            // The holders' deadline (3 s) cuts them off with 504; the waiting caller then gets its turn.
            string answer = await ReadAnswerAsync(held[0]);
            Assert.StartsWith("HTTP/1.1 504", answer, StringComparison.Ordinal);
            Assert.Contains("while the request body was still arriving", answer, StringComparison.Ordinal);
            using HttpResponseMessage accepted = await waiting;
            Assert.True(accepted.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.ServiceUnavailable, $"{(int)accepted.StatusCode}");
        }
        finally
        {
            foreach (System.Net.Sockets.Socket socket in held)
            {
                socket.Dispose();
            }
        }

        using HttpResponseMessage after = await _server.Client.PostAsync("/async-function/job", new StringContent("whole"));
        Assert.Equal(HttpStatusCode.Accepted, after.StatusCode);
    }

    private static async Task<string> ReadAnswerAsync(System.Net.Sockets.Socket socket)
    {
        byte[] buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int read = await socket.ReceiveAsync(buffer, timeout.Token);
        return Encoding.ASCII.GetString(buffer, 0, read);
    }
}

/// <summary>The same tests with the calls kept in NATS JetStream (a real nats-server, a stream per test).</summary>
public sealed class NatsAsyncServerTests(AotFaas.Testing.NatsServer nats) : AsyncServerTests, IClassFixture<AotFaas.Testing.NatsServer>
{
    protected override string Store(string folder) => nats.NewStore();
}
