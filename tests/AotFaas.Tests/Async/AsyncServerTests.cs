using System.Net;
using System.Text;
using AotFaas.Async;
using AotFaas.Functions;
using AotFaas.Tests.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace AotFaas.Tests.Async;

/// <summary>Asynchronous calls in process, on a real store and real sockets: what accepting may hold.</summary>
public sealed class AsyncServerTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-async-").FullName;
    private AsyncCallService _calls = null!;
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _calls = new AsyncCallService(SqliteCallStore.Open(Path.Combine(_folder, "calls.db")), new AsyncSettings(Path.Combine(_folder, "calls.db"), TimeSpan.FromHours(1), CallbackPolicy.None), NullLogger.Instance);
        Proc[] functions = [new("job", "cat", [], takesAsync: true, timeoutMilliseconds: 1500)];
        _server = await TestServer.StartAsync(functions, asyncCalls: _calls);
        _calls.AttachMetrics(_server.Server.Meter);
        await _calls.StartAsync(functions, _server.Server.FindRoute);
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

            // The next caller waits for a turn: not answered while they hold theirs.
            Task<HttpResponseMessage> waiting = _server.Client.PostAsync("/async-function/job", new StringContent("whole"));
            await Task.Delay(600);
            Assert.False(waiting.IsCompleted, "a fifth body was read while four were");

            // The holders' deadline (1.5 s) cuts them off with 504; the waiting caller then gets its turn.
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
