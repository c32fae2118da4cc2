using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace AotFaas.EndToEnd;

/// <summary>
/// <c>mode: http</c> on the native binary (workers.faas, a binary of its own): long-lived Python workers
/// (workers/echo.py) behind the server: what a call carries through both ways, 256 MiB streamed each way in little
/// memory, a worker's crash, one that never gets ready, the timeout and a client that leaves, idle-stop, the drain,
/// replicas and auth. Every test that stops its server checks that no worker of it is left (by a marker in the
/// command line and a tag in the environment that only that server's workers carry).
/// </summary>
[Collection(nameof(PublishedBinary))]
public sealed partial class WorkerTests(WorkersBinary workers, ITestOutputHelper output) : IClassFixture<WorkersBinary>
{
    private const int SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    [GeneratedRegex(@"^(?:info|warn|fail): \S+ (?<function>[\w.-]+)\[(?<worker>\d+)\] ready: pid (?<pid>\d+), port (?<port>\d+), ", RegexOptions.Multiline)]
    private static partial Regex ReadyLine();

    /// <summary>A server of the workers binary, and the tag its workers carry.</summary>
    private sealed record Server(RunningServer Running, string Tag) : IAsyncDisposable
    {
        public HttpClient Client => Running.Client;

        public string Output => Running.Output;

        public async ValueTask DisposeAsync()
        {
            await Running.DisposeAsync();
            File.Delete("/tmp/aotfaas-e2e-started-" + Tag);
        }
    }

    private async Task<Server> StartAsync(params string[] extra)
    {
        string tag = Guid.NewGuid().ToString("N");
        int port = RunningServer.FreePort();
        RunningServer running = await RunningServer.StartAsync(
            workers.Path, port, ["--urls", $"http://127.0.0.1:{port}", .. extra], workers.Environment(tag), WorkersBinary.WorkingDirectory);
        return new Server(running, tag);
    }

    /// <summary>Waits for the log line saying that worker <paramref name="worker"/> of <paramref name="function"/> is ready (the <paramref name="nth"/> such line); returns its pid.</summary>
    private static async Task<int> ReadyPidAsync(Server server, string function, int worker = 1, int nth = 1)
    {
        Match[] ready = [];
        bool found = await ProcessInfo.EventuallyAsync(() =>
        {
            ready = [.. ReadyLine().Matches(server.Output).Where(m => m.Groups["function"].Value == function && m.Groups["worker"].Value == worker.ToString(CultureInfo.InvariantCulture))];
            return ready.Length >= nth;
        }, seconds: 15);
        Assert.True(found, $"{function}[{worker}] was not ready ({nth} time(s)):\n{server.Output}");
        return int.Parse(ready[nth - 1].Groups["pid"].Value, CultureInfo.InvariantCulture);
    }

    private static async Task WaitForLogAsync(Server server, string text)
        => Assert.True(await ProcessInfo.EventuallyAsync(() => server.Output.Contains(text, StringComparison.Ordinal), seconds: 15), $"not logged: {text}\n{server.Output}");

    /// <summary>Stops the server with SIGTERM (exit 0), then checks that none of its workers is left.</summary>
    private static async Task StopAndCheckNoWorkerLeftAsync(Server server)
    {
        Assert.Equal(0, await server.Running.StopAsync());
        await AssertNoWorkerLeftAsync(server);
    }

    private static async Task AssertNoWorkerLeftAsync(Server server)
    {
        int[] left = [];
        Assert.True(await ProcessInfo.EventuallyAsync(() => (left = WorkersBinary.WorkerProcesses(server.Tag)).Length == 0, seconds: 5), $"workers left behind: {string.Join(", ", left)}\n{server.Output}");
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    /// <summary>The values of header <paramref name="name"/> as the worker received them.</summary>
    private static string[] Seen(JsonElement echo, string name)
        => [.. echo.GetProperty("headers").EnumerateArray().Where(h => h[0].GetString()!.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h[1].GetString()!)];

    private static byte[] AllByteValues() => [.. Enumerable.Range(0, 256).Select(i => (byte)i), .. Enumerable.Range(0, 256).Select(i => (byte)(255 - i))];

    [Fact]
    public async Task Worker_methods_path_query_headers_and_binary_bodies_pass_through_both_ways()
    {
        await using Server server = await StartAsync();
        const string Target = "/a%20b/caf%C3%A9/100%25?q=a%20b&x=%2F&y=%3D%26&z=+";

        foreach (string method in new[] { "GET", "POST", "PUT", "DELETE", "PATCH" })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), "/function/echo" + Target);
            if (method != "GET")
            {
                request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(method + " body"));
            }

            using HttpResponseMessage response = await server.Client.SendAsync(request);
            JsonElement echo = await JsonAsync(response);
            Assert.Equal(method, echo.GetProperty("method").GetString());
            Assert.Equal(Target, echo.GetProperty("target").GetString());
            Assert.Equal(method == "GET" ? string.Empty : method + " body", Encoding.UTF8.GetString(Convert.FromBase64String(echo.GetProperty("body").GetString()!)));
            Assert.Equal(method, response.Headers.GetValues("X-Echo-Method").Single());
        }

        using (var head = new HttpRequestMessage(HttpMethod.Head, "/function/echo" + Target))
        using (HttpResponseMessage response = await server.Client.SendAsync(head))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("HEAD", response.Headers.GetValues("X-Echo-Method").Single());
            Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        }

        // Headers in: a custom one passes; hop-by-hop ones (and one the client's Connection names) do not; the
        // forwarding headers and the request id are the server's, whatever the client said; Authorization is dropped.
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/function/echo/headers") { Content = new ByteArrayContent(AllByteValues()) })
        {
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-e2e");
            request.Headers.Add("X-Custom-In", "custom in");
            request.Headers.Connection.Add("X-Hop-In");
            request.Headers.Add("X-Hop-In", "must not pass");
            request.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
            request.Headers.TryAddWithoutValidation("TE", "trailers");
            request.Headers.TryAddWithoutValidation("Proxy", "http://evil.example");
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", "6.6.6.6");
            request.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "https");
            request.Headers.TryAddWithoutValidation("X-Forwarded-Host", "evil.example");
            request.Headers.TryAddWithoutValidation("Forwarded", "for=6.6.6.6");
            request.Headers.TryAddWithoutValidation("X-Request-Id", "not a valid id!");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "client-secret");
            using HttpResponseMessage response = await server.Client.SendAsync(request);
            JsonElement echo = await JsonAsync(response);

            Assert.Equal(["custom in"], Seen(echo, "X-Custom-In"));
            Assert.Equal(["application/x-e2e"], Seen(echo, "Content-Type"));
            Assert.Equal(["512"], Seen(echo, "Content-Length"));
            foreach (string dropped in new[] { "X-Hop-In", "Keep-Alive", "TE", "Proxy", "Forwarded", "Authorization", "Transfer-Encoding" })
            {
                Assert.True(Seen(echo, dropped).Length == 0, $"the worker got {dropped}: {string.Join(", ", Seen(echo, dropped))}");
            }

            Assert.DoesNotContain(Seen(echo, "Connection"), value => value.Contains("X-Hop-In", StringComparison.OrdinalIgnoreCase));
            Assert.Equal(["127.0.0.1"], Seen(echo, "X-Forwarded-For"));
            Assert.Equal(["http"], Seen(echo, "X-Forwarded-Proto"));
            Assert.Equal([server.Running.Address.Authority], Seen(echo, "X-Forwarded-Host"));
            Assert.Equal([server.Running.Address.Authority], Seen(echo, "Host"));
            string requestId = response.Headers.GetValues("X-Request-Id").Single();
            Assert.NotEqual("not a valid id!", requestId);
            Assert.Equal([requestId], Seen(echo, "X-Request-Id"));
            Assert.Equal(AllByteValues(), Convert.FromBase64String(echo.GetProperty("body").GetString()!));

            // Headers out: the worker's own ones, both cookies as two headers.
            Assert.Equal("custom out", response.Headers.GetValues("X-Echo-Out").Single());
            Assert.Equal(["first=1; Path=/", "second=2; Path=/; HttpOnly"], response.Headers.GetValues("Set-Cookie"));
            Assert.Equal("application/json", response.Content.Headers.ContentType?.ToString());
        }

        // Authorization reaches a worker only with pass-authorization: true.
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/function/echo-auth/"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "client-secret");
            using HttpResponseMessage response = await server.Client.SendAsync(request);
            Assert.Equal(["Bearer client-secret"], Seen(await JsonAsync(response), "Authorization"));
        }

        // Binary bodies both ways, with a length and chunked.
        using (var raw = new ByteArrayContent(AllByteValues()))
        {
            raw.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using HttpResponseMessage response = await server.Client.PostAsync("/function/echo/raw", raw);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(AllByteValues(), await response.Content.ReadAsByteArrayAsync());
            Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.ToString());
        }

        using (var chunked = new GeneratedContent(AllByteValues(), knownLength: false))
        using (HttpResponseMessage response = await server.Client.PostAsync("/function/echo/raw", chunked))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(AllByteValues(), await response.Content.ReadAsByteArrayAsync());
        }

        // A worker's stdout and stderr reach the log, line by line, under its function and number.
        using (HttpResponseMessage logged = await server.Client.GetAsync("/function/echo/log?tag=" + server.Tag))
        {
            Assert.Equal(HttpStatusCode.OK, logged.StatusCode);
        }

        await WaitForLogAsync(server, $"echo[1] stdout: out {server.Tag}");
        await WaitForLogAsync(server, $"echo[1] stderr: err {server.Tag}");
        await StopAndCheckNoWorkerLeftAsync(server);
    }

    [Fact]
    public async Task Worker_hop_by_hop_response_headers_are_dropped_with_those_its_Connection_names()
    {
        await using Server server = await StartAsync();
        using HttpResponseMessage response = await server.Client.GetAsync("/function/echo/hop");
        await JsonAsync(response);

        // The worker sent Connection: keep-alive, X-Hop-Out; X-Hop-Out; Keep-Alive (RFC 9110 7.6.1: a proxy removes them).
        Assert.False(response.Headers.Contains("X-Hop-Out"), "X-Hop-Out, named by the worker's Connection header, reached the client");
        Assert.False(response.Headers.Contains("Keep-Alive"), "the worker's Keep-Alive reached the client");
        Assert.DoesNotContain(response.Headers.Connection, token => token.Equals("X-Hop-Out", StringComparison.OrdinalIgnoreCase));
        await StopAndCheckNoWorkerLeftAsync(server);
    }

    [Fact]
    public async Task Worker_streams_256_MiB_up_and_down_with_the_server_under_64_MiB_resident()
    {
        const long Size = 256L << 20;
        await using Server server = await StartAsync();
        await ReadyPidAsync(server, "big");
        var clock = Stopwatch.StartNew();

        using (var upload = new GeneratedContent(Size))
        using (HttpResponseMessage response = await server.Client.PostAsync("/function/big/upload", upload))
        {
            JsonElement received = await JsonAsync(response);
            Assert.Equal(Size, received.GetProperty("length").GetInt64());
            Assert.Equal(upload.Sha256, received.GetProperty("sha256").GetString());
        }

        foreach (bool chunked in new[] { true, false })
        {
            string tag = $"{server.Tag}-{chunked}";
            using HttpResponseMessage response = await server.Client.GetAsync($"/function/big/download?size={Size}&chunked={(chunked ? 1 : 0)}&tag={tag}", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(chunked ? null : Size, response.Content.Headers.ContentLength);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long length = 0;
            await using (Stream body = await response.Content.ReadAsStreamAsync())
            {
                byte[] buffer = new byte[1 << 20];
                for (int read; (read = await body.ReadAsync(buffer)) > 0; length += read)
                {
                    hash.AppendData(buffer, 0, read);
                }
            }

            Assert.Equal(Size, length);
            await WaitForLogAsync(server, $"big[1] stdout: download {tag}: {Size} bytes sha256 {Convert.ToHexStringLower(hash.GetHashAndReset())}");
        }

        long peakKib = PeakKib(server.Running.ProcessId);
        output.WriteLine($"768 MiB through the server in {clock.ElapsedMilliseconds} ms; its peak resident memory: {peakKib / 1024.0:F1} MiB");
        Assert.True(peakKib < 64 * 1024, $"the server's peak resident memory is {peakKib} KiB");
        await StopAndCheckNoWorkerLeftAsync(server);
    }

    [Fact]
    public async Task Worker_that_dies_mid_call_gives_a_one_line_502_and_is_started_again_on_a_new_pid()
    {
        await using Server server = await StartAsync();
        int first = await ReadyPidAsync(server, "echo");

        using (HttpResponseMessage crashed = await server.Client.PostAsync("/function/echo/crash?tag=" + server.Tag, new StringContent("x")))
        {
            string text = await crashed.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadGateway, crashed.StatusCode);
            Assert.Equal("text/plain; charset=utf-8", crashed.Content.Headers.ContentType?.ToString());
            Assert.True(text.EndsWith('\n') && text.IndexOf('\n') == text.Length - 1 && text.StartsWith("'echo' failed: worker 1 ", StringComparison.Ordinal), "not one line: " + text);
        }

        await WaitForLogAsync(server, $"echo[1] stdout: crashing {server.Tag}");
        await WaitForLogAsync(server, $"echo[1] (pid {first}) exited: exit code 3");
        await WaitForLogAsync(server, "echo[1] starts again in 100 ms");
        int second = await ReadyPidAsync(server, "echo", nth: 2);
        Assert.NotEqual(first, second);
        Assert.True(await ProcessInfo.IsGoneAsync(first), $"the crashed worker {first} is still there");

        using (HttpResponseMessage next = await server.Client.GetAsync("/function/echo/pid"))
        {
            JsonElement pid = await JsonAsync(next);
            Assert.Equal(second, pid.GetProperty("pid").GetInt32());
            Assert.Equal(1, pid.GetProperty("count").GetInt32());
        }

        await StopAndCheckNoWorkerLeftAsync(server);
    }

    [Fact]
    public async Task Worker_that_closes_its_connection_unanswered_is_described_in_words()
    {
        await using Server server = await StartAsync();
        await ReadyPidAsync(server, "echo");
        using HttpResponseMessage crashed = await server.Client.PostAsync("/function/echo/crash?tag=" + server.Tag, new StringContent("x"));

        Assert.Equal(HttpStatusCode.BadGateway, crashed.StatusCode);
        Assert.Equal("'echo' failed: worker 1 closed the connection before it answered\n", await crashed.Content.ReadAsStringAsync());
        await StopAndCheckNoWorkerLeftAsync(server);
    }

    [Fact]
    public async Task Worker_that_never_gets_ready_is_logged_as_an_error_and_calls_get_503()
    {
        await using Server server = await StartAsync();
        await WaitForLogAsync(server, "never[1] stdout: listening on ");
        Assert.True(
            await ProcessInfo.EventuallyAsync(() => Regex.IsMatch(server.Output, @"^fail: \S+ never: worker 1 was not ready within 1s \(GET /ready on its port \d+ did not answer 2xx\); stopping it$", RegexOptions.Multiline)),
            "no error line:\n" + server.Output);

        var clock = Stopwatch.StartNew();
        using HttpResponseMessage response = await server.Client.PostAsync("/function/never", new StringContent("x"));
        string text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.StartsWith("'never' has no worker ready: worker 1 was not ready within 1s", text, StringComparison.Ordinal);
        Assert.InRange(clock.ElapsedMilliseconds, 0, 5_000);
        Assert.DoesNotContain("never[1] ready:", server.Output, StringComparison.Ordinal);
        await StopAndCheckNoWorkerLeftAsync(server);
    }

    [Fact]
    public async Task Worker_past_the_timeout_gives_504_its_connection_is_closed_and_it_serves_the_next_call()
    {
        await using Server server = await StartAsync();
        int pid = await ReadyPidAsync(server, "sleepy");

        var clock = Stopwatch.StartNew();
        using (HttpResponseMessage late = await server.Client.GetAsync($"/function/sleepy/sleep?s=10&tag={server.Tag}"))
        {
            long elapsed = clock.ElapsedMilliseconds;
            Assert.Equal(HttpStatusCode.GatewayTimeout, late.StatusCode);
            Assert.Equal("'sleepy' did not answer within its timeout of 1s (worker 1); the call to it was cancelled\n", await late.Content.ReadAsStringAsync());
            Assert.InRange(elapsed, 900, 3_000);
        }

        // The worker sees its connection closed at once, long before its sleep is over.
        await WaitForLogAsync(server, $"sleepy[1] stdout: sleep {server.Tag}: client closed after ");
        Assert.True(clock.ElapsedMilliseconds < 8_000, "the worker saw its connection closed only after " + clock.ElapsedMilliseconds + " ms");
        Assert.DoesNotContain($"sleep {server.Tag}: done", server.Output, StringComparison.Ordinal);

        using (HttpResponseMessage next = await server.Client.GetAsync("/function/sleepy/pid"))
        {
            Assert.Equal(pid, (await JsonAsync(next)).GetProperty("pid").GetInt32());
        }

        await StopAndCheckNoWorkerLeftAsync(server);
    }

    [Fact]
    public async Task Worker_call_is_cancelled_when_the_client_goes_away()
    {
        await using Server server = await StartAsync();
        int pid = await ReadyPidAsync(server, "echo");
        using var leave = new CancellationTokenSource();
        Task<HttpResponseMessage> call = server.Client.GetAsync($"/function/echo/sleep?s=20&tag={server.Tag}", leave.Token);
        await WaitForLogAsync(server, $"echo[1] stdout: sleep {server.Tag}: started");

        var clock = Stopwatch.StartNew();
        leave.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        await WaitForLogAsync(server, $"echo[1] stdout: sleep {server.Tag}: client closed after ");
        Assert.True(clock.ElapsedMilliseconds < 5_000, "the worker's call was cancelled only after " + clock.ElapsedMilliseconds + " ms");
        using (HttpResponseMessage next = await server.Client.GetAsync("/function/echo/pid"))
        {
            Assert.Equal(pid, (await JsonAsync(next)).GetProperty("pid").GetInt32());
        }

        Assert.DoesNotContain($"sleep {server.Tag}: done", server.Output, StringComparison.Ordinal);
        await StopAndCheckNoWorkerLeftAsync(server);
    }

    [Fact]
    public async Task Worker_idle_stop_ends_the_worker_and_the_next_call_starts_it_and_waits_for_it()
    {
        await using Server server = await StartAsync();

        // Started with the server, and stopped 1 s later, ready by then or not (python3 on a busy machine may take longer).
        await WaitForLogAsync(server, "idle: no call for 1s: stopping its workers until the next one");
        Match stopped = Match.Empty;
        Assert.True(await ProcessInfo.EventuallyAsync(() => (stopped = Regex.Match(server.Output, @"idle\[1\] \(pid (\d+)\) stopped: (exit code 0|killed by SIGTERM)")).Success), "not stopped:\n" + server.Output);
        int first = int.Parse(stopped.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(await ProcessInfo.IsGoneAsync(first), $"the idle worker {first} is still there");

        var clock = Stopwatch.StartNew();
        using HttpResponseMessage cold = await server.Client.GetAsync("/function/idle/pid");
        long coldMs = clock.ElapsedMilliseconds;
        JsonElement pid = await JsonAsync(cold);
        output.WriteLine($"cold start of an idle-stopped worker (python3, ready after 300 ms): {coldMs} ms to the first answer");

        int second = pid.GetProperty("pid").GetInt32();
        Assert.NotEqual(first, second);
        Assert.True(
            await ProcessInfo.EventuallyAsync(() => ReadyLine().Matches(server.Output).Any(m => m.Groups["function"].Value == "idle" && m.Groups["pid"].Value == second.ToString(CultureInfo.InvariantCulture))),
            $"no ready line for pid {second}:\n{server.Output}");

        // The worker answers GET /ready with 503 for its first 300 ms: the call waited for it to be ready.
        Assert.InRange(coldMs, 300, 10_000);
        await StopAndCheckNoWorkerLeftAsync(server);
    }

    [Fact]
    public async Task Worker_SIGTERM_lets_a_call_in_flight_finish_then_stops_the_workers_and_exits_0()
    {
        await using Server server = await StartAsync("--kill-grace", "2s");
        int pid = await ReadyPidAsync(server, "echo");
        Task<HttpResponseMessage> call = server.Client.GetAsync($"/function/echo/sleep?s=1.5&tag={server.Tag}");
        await WaitForLogAsync(server, $"echo[1] stdout: sleep {server.Tag}: started");

        Assert.Equal(0, Kill(server.Running.ProcessId, SIGTERM));

        using (HttpResponseMessage response = await call)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("slept", await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(0, await server.Running.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        string log = server.Output;
        int done = log.IndexOf($"echo[1] stdout: sleep {server.Tag}: done", StringComparison.Ordinal);
        int term = log.IndexOf("echo[1] stdout: got SIGTERM", StringComparison.Ordinal);
        Assert.True(done >= 0 && term > done, "the worker got SIGTERM before its call was done:\n" + log);
        Assert.Contains($"echo[1] (pid {pid}) stopped: exit code 0", log, StringComparison.Ordinal);
        Assert.True(await ProcessInfo.IsGoneAsync(pid), $"the worker {pid} survived the server");
        await AssertNoWorkerLeftAsync(server);
    }

    [Fact]
    public async Task Worker_replicas_both_serve_concurrent_calls_and_the_listing_and_system_API_show_them()
    {
        await using Server server = await StartAsync("--system-api");
        int[] pids = [await ReadyPidAsync(server, "pair", 1), await ReadyPidAsync(server, "pair", 2)];
        Assert.NotEqual(pids[0], pids[1]);

        HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => server.Client.GetAsync($"/function/pair/sleep?s=0.5&tag={server.Tag}-{i}")));
        int[] served = [.. responses.Select(r => int.Parse(r.Headers.GetValues("X-Worker-Pid").Single(), CultureInfo.InvariantCulture))];
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(pids.Order(), served.Distinct().Order());
        foreach (HttpResponseMessage response in responses)
        {
            response.Dispose();
        }

        JsonElement pair = JsonDocument.Parse(await server.Client.GetStringAsync("/system/functions")).RootElement.EnumerateArray().Single(f => f.GetProperty("name").GetString() == "pair");
        Assert.Equal("2", pair.GetProperty("annotations").GetProperty("com.aotfaas.replicas").GetString());
        Assert.Equal("http", pair.GetProperty("annotations").GetProperty("com.aotfaas.mode").GetString());
        await StopAndCheckNoWorkerLeftAsync(server);

        (int code, string listing) = Repo.Run(workers.Path, ["--list"], TimeSpan.FromSeconds(10), workers.Environment("list"));
        Assert.Equal(0, code);
        string[] lines = listing.Split('\n');
        int at = Array.FindIndex(lines, line => line.StartsWith("pair: ", StringComparison.Ordinal));
        Assert.True(at >= 0, listing);
        string[] options = [.. lines.Skip(at + 1).TakeWhile(line => line.StartsWith(' ')).Select(line => line.Trim())];
        Assert.Contains("replicas: 2", options);
        Assert.Contains("mode: http", options);
    }

    [Fact]
    public async Task Worker_replicas_are_counted_by_the_system_API()
    {
        await using Server server = await StartAsync("--system-api");
        await ReadyPidAsync(server, "pair", 1);
        await ReadyPidAsync(server, "pair", 2);

        JsonElement pair = JsonDocument.Parse(await server.Client.GetStringAsync("/system/functions")).RootElement.EnumerateArray().Single(f => f.GetProperty("name").GetString() == "pair");
        Assert.Equal(2, pair.GetProperty("replicas").GetInt64());
        Assert.Equal(2, pair.GetProperty("availableReplicas").GetInt64());
        await StopAndCheckNoWorkerLeftAsync(server);
    }

    [Fact]
    public async Task Worker_never_sees_a_call_that_fails_bearer_auth()
    {
        await using Server server = await StartAsync();
        await ReadyPidAsync(server, "guarded");

        foreach (string? authorization in new[] { null, "Bearer wrong-token", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("user:" + WorkersBinary.Token)) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/function/guarded/pid") { Content = new StringContent("x") };
            if (authorization is not null)
            {
                request.Headers.TryAddWithoutValidation("Authorization", authorization);
            }

            using HttpResponseMessage refused = await server.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/function/guarded/pid"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", WorkersBinary.Token);
            using HttpResponseMessage allowed = await server.Client.SendAsync(request);

            // The worker counts every call it takes: this one is its first.
            Assert.Equal(1, (await JsonAsync(allowed)).GetProperty("count").GetInt32());
        }

        await StopAndCheckNoWorkerLeftAsync(server);
    }

    /// <summary>VmHWM: the most resident memory the process has had, in KiB.</summary>
    [Fact]
    public async Task Worker_is_not_started_by_a_server_that_cannot_bind_its_port()
    {
        using var taken = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        taken.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        taken.Listen();
        int port = ((System.Net.IPEndPoint)taken.LocalEndPoint!).Port;
        string tag = Guid.NewGuid().ToString("N");
        var start = new System.Diagnostics.ProcessStartInfo(workers.Path, ["--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = WorkersBinary.WorkingDirectory,
        };
        foreach ((string name, string value) in workers.Environment(tag))
        {
            start.Environment[name] = value;
        }

        using var server = System.Diagnostics.Process.Start(start)!;
        Task<string> stdout = server.StandardOutput.ReadToEndAsync();
        Task<string> stderr = server.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await server.WaitForExitAsync(timeout.Token);

        Assert.Equal(1, server.ExitCode);
        Assert.Contains("address already in use", await stderr, StringComparison.Ordinal);

        // Not started and stopped: never started (each start of the worker leaves a mark).
        string log = await stdout;
        Assert.DoesNotContain("ready: pid", log, StringComparison.Ordinal);
        Assert.False(File.Exists("/tmp/aotfaas-e2e-started-" + tag), "a worker was started by a server that could not bind:\n" + log);
        Assert.Empty(WorkersBinary.WorkerProcesses(tag));
    }

    private static long PeakKib(int pid) => long.Parse(
        File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
        CultureInfo.InvariantCulture);

    /// <summary>A request body made as it is sent (never all in memory), and its SHA-256; with a Content-Length or chunked.</summary>
    private sealed class GeneratedContent : HttpContent
    {
        private readonly byte[] _block;
        private readonly long _length;
        private readonly bool _knownLength;

        public GeneratedContent(long length)
        {
            _block = new byte[1 << 20];
            new Random(12).NextBytes(_block);
            _length = length;
            _knownLength = true;
        }

        public GeneratedContent(byte[] whole, bool knownLength)
        {
            _block = whole;
            _length = whole.Length;
            _knownLength = knownLength;
        }

        public string Sha256 { get; private set; } = string.Empty;

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] block = (byte[])_block.Clone();
            long index = 0;
            for (long sent = 0; sent < _length; sent += block.Length, index++)
            {
                int size = (int)Math.Min(block.Length, _length - sent);
                if (size == _block.Length && _block.Length == 1 << 20)
                {
                    // Each MiB differs from the others: a block lost or sent twice changes the hash, not only the length.
                    BitConverter.TryWriteBytes(block, index);
                }

                hash.AppendData(block, 0, size);
                await stream.WriteAsync(block.AsMemory(0, size));
            }

            Sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _length;
            return _knownLength;
        }
    }
}
