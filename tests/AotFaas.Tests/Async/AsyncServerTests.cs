using System.Net;
using System.Text;
using AotFaas.Async;
using AotFaas.Functions;
using AotFaas.Tests.Http;
using Microsoft.Extensions.Logging;
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
    private readonly AotFaas.Tests.Operations.CapturingLogger _log = new();

    /// <summary>What the status reads being answered may hold here: more than NATS's max_payload (1 MiB), less than 'big''s max-output.</summary>
    private const long StatusReadBytes = 4 << 20;

    /// <summary>The <c>--async-store</c> the tests keep their calls in.</summary>
    protected virtual string Store(string folder) => Path.Combine(folder, "calls.db");

    public async Task InitializeAsync()
    {
        var settings = new AsyncSettings(Store(_folder), TimeSpan.FromHours(1), CallbackPolicy.None);
        _calls = new AsyncCallService(await CallStores.OpenAsync(settings, static _ => null, NullLogger.Instance), settings, NullLogger.Instance, StatusReadBytes);
        string worker = Path.Combine(_folder, "worker.py");
        await File.WriteAllTextAsync(worker, WorkerScript);
        Proc[] functions =
        [
            new("job", "cat", [], takesAsync: true, timeoutMilliseconds: 3000),
            new("small", "cat", [], takesAsync: true, timeoutMilliseconds: 10_000, maxBody: 1000),
            new("brief", "cat", [], takesAsync: true, timeoutMilliseconds: 1000, maxBody: 1000),
            new("mid", "cat", [], takesAsync: true, timeoutMilliseconds: 6000, maxBody: 64 << 10),
            new("warm", "python3", [worker], mode: FunctionMode.Http, takesAsync: true, methods: ["POST"]),
            new("big", "cat", [], takesAsync: true, maxOutput: AsyncCallService.StatusReadBytes),
            new("small-out", "head", ["-c", "5"], takesAsync: true, maxOutput: AsyncCallService.StatusReadBytes),
        ];
        _server = await TestServer.StartAsync(functions, asyncCalls: _calls, loggerFactory: _log);
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
    public async Task A_large_output_is_read_back_byte_for_byte_escaped_for_JSON_alone()
    {
        // Several of the slices the status is written in, characters of 2 to 4 bytes across their edges, markup, quotes,
        // backslashes and control characters.
        var text = new StringBuilder();
        while (text.Length < 300_000)
        {
            text.Append("<b>é</b> \"q\" \\ \u0001\t€𝄞\n");
        }

        string sent = text.ToString();
        (_, string json, System.Text.Json.JsonElement status) = await CallAndReadAsync("job", Encoding.UTF8.GetBytes(sent));
        Assert.Equal(sent, status.GetProperty("output").GetString());
        Assert.False(status.TryGetProperty("outputBase64", out _));
        Assert.Contains("<b>é</b>", json, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u003C", json, StringComparison.Ordinal);

        // Not UTF-8: base64, across slices too.
        byte[] binary = new byte[200_001];
        new Random(16).NextBytes(binary);
        binary[0] = 0xff;
        (_, _, status) = await CallAndReadAsync("job", binary);
        Assert.Equal(binary, Convert.FromBase64String(status.GetProperty("outputBase64").GetString()!));
        Assert.False(status.TryGetProperty("output", out _));
    }

    [Fact]
    public async Task Status_reads_hold_no_more_than_their_budget_and_one_finding_no_room_gets_503()
    {
        // Readers that do not read hold their outputs (960 KiB of zero bytes each, which JSON escapes as 5.6 MiB) until
        // their answers are sent: 4 of them hold 3.75 MiB of the 4 MiB budget, and a fifth read, weighing the output as
        // the store tells it (SQLite: its length; NATS: a message's max_payload, 1 MiB), waits and is refused.
        const int output = 960 << 10, stalled = 4;
        (string location, _, _) = await CallAndReadAsync("big", new byte[output]);
        var readers = new List<System.Net.Sockets.Socket>();
        try
        {
            for (int i = 0; i < stalled; i++)
            {
                readers.Add(await StartReadingAsync(location));
            }

            for (int i = 0; _calls.StatusReadsHeld.Held != stalled * output && i < 500; i++)
            {
                await Task.Delay(10);
            }

            Assert.Equal(stalled * output, _calls.StatusReadsHeld.Held);
            var took = System.Diagnostics.Stopwatch.StartNew();
            using (HttpResponseMessage busy = await _server.Client.GetAsync(location))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.StatusCode);
                Assert.Equal("1", busy.Headers.GetValues("Retry-After").Single());
                Assert.Contains("busy answering other status reads", await busy.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            Assert.True(took.Elapsed >= AsyncCallService.StatusReadPatience - TimeSpan.FromMilliseconds(100), $"503 after {took.ElapsedMilliseconds} ms");
            Assert.Equal(stalled * output, _calls.StatusReadsHeld.Held);
        }
        finally
        {
            foreach (System.Net.Sockets.Socket reader in readers)
            {
                reader.Dispose();
            }
        }

        // The readers go away: what they held is given back, and the next read is answered.
        for (int i = 0; _calls.StatusReadsHeld.Held != 0 && i < 500; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, _calls.StatusReadsHeld.Held);
        using HttpResponseMessage answered = await _server.Client.GetAsync(location);
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        Assert.Equal(0, _calls.StatusReadsHeld.Held);
    }

    [Fact]
    public async Task A_status_read_weighs_the_output_the_call_has_not_its_functions_max_output()
    {
        // 'small-out' may write more output than all status reads may hold (its max-output is 128 MiB, the budget 4 MiB)
        // and writes 5 bytes. While a reader that does not read holds 960 KiB, its calls' status reads are answered at
        // once: each weighs the output the store says the call has (NATS: at most a message), not the 128 MiB it might have.
        (string large, _, _) = await CallAndReadAsync("big", new byte[960 << 10]);
        (string small, _, System.Text.Json.JsonElement first) = await CallAndReadAsync("small-out", "0123456789"u8.ToArray());
        Assert.Equal("01234", first.GetProperty("output").GetString());
        using (System.Net.Sockets.Socket reader = await StartReadingAsync(large))
        {
            for (int i = 0; _calls.StatusReadsHeld.Held != 960 << 10 && i < 500; i++)
            {
                await Task.Delay(10);
            }

            Assert.Equal(960 << 10, _calls.StatusReadsHeld.Held);
            var took = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < 3; i++)
            {
                using HttpResponseMessage answered = await _server.Client.GetAsync(small);
                Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
                Assert.Contains("\"output\":\"01234\"", await answered.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            Assert.True(took.Elapsed < AsyncCallService.StatusReadPatience, $"3 reads of 5 bytes took {took.ElapsedMilliseconds} ms");
            Assert.Equal(960 << 10, _calls.StatusReadsHeld.Held);
        }

        for (int i = 0; _calls.StatusReadsHeld.Held != 0 && i < 500; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, _calls.StatusReadsHeld.Held);
    }

    /// <summary>A connection of its own that asks for the status at <paramref name="location"/> and does not read the answer.</summary>
    private async Task<System.Net.Sockets.Socket> StartReadingAsync(string location)
    {
        Uri server = _server.Client.BaseAddress!;
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(server.Host, server.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {location} HTTP/1.1\r\nHost: {server.Authority}\r\n\r\n"));
        return socket;
    }

    /// <summary>Calls <paramref name="function"/> asynchronously with <paramref name="body"/>, waits until it is done, and reads its status: where, the JSON as sent, and parsed.</summary>
    private async Task<(string Location, string Json, System.Text.Json.JsonElement Status)> CallAndReadAsync(string function, byte[] body)
    {
        using HttpResponseMessage accepted = await _server.Client.PostAsync($"/async-function/{function}", new ByteArrayContent(body));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        string location = accepted.Headers.Location!.OriginalString;
        for (int i = 0; i < 400; i++)
        {
            string json = await _server.Client.GetStringAsync(location);
            System.Text.Json.JsonElement status = System.Text.Json.JsonDocument.Parse(json).RootElement.Clone();
            if (status.GetProperty("state").GetString() == "done")
            {
                return (location, json, status);
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"the call of '{function}' was not done in 10 s");
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
    public async Task Slow_bodies_do_not_hold_up_other_callers_and_get_504_at_their_deadline()
    {
        // More slow callers than bodies fit in the budget at max-body, each announcing the largest body the function
        // takes and sending a few bytes of it: they hold what they sent, not what they announced.
        const int slow = 8;
        var held = new List<System.Net.Sockets.Socket>();
        try
        {
            for (int i = 0; i < slow; i++)
            {
                held.Add(await SendPartAsync("job", 16L << 20, "partial"));
            }

            for (int i = 0; _calls.BodiesBeingRead < slow && i < 100; i++)
            {
                await Task.Delay(10);
            }

            // A caller with a whole body goes straight through while they trickle (their deadline is 3 s away).
            var took = System.Diagnostics.Stopwatch.StartNew();
            using (HttpResponseMessage accepted = await _server.Client.PostAsync("/async-function/job", new StringContent("whole")))
            {
                Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            }

            Assert.True(took.ElapsedMilliseconds < 1000, $"a whole body waited {took.ElapsedMilliseconds} ms behind {slow} slow ones");
            Assert.All(held, socket => Assert.Equal(0, socket.Available));
            Assert.Equal(slow, _calls.BodiesBeingRead);
            Assert.True(_calls.BodyBytesHeld <= slow * 2 * "partial".Length, $"{_calls.BodyBytesHeld} bytes held for {slow} bodies of 7 bytes");

            // Their deadline cuts each of them off with 504.
            foreach (System.Net.Sockets.Socket socket in held)
            {
                string answer = await ReadAnswerAsync(socket);
                Assert.StartsWith("HTTP/1.1 504", answer, StringComparison.Ordinal);
                Assert.Contains("while the request body was still arriving", answer, StringComparison.Ordinal);
            }
        }
        finally
        {
            foreach (System.Net.Sockets.Socket socket in held)
            {
                socket.Dispose();
            }
        }

        await HeldAsync(bodies: 0, bytes: 0);
        using HttpResponseMessage after = await _server.Client.PostAsync("/async-function/job", new StringContent("whole"));
        Assert.Equal(HttpStatusCode.Accepted, after.StatusCode);
    }

    [Fact]
    public async Task Bodies_that_stall_after_64_KiB_hold_up_neither_small_nor_large_callers()
    {
        // 8 callers announcing 16 MiB send 64 KiB and a byte of it, and stall: they hold what they sent, a few arrays of
        // it, and no turn a larger body would need.
        const int slow = 8, sent = (64 << 10) + 1;
        var held = new List<System.Net.Sockets.Socket>();
        try
        {
            for (int i = 0; i < slow; i++)
            {
                held.Add(await SendPartAsync("job", 16L << 20, new string('s', sent)));
            }

            for (int i = 0; (_calls.BodiesBeingRead < slow || _calls.BodyBytesHeld < slow * (long)sent) && i < 200; i++)
            {
                await Task.Delay(10);
            }

            Assert.True(_calls.BodyBytesHeld <= slow * 2L * (sent - 1), $"{_calls.BodyBytesHeld} bytes held for {slow} bodies of {sent} bytes");
            foreach (int length in new[] { 5, 512 << 10 })
            {
                var took = System.Diagnostics.Stopwatch.StartNew();
                using HttpResponseMessage accepted = await _server.Client.PostAsync("/async-function/job", new ByteArrayContent(new byte[length]));
                Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
                Assert.True(took.ElapsedMilliseconds < 1000, $"a body of {length} bytes waited {took.ElapsedMilliseconds} ms behind {slow} stalled ones");
            }

            foreach (System.Net.Sockets.Socket socket in held)
            {
                Assert.StartsWith("HTTP/1.1 504", await ReadAnswerAsync(socket), StringComparison.Ordinal);
            }
        }
        finally
        {
            foreach (System.Net.Sockets.Socket socket in held)
            {
                socket.Dispose();
            }
        }

        await HeldAsync(bodies: 0, bytes: 0);
    }

    [Fact]
    public async Task A_body_still_coming_at_the_deadline_gets_504_and_the_connection_closes_with_nothing_logged_as_an_error()
    {
        // 'brief' has 1 s: 10 of the 100 bytes announced come, then nothing.
        using System.Net.Sockets.Socket stalled = await SendPartAsync("brief", 100, "0123456789");
        string answer = await ReadAnswerAsync(stalled);
        Assert.StartsWith("HTTP/1.1 504", answer, StringComparison.Ordinal);
        Assert.Contains("while the request body was still arriving", answer, StringComparison.Ordinal);

        // Kestrel drains or closes what is left without an error of its own (a read cancelled through its token left
        // its reader mid-read: "automatic draining of the request body failed", one error per call).
        await HeldAsync(bodies: 0, bytes: 0);
        await Task.Delay(200);
        Assert.DoesNotContain(_log.Entries, entry => entry.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task A_client_that_resets_mid_body_leaves_nothing_held_and_nothing_logged_as_an_error()
    {
        // A reset reaches the body read as an error while it reads: Kestrel's reader is left mid-read, and draining it
        // after the answer failed with an error logged (most of the time: 14 of 20 resets in an outside attack).
        for (int i = 0; i < 5; i++)
        {
            System.Net.Sockets.Socket client = await SendPartAsync("job", 100, "0123456789");
            await HeldAsync(bodies: 1, bytes: 20);
            await Task.Delay(100);
            client.LingerState = new System.Net.Sockets.LingerOption(true, 0);
            client.Close();
            await HeldAsync(bodies: 0, bytes: 0);
        }

        await Task.Delay(300);
        Assert.DoesNotContain(_log.Entries, entry => entry.Level >= LogLevel.Error);
        using HttpResponseMessage after = await _server.Client.PostAsync("/async-function/job", new StringContent("whole"));
        Assert.Equal(HttpStatusCode.Accepted, after.StatusCode);
    }

    [Fact]
    public async Task Bodies_hold_no_more_than_the_budget_together_and_a_caller_finding_no_room_gets_503()
    {
        // 'small' and 'brief' take at most 1000 bytes: the budget is 4 such bodies, which 4 callers sending 999 fill.
        var held = new List<System.Net.Sockets.Socket>();
        try
        {
            for (int i = 0; i < AsyncCallService.MaxBodiesInBudget; i++)
            {
                held.Add(await SendPartAsync("small", 1000, new string('x', 999)));
            }

            await HeldAsync(bodies: 4, bytes: 4000);
            Assert.Equal(4000, _calls.BodyByteBudget);

            // A caller with 5 bytes finds no room: it waits, and gets 503 at its deadline (1 s).
            var took = System.Diagnostics.Stopwatch.StartNew();
            using (HttpResponseMessage busy = await _server.Client.PostAsync("/async-function/brief", new StringContent("whole")))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.StatusCode);
                Assert.Equal("1", busy.Headers.GetValues("Retry-After").Single());
                Assert.Contains("busy storing other calls", await busy.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            Assert.True(took.ElapsedMilliseconds >= 900, $"503 after {took.ElapsedMilliseconds} ms, before the deadline");
            Assert.Equal(4000, _calls.BodyBytesHeld);

            // A caller waiting for room that goes away holds nothing; nor does one that goes away mid-body.
            System.Net.Sockets.Socket waiting = await SendPartAsync("small", 1000, "0123456789");
            await HeldAsync(bodies: 5, bytes: 4000);
            waiting.Dispose();
            await HeldAsync(bodies: 4, bytes: 4000);
            held[0].Dispose();
            await HeldAsync(bodies: 3, bytes: 3000);

            // Room again: a small body goes straight through.
            took.Restart();
            using (HttpResponseMessage accepted = await _server.Client.PostAsync("/async-function/brief", new StringContent("whole")))
            {
                Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            }

            Assert.True(took.ElapsedMilliseconds < 900, $"202 after {took.ElapsedMilliseconds} ms");
            Assert.Equal(3000, _calls.BodyBytesHeld);
        }
        finally
        {
            foreach (System.Net.Sockets.Socket socket in held)
            {
                socket.Dispose();
            }
        }

        await HeldAsync(bodies: 0, bytes: 0);
    }

    [Theory]
    [InlineData(1000)] // bodies still coming: 7 of 1000 bytes sent
    [InlineData(7)] // bodies that have all come, but find no room for their one array
    public async Task Past_the_bodies_that_may_wait_for_room_a_caller_gets_503_at_once_not_at_its_deadline(int length)
    {
        // The budget of 'small' (4 bodies of 1000 bytes) is full, and as many callers as may wait for room do, each
        // with bytes the server's HTTP layer holds (whether all of them came or not): one more is answered at once,
        // well before its deadline of 10 s, and its connection closed.
        var held = new List<System.Net.Sockets.Socket>();
        try
        {
            for (int i = 0; i < AsyncCallService.MaxBodiesInBudget; i++)
            {
                held.Add(await SendPartAsync("small", 1000, new string('x', 999)));
            }

            await HeldAsync(bodies: 4, bytes: 4000);
            for (int i = 0; i < BodyBudget.DefaultMaxWaiters; i++)
            {
                held.Add(await SendPartAsync("small", length, "waiting"));
            }

            await AllWaiterPlacesTakenAsync();
            var took = System.Diagnostics.Stopwatch.StartNew();
            using (System.Net.Sockets.Socket refused = await SendPartAsync("small", length, "one mor"))
            {
                string answer = await ReadAnswerAsync(refused);
                Assert.StartsWith("HTTP/1.1 503", answer, StringComparison.Ordinal);
                Assert.Contains("Retry-After: 1\r\n", answer, StringComparison.Ordinal);
                Assert.Contains("Connection: close\r\n", answer, StringComparison.Ordinal);
                Assert.Contains("busy storing other calls", answer, StringComparison.Ordinal);
            }

            Assert.True(took.ElapsedMilliseconds < 5000, $"503 after {took.ElapsedMilliseconds} ms");
            Assert.Equal(BodyBudget.DefaultMaxWaiters, _calls.BodiesWaiting);
            Assert.Equal(4 + BodyBudget.DefaultMaxWaiters, _calls.BodiesBeingRead);
        }
        finally
        {
            foreach (System.Net.Sockets.Socket socket in held)
            {
                socket.Dispose();
            }
        }

        await HeldAsync(bodies: 0, bytes: 0);
        Assert.Equal(0, _calls.BodiesWaiting);
    }

    [Fact]
    public async Task A_small_body_without_a_length_goes_through_while_stalled_bodies_hold_more_than_half_the_budget()
    {
        // 'mid' takes at most 64 KiB: the budget is 256 KiB. 4 callers announce 64 KiB and send 40 KiB of it, and stall:
        // they hold at least 160 KiB. A body without a length may need twice its max-body (128 KiB) to end, so one that
        // is still coming waits for room; a small one that has all come needs only its size.
        var held = new List<System.Net.Sockets.Socket>();
        try
        {
            await StallMidAsync(held);

            Assert.True(_calls.BodyByteBudget - _calls.BodyBytesHeld < 2 * (64 << 10), $"{_calls.BodyBytesHeld} of {_calls.BodyByteBudget} held");

            // Its head, its one chunk and its last chunk, sent together as a client sends a small body.
            var took = System.Diagnostics.Stopwatch.StartNew();
            Uri server = _server.Client.BaseAddress!;
            using (var chunked = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp))
            {
                await chunked.ConnectAsync(server.Host, server.Port);
                await chunked.SendAsync(Encoding.ASCII.GetBytes($"POST /async-function/mid HTTP/1.1\r\nHost: {server.Authority}\r\nTransfer-Encoding: chunked\r\n\r\n11\r\nchunked and small\r\n0\r\n\r\n"));
                Assert.StartsWith("HTTP/1.1 202", await ReadAnswerAsync(chunked), StringComparison.Ordinal);
            }

            Assert.True(took.ElapsedMilliseconds < 3000, $"a small chunked body waited {took.ElapsedMilliseconds} ms behind {StalledMid} stalled ones (its deadline is 6 s)");
        }
        finally
        {
            foreach (System.Net.Sockets.Socket socket in held)
            {
                socket.Dispose();
            }
        }

        await HeldAsync(bodies: 0, bytes: 0);
    }

    [Fact]
    public async Task A_small_body_in_chunks_that_came_whole_is_stored_while_as_many_bodies_wait_for_room_as_may()
    {
        // 4 callers of 'mid' hold 160 KiB of its 256 KiB budget; 16 bodies in chunks have sent a first chunk and wait
        // for room to grow (all the places there are). A small body in chunks sent whole with its head is handed over
        // chunk by chunk before its end is parsed: it must be seen whole and stored, not refused as one more waiter.
        var held = new List<System.Net.Sockets.Socket>();
        try
        {
            await StallMidAsync(held);

            for (int i = 0; i < BodyBudget.DefaultMaxWaiters; i++)
            {
                held.Add(await SendChunkAsync("mid", new string('w', 1000)));
            }

            await AllWaiterPlacesTakenAsync();

            // One more that is still coming is refused at once, as before.
            using (System.Net.Sockets.Socket refused = await SendChunkAsync("mid", "still coming"))
            {
                Assert.StartsWith("HTTP/1.1 503", await ReadAnswerAsync(refused), StringComparison.Ordinal);
            }

            Uri server = _server.Client.BaseAddress!;
            using (var whole = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp))
            {
                await whole.ConnectAsync(server.Host, server.Port);
                await whole.SendAsync(Encoding.ASCII.GetBytes($"POST /async-function/mid HTTP/1.1\r\nHost: {server.Authority}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nwhole\r\n0\r\n\r\n"));
                string answer = await ReadAnswerAsync(whole);
                Assert.StartsWith("HTTP/1.1 202", answer, StringComparison.Ordinal);
            }

            Assert.Equal(BodyBudget.DefaultMaxWaiters, _calls.BodiesWaiting);
        }
        finally
        {
            foreach (System.Net.Sockets.Socket socket in held)
            {
                socket.Dispose();
            }
        }

        await HeldAsync(bodies: 0, bytes: 0);
        Assert.Equal(0, _calls.BodiesWaiting);
    }

    [Fact]
    public async Task More_whole_bodies_than_fit_in_the_budget_at_once_are_all_stored_none_waits_for_another()
    {
        // 'mid' takes at most 64 KiB: the budget is 4 such bodies. 8 callers send a whole 64 KiB body each, in pieces,
        // side by side: first half of each, then the rest. Together they are twice the budget, so some must wait for
        // others to be stored; none may wait for one that is itself waiting.
        const int callers = 8, length = 64 << 10, piece = 4 << 10;
        var sockets = new List<System.Net.Sockets.Socket>();
        try
        {
            var took = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < callers; i++)
            {
                sockets.Add(await SendPartAsync("mid", length, ""));
            }

            byte[] body = Encoding.ASCII.GetBytes(new string('m', length));
            async Task SendAsync(int from, int to)
            {
                for (int offset = from; offset < to; offset += piece)
                {
                    foreach (System.Net.Sockets.Socket socket in sockets)
                    {
                        await socket.SendAsync(body.AsMemory(offset, piece));
                    }

                    Assert.True(_calls.BodyBytesHeld <= _calls.BodyByteBudget, $"{_calls.BodyBytesHeld} bytes held, over the budget of {_calls.BodyByteBudget}");
                }
            }

            await SendAsync(0, length / 2);
            for (int i = 0; _calls.BodiesBeingRead < callers && i < 100; i++)
            {
                await Task.Delay(10);
            }

            await Task.Delay(100);
            await SendAsync(length / 2, length);
            string[] answers = await Task.WhenAll(sockets.Select(ReadAnswerAsync));
            Assert.All(answers, answer => Assert.StartsWith("HTTP/1.1 202", answer, StringComparison.Ordinal));
            Assert.True(took.ElapsedMilliseconds < 3000, $"{callers} bodies of {length} bytes took {took.ElapsedMilliseconds} ms to be stored");
            Assert.Equal(callers, _calls.Accepted);
        }
        finally
        {
            foreach (System.Net.Sockets.Socket socket in sockets)
            {
                socket.Dispose();
            }
        }

        await HeldAsync(bodies: 0, bytes: 0);
    }

    [Fact]
    public async Task A_body_without_a_length_is_stored_whole_and_refused_past_max_body()
    {
        byte[] sent = new byte[10_000];
        for (int i = 0; i < sent.Length; i++)
        {
            sent[i] = (byte)('a' + (i % 26));
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/async-function/job") { Content = new StreamContent(new MemoryStream(sent)) };
        request.Headers.TransferEncodingChunked = true;
        using HttpResponseMessage accepted = await _server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        string id = accepted.Headers.GetValues("X-Call-Id").Single();
        System.Text.Json.JsonElement status = default;
        for (int i = 0; i < 200; i++)
        {
            status = System.Text.Json.JsonDocument.Parse(await _server.Client.GetStringAsync($"/async-function/job/calls/{id}")).RootElement.Clone();
            if (status.GetProperty("state").GetString() == "done")
            {
                break;
            }

            await Task.Delay(50);
        }

        Assert.Equal(Encoding.ASCII.GetString(sent), status.GetProperty("output").GetString());

        using var large = new HttpRequestMessage(HttpMethod.Post, "/async-function/small") { Content = new StreamContent(new MemoryStream(new byte[1001])) };
        large.Headers.TransferEncodingChunked = true;
        using HttpResponseMessage refused = await _server.Client.SendAsync(large);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);
        await HeldAsync(bodies: 0, bytes: 0);
    }

    /// <summary>A connection of its own that sends the head of a call of <paramref name="function"/> announcing <paramref name="length"/> bytes, then only <paramref name="part"/>.</summary>
    private async Task<System.Net.Sockets.Socket> SendPartAsync(string function, long length, string part)
    {
        Uri server = _server.Client.BaseAddress!;
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(server.Host, server.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /async-function/{function} HTTP/1.1\r\nHost: {server.Authority}\r\nContent-Length: {length}\r\n\r\n{part}"));
        return socket;
    }

    /// <summary>A connection of its own that sends the head of a call of <paramref name="function"/> in chunks, then only its first chunk, <paramref name="chunk"/>.</summary>
    private async Task<System.Net.Sockets.Socket> SendChunkAsync(string function, string chunk)
    {
        Uri server = _server.Client.BaseAddress!;
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(server.Host, server.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /async-function/{function} HTTP/1.1\r\nHost: {server.Authority}\r\nTransfer-Encoding: chunked\r\n\r\n{chunk.Length:x}\r\n{chunk}\r\n"));
        return socket;
    }

    /// <summary>How many callers <see cref="StallMidAsync"/> stalls.</summary>
    private const int StalledMid = 4;

    /// <summary>
    /// <see cref="StalledMid"/> callers of 'mid' (max-body 64 KiB, a budget of 256 KiB) announce 64 KiB, send 40 KiB of
    /// it and stall, on connections added to <paramref name="held"/>: they hold at least 160 KiB, once this returns.
    /// </summary>
    private async Task StallMidAsync(List<System.Net.Sockets.Socket> held)
    {
        const int sent = 40 << 10;
        for (int i = 0; i < StalledMid; i++)
        {
            held.Add(await SendPartAsync("mid", 64 << 10, new string('s', sent)));
        }

        for (int i = 0; (_calls.BodiesBeingRead < StalledMid || _calls.BodyBytesHeld < StalledMid * (long)sent) && i < 500; i++)
        {
            await Task.Delay(10);
        }
    }

    /// <summary>Waits until as many bodies wait for room as may.</summary>
    private async Task AllWaiterPlacesTakenAsync()
    {
        for (int i = 0; _calls.BodiesWaiting < BodyBudget.DefaultMaxWaiters && i < 500; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(BodyBudget.DefaultMaxWaiters, _calls.BodiesWaiting);
    }

    /// <summary>Waits until the bodies being read or stored, and the bytes they hold, are as said; never over the budget meanwhile.</summary>
    private async Task HeldAsync(int bodies, long bytes)
    {
        for (int i = 0; _calls.BodiesBeingRead != bodies || _calls.BodyBytesHeld != bytes; i++)
        {
            Assert.True(_calls.BodyBytesHeld <= _calls.BodyByteBudget, $"{_calls.BodyBytesHeld} bytes held, over the budget of {_calls.BodyByteBudget}");
            Assert.True(i < 500, $"{_calls.BodiesBeingRead} bodies holding {_calls.BodyBytesHeld} bytes, not {bodies} holding {bytes}");
            await Task.Delay(10);
        }
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
