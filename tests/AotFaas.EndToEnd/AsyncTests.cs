using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace AotFaas.EndToEnd;

/// <summary>
/// Asynchronous calls on the native binary (async.faas, a binary of its own): 202 and the call's state, what a
/// stored call carries to its program, the refusals that come before anything is stored, callbacks and their
/// retries, a <c>kill -9</c> after a burst of accepted calls, the drain, the retention, and a busy function that
/// serves its synchronous requests before its stored calls. Each server has a folder of its own (E2E_ASYNC_DIR),
/// where its programs leave their marks, and every test that stops a server checks that none of its programs is left.
/// The calls are kept in SQLite (a file in the server's folder) here, and in NATS JetStream by <see cref="NatsAsyncTests"/>.
/// </summary>
[Collection(nameof(PublishedBinary))]
public partial class AsyncTests(AsyncBinary binary, ITestOutputHelper output) : IClassFixture<AsyncBinary>, IDisposable
{
    /// <summary>The <c>--async-store</c> of a server working in <paramref name="dir"/> (one that restarts there finds its calls).</summary>
    protected virtual string Store(string dir) => Path.Combine(dir, "calls.db");

    /// <summary>The published binary of async.faas.</summary>
    private protected AsyncBinary Binary => binary;

    private protected ITestOutputHelper Log => output;

    /// <summary>How long a call a killed server held may take to run again: SQLite queues it at the next start.</summary>
    protected virtual int RecoverySeconds => 30;

    private readonly List<string> _dirs = [];

    private const int SIGKILL = 9;
    private const int SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    /// <summary>A server of the async binary, its folder and its store.</summary>
    private protected sealed record Server(RunningServer Running, string Dir) : IAsyncDisposable
    {
        public HttpClient Client => Running.Client;

        public string Output => Running.Output;

        public string Mark(string name) => Path.Combine(Dir, name);

        public string[] Lines(string name) => File.Exists(Mark(name)) ? File.ReadAllLines(Mark(name)) : [];

        public async ValueTask DisposeAsync() => await Running.DisposeAsync();
    }

    /// <summary>A new folder for a server (and the one that restarts on its store), removed after the test.</summary>
    private protected string NewDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "aotfaas-e2e-async-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        _dirs.Add(dir);
        return dir;
    }

    public void Dispose()
    {
        foreach (string dir in _dirs)
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // A program left behind still writes there: the test said so already.
            }
        }
    }

    [Theory]
    [InlineData("nats")] // an address that takes connections and never answers: the open waits 5 s and more
    [InlineData("sqlite")] // a file another process holds locked: the open waits for SQLite's busy timeout (5 s)
    public async Task A_stop_signal_while_the_store_is_being_opened_ends_the_start_at_once(string store)
    {
        // The server's address answers already while its store is being opened: SIGTERM then ends the start, instead
        // of waiting for the open to succeed or fail.
        using var silent = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var taken = new ConcurrentBag<System.Net.Sockets.Socket>();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                taken.Add(await silent.AcceptSocketAsync());
            }
        });
        string dir = NewDir();
        string database = Path.Combine(dir, "locked.db");
        using var locker = new System.Diagnostics.Process
        {
            StartInfo = new("python3", ["-c", "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(60)", database]) { RedirectStandardOutput = true },
        };
        if (store == "sqlite")
        {
            locker.Start();
            Assert.Equal("locked", await locker.StandardOutput.ReadLineAsync());
        }

        int port = RunningServer.FreePort();
        string address = store == "nats" ? $"nats://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}/calls" : database;
        try
        {
            await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"http://127.0.0.1:{port}", "--async-store", address], AsyncBinary.Environment(dir), dir);
            Assert.True(store == "sqlite" || await ProcessInfo.EventuallyAsync(() => !taken.IsEmpty), "the server never connected to the store");
            await Task.Delay(300);
            Assert.Null(server.ExitCode);
            var took = System.Diagnostics.Stopwatch.StartNew();
            Assert.Equal(0, Kill(server.ProcessId, 15));
            Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(15)));
            Assert.True(took.Elapsed < TimeSpan.FromSeconds(3), $"exited {took.ElapsedMilliseconds} ms after SIGTERM");
            Assert.Contains("Stopping before the server started", server.Output, StringComparison.Ordinal);
        }
        finally
        {
            foreach (System.Net.Sockets.Socket socket in taken)
            {
                socket.Dispose();
            }

            if (store == "sqlite")
            {
                locker.Kill();
            }
        }
    }

    /// <summary>Starts a server working in <paramref name="dir"/> (a new folder when null), its store there.</summary>
    private protected async Task<Server> StartAsync(string? dir = null, params string[] extra)
    {
        dir ??= NewDir();
        int port = RunningServer.FreePort();
        RunningServer running = await RunningServer.StartAsync(
            binary.Path, port, ["--urls", $"http://127.0.0.1:{port}", "--async-store", Store(dir), .. extra], AsyncBinary.Environment(dir), dir);
        var server = new Server(running, dir);

        // The dispatchers start once the server listens: wait for the line that follows their start.
        Assert.True(await running.WaitForOutputAsync("Asynchronous calls are kept in"), running.Output);
        return server;
    }

    /// <summary>Stops the server with SIGTERM (exit 0), then checks that none of its programs is left.</summary>
    private protected static async Task StopAndCheckNothingLeftAsync(Server server)
    {
        Assert.Equal(0, await server.Running.StopAsync());
        await AssertNothingLeftAsync(server);
    }

    private static async Task AssertNothingLeftAsync(Server server)
    {
        int[] left = [];
        Assert.True(
            await ProcessInfo.EventuallyAsync(() => (left = AsyncBinary.ProgramProcesses(server.Dir, server.Running.ProcessId)).Length == 0, seconds: 5),
            $"processes left behind: {string.Join(", ", left)}\n{server.Output}");
    }

    private protected static async Task<HttpResponseMessage> PostAsync(Server server, string target, string body, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = new StringContent(body, Encoding.UTF8, "text/plain") };
        foreach ((string name, string value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await server.Client.SendAsync(request);
    }

    /// <summary>An accepted call: 202, X-Call-Id, and a Location naming it; returns the id.</summary>
    private protected static async Task<string> AcceptedAsync(HttpResponseMessage response, string function)
    {
        using (response)
        {
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            string id = response.Headers.GetValues("X-Call-Id").Single();
            Assert.Matches("^[0-9a-f]{32}$", id);
            Assert.Equal($"/async-function/{function}/calls/{id}", response.Headers.Location?.OriginalString);
            return id;
        }
    }

    private static async Task<JsonElement> StatusAsync(Server server, string function, string id, string? token = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/async-function/{function}/calls/{id}");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using HttpResponseMessage response = await server.Client.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {request.RequestUri}: {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Polls the call's state until it is done (and, with <paramref name="callback"/>, its callback settled); at most <paramref name="seconds"/>.</summary>
    private protected static async Task<JsonElement> DoneAsync(Server server, string function, string id, string? token = null, int seconds = 15, bool callback = false)
    {
        JsonElement status = default;
        for (long deadline = Environment.TickCount64 + (seconds * 1000L); Environment.TickCount64 < deadline; await Task.Delay(25))
        {
            status = await StatusAsync(server, function, id, token);
            if (status.GetProperty("state").GetString() == "done"
                && (!callback || status.GetProperty("callback").GetString() != "pending"))
            {
                return status;
            }
        }

        Assert.Fail($"call {id} of {function} not done within {seconds} s: {status}\n{server.Output}");
        return status;
    }

    private static async Task<string?> MetricAsync(Server server, string name)
    {
        string text = await server.Client.GetStringAsync("/metrics");
        return text.Split('\n').FirstOrDefault(line => line.StartsWith(name + " ", StringComparison.Ordinal))?[(name.Length + 1)..];
    }

    /// <summary>Sends <paramref name="request"/> as it is on a connection of its own and returns all the server answered.</summary>
    private static async Task<string> RawAsync(Server server, string request)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, server.Running.Address.Port);
        using System.Net.Sockets.NetworkStream stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var answer = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await stream.CopyToAsync(answer, timeout.Token);
        return Encoding.ASCII.GetString(answer.ToArray());
    }

    private static async Task WaitForLogAsync(Server server, string text)
        => Assert.True(await ProcessInfo.EventuallyAsync(() => server.Output.Contains(text, StringComparison.Ordinal), seconds: 15), $"not logged: {text}\n{server.Output}");

    private protected static async Task WaitForLinesAsync(Server server, string mark, int count)
        => Assert.True(await ProcessInfo.EventuallyAsync(() => server.Lines(mark).Length >= count, seconds: 15), $"'{mark}' has {server.Lines(mark).Length} line(s), not {count}\n{server.Output}");

    [Fact]
    public void The_binary_carries_both_stores()
    {
        byte[] image = File.ReadAllBytes(binary.Path);
        foreach (string mark in NativeBinaryTests.StoreMarks)
        {
            Assert.True(image.AsSpan().IndexOf(Encoding.ASCII.GetBytes(mark)) >= 0, $"the binary of async.faas lacks '{mark}'");
        }
    }

    [Fact]
    public async Task Accepted_call_runs_with_the_original_request_and_its_result_is_read_back()
    {
        await using Server server = await StartAsync();

        using var put = new HttpRequestMessage(HttpMethod.Put, "/async-function/env/a%20b/c?x=1&y=%2F") { Content = new StringContent("hello async", Encoding.UTF8, "text/plain") };
        put.Headers.Add("X-Try", "try value");
        string id = await AcceptedAsync(await server.Client.SendAsync(put), "env");

        JsonElement status = await DoneAsync(server, "env", id);
        Assert.Equal(id, status.GetProperty("id").GetString());
        Assert.Equal("env", status.GetProperty("function").GetString());
        Assert.Equal(200, status.GetProperty("status").GetInt32());
        Assert.Equal("0", status.GetProperty("exit").GetString());
        Assert.Equal(1, status.GetProperty("runs").GetInt32());
        Assert.Equal("PUT|/a b/c|x=1&y=%2F|try value|hello async", status.GetProperty("output").GetString());
        Assert.False(status.TryGetProperty("outputBase64", out _));
        Assert.False(status.TryGetProperty("callback", out _));
        DateTimeOffset accepted = status.GetProperty("acceptedAt").GetDateTimeOffset();
        DateTimeOffset started = status.GetProperty("startedAt").GetDateTimeOffset();
        DateTimeOffset ended = status.GetProperty("endedAt").GetDateTimeOffset();
        Assert.True(accepted <= started && started <= ended, status.ToString());
        Assert.True(status.GetProperty("durationSeconds").GetDouble() >= 0);

        // The accept and the end are logged with the call's id.
        await WaitForLogAsync(server, $"env PUT -> 202 ");
        Assert.Contains($"(accepted as call {id})", server.Output, StringComparison.Ordinal);
        await WaitForLogAsync(server, $"env call {id} ended: 200 in ");

        // Binary output comes back whole, in base64.
        string bytesId = await AcceptedAsync(await PostAsync(server, "/async-function/bytes", string.Empty), "bytes");
        JsonElement bytes = await DoneAsync(server, "bytes", bytesId);
        Assert.Equal(200, bytes.GetProperty("status").GetInt32());
        Assert.False(bytes.TryGetProperty("output", out _), bytes.ToString());
        Assert.Equal([1, 2, 0xff, .. "binary"u8.ToArray()], Convert.FromBase64String(bytes.GetProperty("outputBase64").GetString()!));

        Assert.Equal("2", await MetricAsync(server, "aotfaas_async_accepted_total"));
        Assert.Equal("2", await MetricAsync(server, "aotfaas_async_completed_total"));
        await StopAndCheckNothingLeftAsync(server);
    }

    [Fact]
    public async Task A_call_id_chosen_by_the_caller_names_the_call_once()
    {
        await using Server server = await StartAsync();
        foreach (string chosen in new[] { "my-call.1", "a+b=c@d:e" })
        {
            using HttpResponseMessage response = await PostAsync(server, "/async-function/env", chosen, ("X-Request-Id", chosen));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            Assert.Equal(chosen, response.Headers.GetValues("X-Call-Id").Single());
            Uri location = response.Headers.Location!;
            Assert.Equal($"/async-function/env/calls/{Uri.EscapeDataString(chosen)}", location.OriginalString);
            JsonElement status = await DoneAsync(server, "env", Uri.EscapeDataString(chosen));
            Assert.Equal(chosen, status.GetProperty("id").GetString());
            Assert.EndsWith("|" + chosen, status.GetProperty("output").GetString(), StringComparison.Ordinal);
        }

        // The same id again is another call: it gets an id of its own, and both are kept.
        string again = await AcceptedAsync(await PostAsync(server, "/async-function/env", "again", ("X-Request-Id", "my-call.1")), "env");
        Assert.NotEqual("my-call.1", again);
        Assert.EndsWith("|again", (await DoneAsync(server, "env", again)).GetProperty("output").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("|my-call.1", (await StatusAsync(server, "env", "my-call.1")).GetProperty("output").GetString(), StringComparison.Ordinal);
        await StopAndCheckNothingLeftAsync(server);
    }

    // A caller's X-Request-Id with a '/' is a valid request id, but no path segment could carry it: the call gets an id of its own.
    [Fact]
    public async Task A_call_id_with_a_slash_is_readable_at_its_Location()
    {
        await using Server server = await StartAsync();
        using HttpResponseMessage response = await PostAsync(server, "/async-function/env", "slashed", ("X-Request-Id", "my/call"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        string id = response.Headers.GetValues("X-Call-Id").Single();
        Assert.DoesNotContain('/', id);
        Uri location = response.Headers.Location!;
        await WaitForLogAsync(server, $"env call {id} ended: 200");
        using HttpResponseMessage read = await server.Client.GetAsync(location);
        Assert.True(read.StatusCode == HttpStatusCode.OK, $"GET {location}: {(int)read.StatusCode} {await read.Content.ReadAsStringAsync()}");
        await StopAndCheckNothingLeftAsync(server);
    }

    [Fact]
    public async Task A_failing_program_ends_as_500_with_its_exit_code_and_stderr()
    {
        await using Server server = await StartAsync();
        string id = await AcceptedAsync(await PostAsync(server, "/async-function/fail", "input"), "fail");
        JsonElement status = await DoneAsync(server, "fail", id);
        Assert.Equal(500, status.GetProperty("status").GetInt32());
        Assert.Equal("7", status.GetProperty("exit").GetString());
        Assert.Equal("bad input\n", status.GetProperty("output").GetString());
        await WaitForLogAsync(server, $"fail call {id} ended: 500 in ");
        await StopAndCheckNothingLeftAsync(server);
    }

    [Fact]
    public async Task Refusals_come_before_anything_is_stored()
    {
        int callbackPort = RunningServer.FreePort();
        await using Server server = await StartAsync(null, "--callback-allow", $"127.0.0.1:{callbackPort}");

        async Task ExpectAsync(HttpStatusCode expected, HttpRequestMessage request, bool emptyBody = false)
        {
            using (request)
            using (HttpResponseMessage response = await server.Client.SendAsync(request))
            {
                string body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == expected, $"{request.Method} {request.RequestUri}: {(int)response.StatusCode} {body}\n{server.Output}");
                Assert.False(response.Headers.Contains("X-Call-Id"), $"{request.Method} {request.RequestUri}: an X-Call-Id");
                if (emptyBody)
                {
                    Assert.Equal(string.Empty, body);
                }
            }
        }

        HttpRequestMessage Post(string target, string body = "x", params (string Name, string Value)[] headers)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = new StringContent(body) };
            foreach ((string name, string value) in headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }

            return request;
        }

        // No such function, and a function without async: true, are unknown there (an empty 404, as synchronously).
        await ExpectAsync(HttpStatusCode.NotFound, Post("/async-function/nope"), emptyBody: true);
        await ExpectAsync(HttpStatusCode.NotFound, Post("/async-function/sync-only"), emptyBody: true);
        await ExpectAsync(HttpStatusCode.NotFound, new HttpRequestMessage(HttpMethod.Get, "/async-function/sync-only/calls/x"), emptyBody: true);

        // A method the function does not take.
        await ExpectAsync(HttpStatusCode.MethodNotAllowed, new HttpRequestMessage(HttpMethod.Get, "/async-function/env"));
        await ExpectAsync(HttpStatusCode.MethodNotAllowed, new HttpRequestMessage(HttpMethod.Delete, "/async-function/env/x"));

        // Auth: no token, a wrong one.
        await ExpectAsync(HttpStatusCode.Unauthorized, Post("/async-function/guarded"));
        await ExpectAsync(HttpStatusCode.Unauthorized, Post("/async-function/guarded", "x", ("Authorization", "Bearer wrong")));

        // Over max-body (16 bytes), with a Content-Length and chunked.
        await ExpectAsync(HttpStatusCode.RequestEntityTooLarge, Post("/async-function/small", new string('a', 17)));
        HttpRequestMessage chunked = Post("/async-function/small", new string('b', 4000));
        chunked.Headers.TransferEncodingChunked = true;
        await ExpectAsync(HttpStatusCode.RequestEntityTooLarge, chunked);

        // Callback URLs: a host not listed (the cloud metadata address), a port not listed, not http(s), two of them.
        await ExpectAsync(HttpStatusCode.BadRequest, Post("/async-function/env", "x", ("X-Callback-Url", "http://169.254.169.254/latest/meta-data/")));
        await ExpectAsync(HttpStatusCode.BadRequest, Post("/async-function/env", "x", ("X-Callback-Url", $"http://127.0.0.1:{callbackPort + 1}/")));
        await ExpectAsync(HttpStatusCode.BadRequest, Post("/async-function/env", "x", ("X-Callback-Url", $"http://127.0.0.1/")));
        await ExpectAsync(HttpStatusCode.BadRequest, Post("/async-function/env", "x", ("X-Callback-Url", $"ftp://127.0.0.1:{callbackPort}/")));
        await ExpectAsync(HttpStatusCode.BadRequest, Post("/async-function/env", "x", ("X-Callback-Url", "file:///etc/passwd")));
        await ExpectAsync(HttpStatusCode.BadRequest, Post("/async-function/env", "x", ("X-Callback-Url", $"http://user:pw@127.0.0.1:{callbackPort}/")));
        await ExpectAsync(HttpStatusCode.BadRequest, Post("/async-function/env", "x", ("X-Callback-Url", "/relative")));

        // Two X-Callback-Url lines (HttpClient would join them into one line, a single URL with a comma in its path).
        string raw = await RawAsync(
            server,
            $"POST /async-function/env HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Callback-Url: http://127.0.0.1:{callbackPort}/a\r\n"
            + $"X-Callback-Url: http://127.0.0.1:{callbackPort}/b\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
        Assert.StartsWith("HTTP/1.1 400 ", raw, StringComparison.Ordinal);

        // Nothing was stored, nothing ran.
        Assert.Equal("0", await MetricAsync(server, "aotfaas_async_accepted_total"));
        Assert.DoesNotContain("accepted as call", server.Output, StringComparison.Ordinal);
        await Task.Delay(300);
        Assert.False(File.Exists(server.Mark("guarded-ran")), "the guarded program ran for a refused call");
        Assert.DoesNotContain(" ended: ", server.Output, StringComparison.Ordinal);

        // The same calls, made right, are accepted (the refusals above were not about something else).
        await AcceptedAsync(await PostAsync(server, "/async-function/guarded", "x", ("Authorization", "Bearer " + AsyncBinary.Token)), "guarded");
        Assert.True(await ProcessInfo.EventuallyAsync(() => File.Exists(server.Mark("guarded-ran"))), "the guarded program did not run with the token\n" + server.Output);
        await AcceptedAsync(await PostAsync(server, "/async-function/small", new string('a', 16)), "small");
        await AcceptedAsync(await PostAsync(server, "/async-function/env", "x", ("X-Callback-Url", $"http://127.0.0.1:{callbackPort}/ok")), "env");
        Assert.Equal("3", await MetricAsync(server, "aotfaas_async_accepted_total"));
        await StopAndCheckNothingLeftAsync(server);
    }

    [Fact]
    public async Task A_full_async_queue_answers_429_and_frees_up_as_calls_run()
    {
        await using Server server = await StartAsync();

        // blocking: max-inflight 1, async-queue 2. One runs (and waits for 'release'), two wait, the fourth is refused.
        string first = await AcceptedAsync(await PostAsync(server, "/async-function/blocking", "first"), "blocking");
        await WaitForLinesAsync(server, "started", 1);
        string second = await AcceptedAsync(await PostAsync(server, "/async-function/blocking", "second"), "blocking");
        string third = await AcceptedAsync(await PostAsync(server, "/async-function/blocking", "third"), "blocking");
        using (HttpResponseMessage full = await PostAsync(server, "/async-function/blocking", "fourth"))
        {
            Assert.True(full.StatusCode == HttpStatusCode.TooManyRequests, $"{(int)full.StatusCode}: {await full.Content.ReadAsStringAsync()}");
            Assert.Equal("1", full.Headers.GetValues("Retry-After").Single());
            Assert.False(full.Headers.Contains("X-Call-Id"));
        }

        Assert.True(await server.Running.WaitForMetricAsync("aotfaas_async_queued{function=\"blocking\"} 2"), await server.Client.GetStringAsync("/metrics"));
        await Task.Delay(100);
        string? oldest = await MetricAsync(server, "aotfaas_async_oldest_age_seconds{function=\"blocking\"}");
        Assert.True(oldest is not null && double.Parse(oldest, CultureInfo.InvariantCulture) is > 0 and < 30, $"oldest age: {oldest}");
        Assert.Equal("queued", (await StatusAsync(server, "blocking", second)).GetProperty("state").GetString());
        Assert.Equal("running", (await StatusAsync(server, "blocking", first)).GetProperty("state").GetString());

        File.WriteAllText(server.Mark("release"), string.Empty);
        foreach ((string id, string input) in new[] { (first, "first"), (second, "second"), (third, "third") })
        {
            JsonElement status = await DoneAsync(server, "blocking", id);
            Assert.Equal(input, status.GetProperty("output").GetString());
        }

        Assert.Equal(["first", "second", "third"], server.Lines("started"));

        // Room again.
        string fifth = await AcceptedAsync(await PostAsync(server, "/async-function/blocking", "fifth"), "blocking");
        Assert.Equal("fifth", (await DoneAsync(server, "blocking", fifth)).GetProperty("output").GetString());
        Assert.DoesNotContain("fourth", server.Lines("started"));
        await StopAndCheckNothingLeftAsync(server);
    }

    [Fact]
    public async Task A_busy_function_serves_its_synchronous_requests_before_its_stored_calls()
    {
        await using Server server = await StartAsync();
        string running = await AcceptedAsync(await PostAsync(server, "/async-function/blocking", "async-1"), "blocking");
        await WaitForLinesAsync(server, "started", 1);
        string queued = await AcceptedAsync(await PostAsync(server, "/async-function/blocking", "async-2"), "blocking");

        // A synchronous request waits for the slot the running call holds.
        Task<HttpResponseMessage> sync = PostAsync(server, "/function/blocking", "sync");
        Assert.True(await server.Running.WaitForMetricAsync("aotfaas_queued{function=\"blocking\"} 1"), await server.Client.GetStringAsync("/metrics"));

        File.WriteAllText(server.Mark("release"), string.Empty);
        using (HttpResponseMessage response = await sync)
        {
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            Assert.Equal("sync", await response.Content.ReadAsStringAsync());
        }

        await DoneAsync(server, "blocking", running);
        await DoneAsync(server, "blocking", queued);
        Assert.Equal(["async-1", "sync", "async-2"], server.Lines("started"));
        await StopAndCheckNothingLeftAsync(server);
    }

    [Fact]
    public async Task Status_reads_need_a_known_id_of_that_function_and_the_functions_token()
    {
        await using Server server = await StartAsync();

        using (HttpResponseMessage unknown = await server.Client.GetAsync("/async-function/env/calls/0123456789abcdef0123456789abcdef"))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }

        // A call is read under its own function only.
        string id = await AcceptedAsync(await PostAsync(server, "/async-function/env", "mine"), "env");
        await DoneAsync(server, "env", id);
        using (HttpResponseMessage other = await server.Client.GetAsync($"/async-function/bytes/calls/{id}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        }

        // A bearer function's calls are read with its token only.
        string guarded = await AcceptedAsync(await PostAsync(server, "/async-function/guarded", "secret output", ("Authorization", "Bearer " + AsyncBinary.Token)), "guarded");
        JsonElement status = await DoneAsync(server, "guarded", guarded, AsyncBinary.Token);
        Assert.Equal("secret output", status.GetProperty("output").GetString());
        using (HttpResponseMessage anonymous = await server.Client.GetAsync($"/async-function/guarded/calls/{guarded}"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.DoesNotContain("secret output", await anonymous.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var wrong = new HttpRequestMessage(HttpMethod.Get, $"/async-function/guarded/calls/{guarded}"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "wrong");
            using HttpResponseMessage response = await server.Client.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        await StopAndCheckNothingLeftAsync(server);
    }

    [Fact]
    public async Task An_ended_call_is_gone_after_the_retention()
    {
        await using Server server = await StartAsync(null, "--async-retention", "2s");
        string id = await AcceptedAsync(await PostAsync(server, "/async-function/env", "short-lived"), "env");
        await DoneAsync(server, "env", id);
        long ended = Environment.TickCount64;

        // The purge runs every second; the call ended less than 2 s ago is kept until then.
        HttpStatusCode code = HttpStatusCode.OK;
        for (long deadline = ended + 8000; Environment.TickCount64 < deadline && code == HttpStatusCode.OK; await Task.Delay(100))
        {
            using HttpResponseMessage response = await server.Client.GetAsync($"/async-function/env/calls/{id}");
            code = response.StatusCode;
        }

        long gone = Environment.TickCount64 - ended;
        Assert.True(code == HttpStatusCode.NotFound, $"still {(int)code} {gone} ms after its end\n{server.Output}");
        Assert.True(gone >= 1000, $"purged {gone} ms after its end, with a retention of 2 s");
        output.WriteLine($"purged {gone} ms after the call ended (retention 2 s)");
        await StopAndCheckNothingLeftAsync(server);
    }

    /// <summary>An HTTP listener on 127.0.0.1 that records what it receives and answers with the statuses it is given, then 200.</summary>
    private sealed class CallbackListener : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly ConcurrentQueue<int> _answers;
        private readonly Task _loop;

        public CallbackListener(params int[] answers)
        {
            _answers = new ConcurrentQueue<int>(answers);
            for (int attempt = 0; ; attempt++)
            {
                Port = RunningServer.FreePort();
                _listener.Prefixes.Clear();
                _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
                try
                {
                    _listener.Start();
                    break;
                }
                catch (HttpListenerException) when (attempt < 5)
                {
                }
            }

            _loop = LoopAsync();
        }

        public int Port { get; }

        public ConcurrentQueue<Received> Requests { get; } = new();

        public sealed record Received(string Method, string Target, Dictionary<string, string> Headers, byte[] Body, int Answered);

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                int answer = _answers.TryDequeue(out int status) ? status : 200;
                var headers = context.Request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);
                Requests.Enqueue(new Received(context.Request.HttpMethod, context.Request.RawUrl ?? string.Empty, headers, body.ToArray(), answer));
                context.Response.StatusCode = answer;
                context.Response.Close();
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }

    [Fact]
    public async Task The_result_is_posted_to_the_callback_url()
    {
        using var listener = new CallbackListener();
        await using Server server = await StartAsync(null, "--callback-allow", $"localhost,127.0.0.1:{listener.Port}");
        string url = $"http://127.0.0.1:{listener.Port}/hook/done?k=1";
        string id = await AcceptedAsync(await PostAsync(server, "/async-function/env/p", "called back", ("X-Callback-Url", url), ("X-Try", "t")), "env");

        JsonElement status = await DoneAsync(server, "env", id, callback: true);
        Assert.Equal("delivered", status.GetProperty("callback").GetString());
        Assert.Equal(1, status.GetProperty("callbackAttempts").GetInt32());
        CallbackListener.Received received = Assert.Single(listener.Requests);
        Assert.Equal("POST", received.Method);
        Assert.Equal("/hook/done?k=1", received.Target);
        Assert.Equal("POST|/p||t|called back", Encoding.UTF8.GetString(received.Body));
        Assert.Equal(id, received.Headers["X-Call-Id"]);
        Assert.Equal("env", received.Headers["X-Function-Name"]);
        Assert.Equal("200", received.Headers["X-Function-Status"]);
        Assert.Equal("0", received.Headers["X-Exit-Code"]);
        Assert.Equal(status.GetProperty("contentType").GetString(), received.Headers["Content-Type"]);
        double duration = double.Parse(received.Headers["X-Duration-Seconds"], CultureInfo.InvariantCulture);
        Assert.InRange(duration, 0, 10);
        await WaitForLogAsync(server, $"env call {id}: callback delivered (attempt 1)");
        Assert.Equal("1", await MetricAsync(server, "aotfaas_async_callbacks_delivered_total"));

        // A failing call is posted too, with its status and exit code.
        string failed = await AcceptedAsync(await PostAsync(server, "/async-function/fail", "x", ("X-Callback-Url", url)), "fail");
        await DoneAsync(server, "fail", failed, callback: true);
        CallbackListener.Received failure = listener.Requests.Single(r => r.Headers["X-Call-Id"] == failed);
        Assert.Equal("500", failure.Headers["X-Function-Status"]);
        Assert.Equal("7", failure.Headers["X-Exit-Code"]);
        Assert.Equal("bad input\n", Encoding.UTF8.GetString(failure.Body));
        await StopAndCheckNothingLeftAsync(server);
    }

    [Fact]
    public async Task A_callback_answered_500_is_tried_again_with_backoff_until_it_gets_a_2xx()
    {
        using var listener = new CallbackListener(500, 500);
        await using Server server = await StartAsync(null, "--callback-allow", $"127.0.0.1:{listener.Port}");
        string id = await AcceptedAsync(await PostAsync(server, "/async-function/env", "retried", ("X-Callback-Url", $"http://127.0.0.1:{listener.Port}/")), "env");

        JsonElement status = await DoneAsync(server, "env", id, seconds: 20, callback: true);
        Assert.Equal("delivered", status.GetProperty("callback").GetString());
        Assert.Equal(3, status.GetProperty("callbackAttempts").GetInt32());
        Assert.Equal([500, 500, 200], listener.Requests.Select(r => r.Answered));
        Assert.All(listener.Requests, r => Assert.Equal("POST|||", Encoding.UTF8.GetString(r.Body)[..7]));
        await WaitForLogAsync(server, $"env call {id}: callback attempt 1 failed: it answered 500; next in 1000 ms");
        await WaitForLogAsync(server, $"env call {id}: callback attempt 2 failed: it answered 500; next in 2000 ms");
        await WaitForLogAsync(server, $"env call {id}: callback delivered (attempt 3)");
        Assert.Equal("2", await MetricAsync(server, "aotfaas_async_callbacks_retried_total"));
        Assert.Equal("1", await MetricAsync(server, "aotfaas_async_callbacks_delivered_total"));
        Assert.Equal("0", await MetricAsync(server, "aotfaas_async_callbacks_given_up_total"));
        await StopAndCheckNothingLeftAsync(server);
    }

    [Fact]
    public async Task Every_accepted_call_runs_after_a_kill_9_and_a_restart()
    {
        const int Calls = 100;
        string dir = NewDir();
        string[] ids = new string[Calls];
        await using (Server first = await StartAsync(dir))
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, Calls), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
                ids[i] = await AcceptedAsync(await PostAsync(first, "/async-function/append", $"call-{i}"), "append"));

            // Right after the last 202.
            Assert.Equal(0, Kill(first.Running.ProcessId, SIGKILL));
            Assert.Equal(128 + SIGKILL, await first.Running.WaitForExitAsync(TimeSpan.FromSeconds(10)));
            output.WriteLine($"at the kill: {first.Lines("appended").Length} of {Calls} calls had appended");
        }

        await using Server second = await StartAsync(dir);
        var runs = new int[Calls];
        for (int i = 0; i < Calls; i++)
        {
            JsonElement status = await DoneAsync(second, "append", ids[i], seconds: RecoverySeconds);
            Assert.Equal(200, status.GetProperty("status").GetInt32());
            Assert.Equal($"call-{i}", status.GetProperty("output").GetString());
            runs[i] = status.GetProperty("runs").GetInt32();
        }

        // Every call ran at least once; a call appended no more often than it was taken to run.
        string[] lines = second.Lines("appended");
        int twice = 0;
        for (int i = 0; i < Calls; i++)
        {
            int appended = lines.Count(line => line == $"call-{i}");
            Assert.True(appended >= 1, $"call-{i} ({ids[i]}) never ran\n{second.Output}");
            Assert.True(appended <= runs[i], $"call-{i} appended {appended} times but says runs {runs[i]}");
            twice += appended > 1 ? 1 : 0;
        }

        // Besides: an empty line from a program the kill left behind before it got its input (its stdin closed early).
        string[] foreign = [.. lines.Where(line => !line.StartsWith("call-", StringComparison.Ordinal))];
        Assert.True(foreign.All(line => line.Length == 0), "lines no call wrote: " + string.Join(" | ", foreign));
        Assert.Equal(Calls, lines.Where(line => line.Length > 0).Distinct().Count());
        string recovered = second.Output.Split('\n').FirstOrDefault(l => l.Contains("left running by a server that stopped", StringComparison.Ordinal)) ?? "(no call was left running)";
        output.WriteLine($"{twice} of {Calls} calls ran twice (appended twice); {runs.Count(r => r > 1)} have runs > 1; {foreign.Length} run(s) orphaned by the kill got no input; {recovered.Trim()}");
        await StopAndCheckNothingLeftAsync(second);
    }

    [Fact]
    public async Task Calls_cut_by_the_drain_are_queued_again_and_run_after_a_restart()
    {
        string dir = NewDir();
        string[] ids = new string[3];
        await using (Server first = await StartAsync(dir, "--drain-timeout", "1s"))
        {
            // slow: max-inflight 2, each sleeps 30 s: two run, the third waits.
            for (int i = 0; i < 3; i++)
            {
                ids[i] = await AcceptedAsync(await PostAsync(first, "/async-function/slow", $"slow-{i}"), "slow");
            }

            await WaitForLinesAsync(first, "slow-started", 2);
            Assert.Equal(0, Kill(first.Running.ProcessId, SIGTERM));
            long signalled = Environment.TickCount64;
            Assert.Equal(0, await first.Running.WaitForExitAsync(TimeSpan.FromSeconds(15)));
            output.WriteLine($"exited {Environment.TickCount64 - signalled} ms after SIGTERM (drain timeout 1 s)");
            Assert.Contains("Asynchronous calls: 2 still running at the drain timeout are stopped and queued again", first.Output, StringComparison.Ordinal);
            Assert.Empty(first.Lines("slow-done"));
            Assert.Equal(2, first.Lines("slow-started").Length);
            await AssertNothingLeftAsync(first);
        }

        File.WriteAllText(Path.Combine(dir, "fast"), string.Empty);
        await using Server second = await StartAsync(dir);
        for (int i = 0; i < 3; i++)
        {
            JsonElement status = await DoneAsync(second, "slow", ids[i]);
            Assert.Equal(200, status.GetProperty("status").GetInt32());
            Assert.Equal($"slow-{i}", status.GetProperty("output").GetString());
        }

        // The two cut ones ran twice, the one that waited once.
        int[] runs = await Task.WhenAll(ids.Select(async id => (await StatusAsync(second, "slow", id)).GetProperty("runs").GetInt32()));
        Assert.Equal([2, 2, 1], runs);
        Assert.Equal(["slow-0", "slow-1", "slow-2"], second.Lines("slow-done").Order());
        await StopAndCheckNothingLeftAsync(second);
    }
}

/// <summary>
/// The same tests with the calls kept in NATS JetStream (a real nats-server started by the fixture; a stream per
/// server folder, so a restart in the same folder finds its calls). A call held by a killed server runs again once
/// JetStream's ack wait (30 s) has passed.
/// </summary>
public sealed class NatsAsyncTests(AsyncBinary binary, AotFaas.Testing.NatsServer nats, ITestOutputHelper output) : AsyncTests(binary, output), IClassFixture<AotFaas.Testing.NatsServer>
{
    protected override string Store(string dir) => nats.StoreFor(dir);

    protected override int RecoverySeconds => 60;

    [Fact]
    public async Task Two_servers_on_one_stream_share_the_queue_and_run_each_call_once()
    {
        string shared = nats.NewStore();
        await using Server first = await StartAsync(null, "--async-store", shared);
        await using Server second = await StartAsync(null, "--async-store", shared);

        // blocking (max-inflight 1): both calls accepted by the first; it runs one, so the other runs on the second.
        string[] held = [await AcceptedAsync(await PostAsync(first, "/async-function/blocking", "one"), "blocking"),
            await AcceptedAsync(await PostAsync(first, "/async-function/blocking", "two"), "blocking")];
        await WaitForLinesAsync(first, "started", 1);
        await WaitForLinesAsync(second, "started", 1);
        File.WriteAllText(first.Mark("release"), string.Empty);
        File.WriteAllText(second.Mark("release"), string.Empty);
        foreach (string id in held)
        {
            Assert.Equal(200, (await DoneAsync(second, "blocking", id)).GetProperty("status").GetInt32());
        }

        // 100 calls accepted by both: each ran once, on one of them.
        const int Calls = 100;
        string[] ids = new string[Calls];
        await Parallel.ForEachAsync(Enumerable.Range(0, Calls), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
            ids[i] = await AcceptedAsync(await PostAsync(i % 2 == 0 ? first : second, "/async-function/append", $"call-{i}"), "append"));
        for (int i = 0; i < Calls; i++)
        {
            JsonElement status = await DoneAsync(i % 2 == 0 ? second : first, "append", ids[i]);
            Assert.Equal($"call-{i}", status.GetProperty("output").GetString());
            Assert.Equal(1, status.GetProperty("runs").GetInt32());
        }

        string[] lines = [.. first.Lines("appended"), .. second.Lines("appended")];
        Assert.Equal(Calls, lines.Length);
        Assert.Equal(Calls, lines.Distinct().Count());
        Log.WriteLine($"the first server ran {first.Lines("appended").Length} calls, the second {second.Lines("appended").Length}");
        await StopAndCheckNothingLeftAsync(first);
        await StopAndCheckNothingLeftAsync(second);
    }

    [Fact]
    public async Task A_server_that_cannot_reach_NATS_refuses_to_start()
    {
        int port = RunningServer.FreePort();
        string dir = NewDir();
        var start = new System.Diagnostics.ProcessStartInfo(Binary.Path) { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = dir };
        foreach ((string name, string value) in AsyncBinary.Environment(dir))
        {
            start.Environment[name] = value;
        }

        foreach (string argument in (string[])["--urls", $"http://127.0.0.1:{port}", "--async-store", $"nats://127.0.0.1:{RunningServer.FreePort()}/calls"])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(20_000), "still running without NATS");
        Assert.Equal(1, process.ExitCode);
        Assert.Contains("cannot use the NATS store nats://127.0.0.1:", await stderr, StringComparison.Ordinal);
        Assert.Contains("refusing to start", await stderr, StringComparison.Ordinal);
    }
}
