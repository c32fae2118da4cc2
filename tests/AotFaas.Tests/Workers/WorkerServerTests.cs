using System.Net;
using System.Text;
using AotFaas.Functions;
using AotFaas.Tests.Http;
using AotFaas.Tests.Operations;

namespace AotFaas.Tests.Workers;

/// <summary>
/// <c>mode: http</c> in process: real worker programs (a small Python HTTP server) on real sockets, and what the
/// server says about them: its log, its metrics, its system API, and what it leaves when it stops.
/// </summary>
[Collection(nameof(LeakTests))]
public sealed class WorkerServerTests : IAsyncLifetime
{
    /// <summary>
    /// A worker: <c>/crash</c> exits mid-call, <c>/sleep/S</c> answers after S seconds, <c>/latin1</c> answers with a
    /// header Kestrel cannot send, <c>/log</c> writes hostile lines to stdout and stderr, anything else echoes the
    /// request's method, target, headers and body length as JSON. Its first argument is a file its pid is appended to.
    /// </summary>
    private const string WorkerScript = """
        import json, os, sys, time
        from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
        with open(sys.argv[1], "a") as f: f.write(f"{os.getpid()}\n")
        mode = sys.argv[2] if len(sys.argv) > 2 else ""
        if mode == "exit-at-start": sys.exit(4)
        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *a): pass
            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if self.path == "/crash": os._exit(9)
                if self.path.startswith("/sleep/"): time.sleep(float(self.path[7:]))
                if self.path == "/flood":
                    sys.stdout.write("".join("flood %d\n" % i for i in range(5000))); sys.stdout.flush()
                if self.path == "/log":
                    sys.stdout.write("plain line\r\n\x1b[31mred\x07\n" + "x" * 5000 + "\nend without newline")
                    sys.stdout.flush()
                    sys.stderr.write("to stderr\n"); sys.stderr.flush()
                out = json.dumps({"method": self.command, "target": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "length": len(body), "pid": os.getpid(), "cwd": os.getcwd(), "env": {k: v for k, v in os.environ.items()}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                if self.path == "/latin1":
                    self.send_header("X-Latin1", "caf\u00e9")
                self.send_header("X-Plain", "ok")
                self.end_headers()
                self.wfile.write(out)
            do_GET = do_POST = do_PUT = handle_any
        ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
        """;

    private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-workers-").FullName;
    private readonly CapturingLogger _log = new();
    private TestServer _server = null!;

    private HttpClient Client => _server.Client;

    private string Pids(string function) => Path.Combine(_folder, function + ".pids");

    private string Script => Path.Combine(_folder, "worker.py");

    public async Task InitializeAsync()
    {
        string script = Script;
        await File.WriteAllTextAsync(script, WorkerScript);
        Proc Worker(string name, string mode = "", int? replicas = null, long? timeoutMilliseconds = null, long? maxBody = null) => new(
            name, "python3", [script, Pids(name), mode], mode: FunctionMode.Http, replicas: replicas, timeoutMilliseconds: timeoutMilliseconds,
            maxBody: maxBody, methods: ["GET", "POST"], startTimeoutMilliseconds: 10_000);
        _server = await TestServer.StartAsync(
            [
                new("cat", "cat", []),
                Worker("echo", replicas: 2, maxBody: 1024),
                Worker("slow", timeoutMilliseconds: 500),
                Worker("broken", mode: "exit-at-start"),
                new("placed", "python3", [script, Pids("placed"), string.Empty], mode: FunctionMode.Http, methods: ["GET"], workDir: _folder, env: ["GREETING=hello"], passEnv: ["SHARED"]),
            ],
            environment: name => name switch { "SHARED" => "from the server", "PATH" => Environment.GetEnvironmentVariable("PATH"), "NOT_PASSED" => "secret", _ => null },
            options: new AotFaas.Hosting.ServerOptions("http://127.0.0.1:0") { SystemApi = true, Portal = true },
            loggerFactory: _log);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task The_workers_start_with_the_server_not_with_their_first_call()
    {
        Assert.True(await WaitForLogAsync(e => e.Message.StartsWith("echo[1] ready", StringComparison.Ordinal)), Dump());
        Assert.True(await WaitForLogAsync(e => e.Message.StartsWith("echo[2] ready", StringComparison.Ordinal)), Dump());
        Assert.True(await WaitForLogAsync(e => e.Message.StartsWith("slow[1] ready", StringComparison.Ordinal)), Dump());
        Assert.Equal(2, File.ReadAllLines(Pids("echo")).Length);
    }

    [Fact]
    public async Task A_crash_mid_call_is_a_502_and_the_worker_is_restarted_and_counted()
    {
        using HttpResponseMessage first = await Client.GetAsync("/function/slow/first");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        int pid = await PidOf(first);

        using HttpResponseMessage crashed = await Client.GetAsync("/function/slow/crash");
        Assert.Equal(HttpStatusCode.BadGateway, crashed.StatusCode);
        string line = await crashed.Content.ReadAsStringAsync();
        Assert.StartsWith("'slow' failed: worker 1 ", line);
        Assert.Single(line.TrimEnd('\n').Split('\n'));

        // Started again on its own, on a new pid, and counted.
        Assert.True(await WaitForLogAsync(e => e.Message.StartsWith("slow[1] ready", StringComparison.Ordinal) && !e.Message.Contains($"pid {pid},", StringComparison.Ordinal)), Dump());
        using HttpResponseMessage after = await Client.GetAsync("/function/slow/after");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.NotEqual(pid, await PidOf(after));
        string metrics = await Client.GetStringAsync("/metrics");
        IReadOnlyList<PrometheusText.Sample> samples = PrometheusText.Parse(metrics);
        Assert.Equal(1, Value(samples, "aotfaas_worker_restarts_total", "slow"));
        Assert.Equal(1, Value(samples, "aotfaas_upstream_errors_total", "slow"));
        Assert.Equal(1, Value(samples, "aotfaas_workers_up", "slow"));
        Assert.Equal(2, Value(samples, "aotfaas_workers_replicas", "echo"));
        Assert.Contains(_log.Entries, e => e.Message.StartsWith("slow[1] (pid " + pid + ") exited: exit code 9", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_worker_that_times_out_three_calls_in_a_row_is_restarted()
    {
        using HttpResponseMessage first = await Client.GetAsync("/function/slow/first");
        int pid = await PidOf(first);
        for (int i = 0; i < 3; i++)
        {
            using HttpResponseMessage late = await Client.GetAsync("/function/slow/sleep/3");
            Assert.Equal(HttpStatusCode.GatewayTimeout, late.StatusCode);
            Assert.Contains("did not answer within its timeout of 500ms", await late.Content.ReadAsStringAsync());
        }

        Assert.True(await WaitForLogAsync(e => e.Message.StartsWith("slow[1] did not answer 3 calls in a row", StringComparison.Ordinal)), Dump());
        Assert.True(await WaitForLogAsync(e => e.Message.StartsWith("slow[1] ready", StringComparison.Ordinal) && !e.Message.Contains($"pid {pid},", StringComparison.Ordinal)), Dump());
        using HttpResponseMessage after = await Client.GetAsync("/function/slow/after");
        Assert.NotEqual(pid, await PidOf(after));
    }

    [Fact]
    public async Task A_worker_that_exits_at_start_gives_503_with_the_reason_and_backs_off()
    {
        Assert.True(await WaitForLogAsync(e => e.Message == "broken[1] starts again in 200 ms"), Dump());
        using HttpResponseMessage response = await Client.GetAsync("/function/broken/x");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("'broken' has no worker ready: worker 1 ended before it was ready: exit code 4\n", await response.Content.ReadAsStringAsync());
        Assert.Contains(_log.Entries, e => e.Message == "broken[1] starts again in 100 ms");
    }

    [Fact]
    public async Task Worker_output_reaches_the_log_line_by_line_escaped_and_cut()
    {
        using HttpResponseMessage response = await Client.GetAsync("/function/echo/log");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        int pid = await PidOf(response);
        int worker = _log.Entries.Any(e => e.Message.StartsWith($"echo[1] ready: pid {pid},", StringComparison.Ordinal)) ? 1 : 2;
        string prefix = $"echo[{worker}] stdout: ";
        Assert.True(await WaitForLogAsync(e => e.Message == $"echo[{worker}] stderr: to stderr"), Dump());
        Assert.Contains(_log.Entries, e => e.Message == prefix + "plain line");
        Assert.Contains(_log.Entries, e => e.Message == prefix + "\\x1b[31mred\\x07");
        Assert.Contains(_log.Entries, e => e.Message == prefix + new string('x', 2048) + " [line cut]");
        Assert.Equal("AotFaas.Worker", _log.Entries.First(e => e.Message.StartsWith(prefix, StringComparison.Ordinal)).Category);
    }

    [Fact]
    public async Task A_header_the_server_cannot_send_is_dropped_not_a_500()
    {
        using HttpResponseMessage response = await Client.GetAsync("/function/echo/latin1");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("X-Latin1"));
        Assert.Equal("ok", response.Headers.GetValues("X-Plain").Single());
        Assert.Equal(0, _server.Server.Lifecycle.UnhandledExceptions);
    }

    [Fact]
    public async Task A_chunked_body_over_max_body_is_413_and_the_worker_keeps_serving()
    {
        var content = new StreamContent(new MemoryStream(new byte[4096]));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/function/echo/upload") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using HttpResponseMessage response = await Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        using HttpResponseMessage small = await Client.PostAsync("/function/echo/upload", new ByteArrayContent(new byte[1000]));
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        Assert.Contains("\"length\": 1000", await small.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_system_api_counts_replicas_and_ready_ones()
    {
        Assert.True(await WaitForLogAsync(e => e.Message.StartsWith("echo[2] ready", StringComparison.Ordinal)) && await WaitForLogAsync(e => e.Message.StartsWith("echo[1] ready", StringComparison.Ordinal)), Dump());
        string echo = await Client.GetStringAsync("/system/function/echo");
        Assert.Contains("\"replicas\":2", echo);
        Assert.Contains("\"availableReplicas\":2", echo);
        Assert.Contains("\"com.aotfaas.mode\":\"http\"", echo);
        string broken = await Client.GetStringAsync("/system/function/broken");
        Assert.Contains("\"availableReplicas\":0", broken);
        string cat = await Client.GetStringAsync("/system/function/cat");
        Assert.Contains("\"replicas\":1", cat);
        Assert.Contains("\"com.aotfaas.mode\":\"exec\"", cat);
    }

    [Fact]
    public async Task Stopping_the_server_ends_every_worker()
    {
        using HttpResponseMessage response = await Client.GetAsync("/function/echo/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await _server.Server.DrainAsync(TimeSpan.Zero, new RunLimits { KillGrace = TimeSpan.FromSeconds(1) });
        Assert.True(ProcessTable.ChildrenOf(Environment.ProcessId).Length == 0, ProcessTable.DescribeChildren());
        foreach (string name in new[] { "echo", "slow" })
        {
            // A worker stopped while it started may not have written its pid yet; the children above cover it.
            foreach (string pid in File.Exists(Pids(name)) ? File.ReadAllLines(Pids(name)) : [])
            {
                Assert.False(Directory.Exists("/proc/" + pid), $"{name} worker {pid} is still there");
            }
        }

        Assert.Contains(_log.Entries, e => e.Message.StartsWith("echo[1] (pid ", StringComparison.Ordinal) && e.Message.EndsWith(") stopped: killed by SIGTERM", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reload_stops_the_replaced_workers_and_starts_the_new_ones_at_once()
    {
        Assert.True(await WaitForLogAsync(e => e.Message.StartsWith("echo[2] ready", StringComparison.Ordinal)), Dump());
        Assert.True(await WaitForLogAsync(e => e.Message.StartsWith("echo[1] ready", StringComparison.Ordinal)), Dump());
        string[] old = File.ReadAllLines(Pids("echo"));
        Proc[] next = [new("echo", "python3", [Script, Pids("echo"), "reloaded"], mode: FunctionMode.Http, methods: ["GET"])];
        _server.Server.ServeFunctions(next, name => next.FirstOrDefault(proc => proc.FuncName == name));

        // Started by the reload itself, before any call: a third pid in the file, and a ready line for it.
        Assert.True(await WaitForLogAsync(_ => File.ReadAllLines(Pids("echo")).Length == 3), Dump());
        string started = File.ReadAllLines(Pids("echo"))[2];
        Assert.True(await WaitForLogAsync(e => e.Message.StartsWith($"echo[1] ready: pid {started},", StringComparison.Ordinal)), Dump());
        foreach (string pid in old)
        {
            Assert.True(await WaitForLogAsync(_ => !Directory.Exists("/proc/" + pid)), $"replaced worker {pid} is still there\n" + Dump());
        }

        using HttpResponseMessage response = await Client.GetAsync("/function/echo/after");
        Assert.Equal(started, (await PidOf(response)).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    // Not "Connection: keep-alive, X-Foo" (nor close or upgrade beside a name): Kestrel hands such a header over as the
    // known token alone ("keep-alive"), so the names beside it cannot be seen; README says so.
    [Theory]
    [InlineData("Connection: X-Foo")]
    [InlineData("Connection: X-Bar-None, X-Foo")]
    public async Task A_header_the_clients_Connection_names_does_not_reach_the_worker(string connection)
    {
        Uri server = Client.BaseAddress!;
        byte[] head = Encoding.ASCII.GetBytes($"GET /function/echo/h HTTP/1.1\r\nHost: {server.Authority}\r\n{connection}\r\nX-Foo: dropme\r\nX-Bar: keep\r\n\r\n");
        RawHttp.Response response = await RawHttp.ExchangeAsync(server, "GET", [head]);
        Assert.Equal(200, response.Status);
        Assert.Contains("\"x-bar\": \"keep\"", response.Text);
        Assert.DoesNotContain("x-foo", response.Text);
    }

    [Fact]
    public async Task A_dot_segment_routes_and_the_worker_gets_the_path_after_the_routed_name()
    {
        Uri server = Client.BaseAddress!;
        byte[] head = Encoding.ASCII.GetBytes($"GET /function/slow/../echo/x%20y?q=1 HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\n\r\n");
        RawHttp.Response response = await RawHttp.ExchangeAsync(server, "GET", [head]);
        Assert.Equal(200, response.Status);
        Assert.Contains("\"target\": \"/x%20y?q=1\"", response.Text);
    }

    [Fact]
    public async Task A_client_that_uploads_too_slowly_gets_504_and_does_not_get_the_worker_restarted()
    {
        using HttpResponseMessage first = await Client.GetAsync("/function/slow/first");
        int pid = await PidOf(first);
        Uri server = Client.BaseAddress!;
        for (int i = 0; i < 4; i++)
        {
            // Five bytes announced, one sent: the deadline passes while the body is still arriving.
            byte[] head = Encoding.ASCII.GetBytes($"POST /function/slow/upload HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\nContent-Length: 5\r\n\r\nx");
            RawHttp.Response late = await RawHttp.ExchangeAsync(server, "POST", [head]);
            Assert.Equal(504, late.Status);
            Assert.Contains("while the request body was still arriving", late.Text);
        }

        using HttpResponseMessage after = await Client.GetAsync("/function/slow/after");
        Assert.Equal(pid, await PidOf(after));
        Assert.DoesNotContain(_log.Entries, e => e.Message.Contains("calls in a row", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_worker_that_floods_its_output_is_logged_up_to_its_rate_and_the_rest_counted()
    {
        using HttpResponseMessage response = await Client.GetAsync("/function/slow/flood");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(await WaitForLogAsync(e => e.Message == "slow[1] stdout: more than 100 lines a second: lines are counted, not logged, until it slows down"), Dump());

        // A line that comes a second later is logged after the count of those that were not (all 5,000 were written before it).
        await Task.Delay(1100);
        using HttpResponseMessage more = await Client.GetAsync("/function/slow/log");
        Assert.True(await WaitForLogAsync(e => e.Message == "slow[1] stdout: plain line"), Dump());
        long notLogged = _log.Entries.Where(e => e.Message.StartsWith("slow[1] stdout: ", StringComparison.Ordinal) && e.Message.EndsWith(" line(s) not logged (more than 100 a second)", StringComparison.Ordinal))
            .Sum(e => long.Parse(e.Message.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture));
        int logged = _log.Entries.Count(e => e.Message.StartsWith("slow[1] stdout: flood ", StringComparison.Ordinal));
        Assert.InRange(logged, 1000, 1200);
        Assert.Equal(5000, logged + notLogged);
    }

    [Fact]
    public async Task Env_pass_env_and_workdir_reach_the_worker_and_nothing_else_of_the_server()
    {
        using HttpResponseMessage response = await Client.GetAsync("/function/placed/x");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        System.Text.Json.JsonElement env = document.RootElement.GetProperty("env");
        Assert.Equal(_folder, document.RootElement.GetProperty("cwd").GetString());
        Assert.Equal("hello", env.GetProperty("GREETING").GetString());
        Assert.Equal("from the server", env.GetProperty("SHARED").GetString());
        Assert.False(env.TryGetProperty("NOT_PASSED", out _));
        Assert.True(int.TryParse(env.GetProperty("PORT").GetString(), out int port) && port > 0);
    }

    [Fact]
    public async Task The_portal_marks_a_warm_function_with_its_workers()
    {
        string page = await Client.GetStringAsync("/");
        Assert.Contains("\"mode\":\"http x2\"", page, StringComparison.Ordinal);
        Assert.DoesNotContain("\"name\":\"cat\",\"command\":\"cat\",\"methods\":[\"POST\"],\"mode\"", page, StringComparison.Ordinal);
    }

    private static async Task<int> PidOf(HttpResponseMessage response)
    {
        string json = await response.Content.ReadAsStringAsync();
        using var document = System.Text.Json.JsonDocument.Parse(json);
        return document.RootElement.GetProperty("pid").GetInt32();
    }

    private static double Value(IReadOnlyList<PrometheusText.Sample> samples, string name, string function)
        => samples.Single(s => s.Name == name && s.Labels.GetValueOrDefault("function") == function).Value;

    private async Task<bool> WaitForLogAsync(Func<CapturingLogger.Entry, bool> match)
    {
        for (int i = 0; i < 500; i++)
        {
            if (_log.Entries.Any(match))
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }

    private string Dump() => string.Join("\n", _log.Entries.Select(e => $"{e.Category}: {e.Message}"));
}
