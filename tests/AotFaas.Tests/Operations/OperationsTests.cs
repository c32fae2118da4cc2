using System.Net;
using System.Text;
using System.Text.Json;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Hosting;
using AotFaas.Tests.Http;
using Microsoft.Extensions.Logging;

namespace AotFaas.Tests.Operations;

/// <summary>Health, metrics, request ids, the invocation log line and the system API, on a real server.</summary>
public sealed class OperationsTests : IAsyncLifetime
{
    private const string ApiToken = "listing-token-5b1e";

    private readonly CapturingLogger _log = new();
    private TestServer _server = null!;

    private HttpClient Client => _server.Client;

    private static Proc[] Functions =>
    [
        new("ok", "cat", []),
        new("fail", "sh", ["-c", "echo no >&2; exit 3"]),
        new("slow", "sleep", ["5"], timeoutMilliseconds: 200),
        new("missing", "/nonexistent/aotfaas-program", []),
        new("env", "env", [], methods: ["GET", "POST"]),
        new("guarded", "cat", [], auth: AuthScheme.Bearer, authSecretVariable: "API_TOKEN"),
        new("quiet", "cat", [], logStderr: false),
    ];

    public async Task InitializeAsync()
    {
        var environment = new Dictionary<string, string> { ["PATH"] = Environment.GetEnvironmentVariable("PATH")!, ["API_TOKEN"] = "x", ["LISTING_TOKEN"] = ApiToken };
        _server = await TestServer.StartAsync(
            Functions,
            new RunLimits { KillGrace = TimeSpan.FromMilliseconds(200) },
            name => environment.GetValueOrDefault(name),
            new ServerOptions("http://127.0.0.1:0") { SystemApiTokenVariable = "LISTING_TOKEN", SystemApi = true },
            _log);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<string> PostAsync(string function, string body, string? requestId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/function/" + function) { Content = new StringContent(body) };
        if (requestId is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Request-Id", requestId);
        }

        using HttpResponseMessage response = await Client.SendAsync(request);
        return response.Headers.GetValues("X-Request-Id").Single();
    }

    [Theory]
    [InlineData("/_/health")]
    [InlineData("/healthz")]
    public async Task Health_is_200_while_serving_and_503_once_draining(string path)
    {
        using HttpResponseMessage serving = await Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, serving.StatusCode);
        Assert.Equal("OK\n", await serving.Content.ReadAsStringAsync());

        _server.Server.Lifecycle.BeginDrain();
        using HttpResponseMessage draining = await Client.GetAsync(path);
        using HttpResponseMessage head = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
        using HttpResponseMessage stillServing = await Client.PostAsync("/function/ok", new StringContent("x"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, draining.StatusCode);
        Assert.Equal("draining\n", await draining.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, head.StatusCode);
        Assert.Equal(HttpStatusCode.OK, stillServing.StatusCode);
    }

    [Theory]
    [InlineData("/_/health")]
    [InlineData("/metrics")]
    [InlineData("/not-a-function")]
    public async Task Responses_outside_functions_carry_X_Duration_Seconds_too(string path)
    {
        using HttpResponseMessage response = await Client.GetAsync(path);

        Assert.Matches("^[0-9]+\\.[0-9]{6}$", response.Headers.GetValues("X-Duration-Seconds").Single());
    }

    [Fact]
    public async Task Operations_paths_answer_GET_and_HEAD_only()
    {
        using HttpResponseMessage response = await Client.PostAsync("/metrics", new StringContent("x"));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(["GET", "HEAD"], response.Content.Headers.Allow);
    }

    [Fact]
    public async Task Metrics_count_known_traffic_in_valid_exposition_format()
    {
        for (int i = 0; i < 3; i++)
        {
            await PostAsync("ok", "12345");
        }

        await PostAsync("fail", "ab");
        await PostAsync("fail", "ab");
        await PostAsync("slow", string.Empty);
        await PostAsync("missing", string.Empty);
        using (await Client.PostAsync("/function/no-such-function", new StringContent(string.Empty)))
        {
        }

        using HttpResponseMessage response = await Client.GetAsync("/metrics");
        string text = await response.Content.ReadAsStringAsync();
        IReadOnlyList<PrometheusText.Sample> samples = PrometheusText.Parse(text);

        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Equal(3, PrometheusText.Value(samples, "aotfaas_invocations_total", ("function", "ok"), ("status", "200")));
        Assert.Equal(2, PrometheusText.Value(samples, "aotfaas_invocations_total", ("function", "fail"), ("status", "500")));
        Assert.Equal(1, PrometheusText.Value(samples, "aotfaas_invocations_total", ("function", "slow"), ("status", "504")));
        Assert.Equal(1, PrometheusText.Value(samples, "aotfaas_invocations_total", ("function", "missing"), ("status", "500")));
        Assert.Equal(3, PrometheusText.Value(samples, "aotfaas_invocation_duration_seconds_count", ("function", "ok")));
        Assert.Equal(3, PrometheusText.Value(samples, "aotfaas_invocation_duration_seconds_bucket", ("function", "ok"), ("le", "+Inf")));
        // The 200 ms deadline is a timer, which may fire a millisecond early by the stopwatch.
        Assert.InRange(PrometheusText.Value(samples, "aotfaas_invocation_duration_seconds_sum", ("function", "slow"))!.Value, 0.15, 5);
        Assert.Equal(1, PrometheusText.Value(samples, "aotfaas_timeouts_total", ("function", "slow")));
        Assert.Equal(1, PrometheusText.Value(samples, "aotfaas_kills_total", ("function", "slow")));
        Assert.Equal(1, PrometheusText.Value(samples, "aotfaas_spawn_failures_total", ("function", "missing")));
        Assert.Equal(1, PrometheusText.Value(samples, "aotfaas_unknown_function_requests_total"));
        Assert.Equal(15, PrometheusText.Value(samples, "aotfaas_request_bytes_total", ("function", "ok")));
        Assert.Equal(15, PrometheusText.Value(samples, "aotfaas_response_bytes_total", ("function", "ok")));
        Assert.Equal(6, PrometheusText.Value(samples, "aotfaas_response_bytes_total", ("function", "fail")));
        Assert.Equal(0, PrometheusText.Value(samples, "aotfaas_inflight", ("function", "ok")));
        Assert.Equal(0, PrometheusText.Value(samples, "aotfaas_queued", ("function", "slow")));
        Assert.InRange(PrometheusText.Value(samples, "process_resident_memory_bytes")!.Value, 1 << 20, 1L << 34);
        Assert.True(PrometheusText.Value(samples, "process_cpu_seconds_total") > 0);
        Assert.True(PrometheusText.Value(samples, "process_open_fds") > 3);
        Assert.InRange(PrometheusText.Value(samples, "process_start_time_seconds")!.Value, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 3600, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.Contains("# HELP aotfaas_invocations_total ", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_valid_request_id_is_kept_returned_logged_and_passed_to_the_program()
    {
        const string id = "f47ac10b-58cc-4372-a567-0e02b2c3d479";
        using var request = new HttpRequestMessage(HttpMethod.Get, "/function/env");
        request.Headers.Add("X-Request-Id", id);

        using HttpResponseMessage response = await Client.SendAsync(request);

        Assert.Equal(id, response.Headers.GetValues("X-Request-Id").Single());
        Assert.Contains("\nREQUEST_ID=" + id + "\n", "\n" + await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Single(await _log.InvocationsAsync(id));
    }

    [Theory]
    [InlineData("has spaces")]
    [InlineData("semi;colon")]
    [InlineData("quote\"d")]
    [InlineData("")]
    public async Task An_invalid_request_id_is_replaced_by_a_new_one(string offered)
    {
        string id = await PostAsync("ok", "x", offered);

        Assert.NotEqual(offered, id);
        Assert.Matches("^[0-9a-f]{32}$", id);
    }

    [Fact]
    public async Task A_request_id_is_capped_at_128_characters()
    {
        string longest = new('a', 128);
        string tooLong = new('b', 129);

        Assert.Equal(longest, await PostAsync("ok", "x", longest));
        Assert.Matches("^[0-9a-f]{32}$", await PostAsync("ok", "x", tooLong));
    }

    [Fact]
    public async Task Without_a_request_id_each_request_gets_a_fresh_one()
    {
        string first = await PostAsync("ok", "x");
        string second = await PostAsync("ok", "x");

        Assert.Matches("^[0-9a-f]{32}$", first);
        Assert.NotEqual(first, second);
    }

    [Theory]
    [InlineData("ok", "12345", 200, "0", 5L, LogLevel.Information)]
    [InlineData("fail", "ab", 500, "3", 2L, LogLevel.Information)]
    [InlineData("slow", "", 504, "SIGTERM", 0L, LogLevel.Warning)]
    [InlineData("missing", "", 500, "-", 0L, LogLevel.Error)]
    [InlineData("guarded", "secret?", 401, "-", 0L, LogLevel.Warning)]
    public async Task Each_invocation_is_one_structured_log_line(string function, string body, int status, string exit, long bytesIn, LogLevel level)
    {
        string id = Guid.NewGuid().ToString();

        await PostAsync(function, body, id);

        CapturingLogger.Entry entry = Assert.Single(await _log.InvocationsAsync(id));
        Assert.Equal(level, entry.Level);
        Assert.Equal(function, entry.State["Function"]);
        Assert.Equal("POST", entry.State["Method"]);
        Assert.Equal(status, entry.State["Status"]);
        Assert.Equal(exit, entry.State["Exit"]);
        Assert.Equal(bytesIn, entry.State["BytesIn"]);
        Assert.True((long)entry.State["BytesOut"]! > 0);
        Assert.IsType<double>(entry.State["DurationMs"]);
        Assert.StartsWith($"{function} POST -> {status} in ", entry.Message, StringComparison.Ordinal);
        Assert.EndsWith($" request_id={id}", entry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_system_api_lists_functions_in_OpenFaaS_FunctionStatus_shape()
    {
        await PostAsync("ok", "x");
        await PostAsync("ok", "y");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/system/functions");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ApiToken);

        using HttpResponseMessage response = await Client.SendAsync(request);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        JsonElement[] functions = [.. json.RootElement.EnumerateArray()];
        Assert.Equal(Functions.Select(f => f.FuncName), functions.Select(f => f.GetProperty("name").GetString()));
        JsonElement ok = functions[0];
        Assert.Equal(
            ["name", "image", "envProcess", "labels", "annotations", "invocationCount", "replicas", "availableReplicas", "createdAt"],
            ok.EnumerateObject().Select(p => p.Name));
        Assert.Equal("cat", ok.GetProperty("envProcess").GetString());
        Assert.Equal("cat", ok.GetProperty("image").GetString());
        Assert.InRange(ok.GetProperty("createdAt").GetDateTime(), DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow);
        Assert.True(ok.GetProperty("invocationCount").GetInt64() >= 2);
        Assert.Equal(1, ok.GetProperty("replicas").GetInt64());
        Assert.Equal(1, ok.GetProperty("availableReplicas").GetInt64());
        Assert.Equal("ok", ok.GetProperty("labels").GetProperty("faas_function").GetString());
        Assert.Equal("POST", ok.GetProperty("annotations").GetProperty("com.aotfaas.methods").GetString());
        Assert.Equal("200ms", functions[2].GetProperty("annotations").GetProperty("com.aotfaas.timeout").GetString());
        Assert.Equal("bearer $API_TOKEN", functions[5].GetProperty("annotations").GetProperty("com.aotfaas.auth").GetString());
        Assert.Equal("false", functions[6].GetProperty("annotations").GetProperty("com.aotfaas.log-stderr").GetString());
        Assert.False(ok.GetProperty("annotations").TryGetProperty("com.aotfaas.log-stderr", out _));
    }

    [Fact]
    public async Task Faas_cli_describe_gets_one_function_and_404_for_an_unknown_one()
    {
        await PostAsync("fail", "x");

        using JsonDocument fail = JsonDocument.Parse(await GetSystemAsync("/system/function/fail", HttpStatusCode.OK));
        string unknown = await GetSystemAsync("/system/function/nope", HttpStatusCode.NotFound);
        string nested = await GetSystemAsync("/system/function/fail/more", HttpStatusCode.NotFound);

        Assert.Equal("fail", fail.RootElement.GetProperty("name").GetString());
        Assert.Equal("sh", fail.RootElement.GetProperty("image").GetString());
        Assert.Equal("sh -c echo no >&2; exit 3", fail.RootElement.GetProperty("envProcess").GetString());
        Assert.True(fail.RootElement.GetProperty("invocationCount").GetInt64() >= 1);
        Assert.Equal("fail", fail.RootElement.GetProperty("labels").GetProperty("faas_function").GetString());
        Assert.Equal("function not found\n", unknown);
        Assert.Equal("function not found\n", nested);
    }

    [Fact]
    public async Task Faas_cli_version_gets_the_gateway_info_shape()
    {
        using JsonDocument info = JsonDocument.Parse(await GetSystemAsync("/system/info", HttpStatusCode.OK));

        JsonElement provider = info.RootElement.GetProperty("provider");
        Assert.Equal("aotfaas", provider.GetProperty("provider").GetString());
        Assert.Equal("process", provider.GetProperty("orchestration").GetString());
        Assert.Matches("^[0-9]+\\.[0-9]+\\.[0-9]+", info.RootElement.GetProperty("version").GetProperty("release").GetString());
        Assert.True(info.RootElement.GetProperty("version").TryGetProperty("sha", out _));
        Assert.Equal(System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64 ? "amd64" : "arm64", info.RootElement.GetProperty("arch").GetString());
    }

    private async Task<string> GetSystemAsync(string path, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ApiToken);
        using HttpResponseMessage response = await Client.SendAsync(request);
        Assert.Equal(expected, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    [Theory]
    [InlineData(null, "/system/functions")]
    [InlineData("Bearer wrong", "/system/functions")]
    [InlineData("Basic bGlzdGluZw==", "/system/functions")]
    [InlineData(null, "/system/function/ok")]
    [InlineData("Bearer wrong", "/system/function/nope")]
    [InlineData(null, "/system/info")]
    public async Task The_system_api_requires_its_token_when_one_is_configured(string? authorization, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        using HttpResponseMessage response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.DoesNotContain("\"name\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Opt_in_endpoints_are_404_unless_switched_on()
    {
        await using TestServer plain = await TestServer.StartAsync([new("ok", "cat", [])], options: new ServerOptions("http://127.0.0.1:0") { Metrics = false });

        using HttpResponseMessage listing = await plain.Client.GetAsync("/system/functions");
        using HttpResponseMessage describe = await plain.Client.GetAsync("/system/function/ok");
        using HttpResponseMessage info = await plain.Client.GetAsync("/system/info");
        using HttpResponseMessage page = await plain.Client.GetAsync("/");
        using HttpResponseMessage metrics = await plain.Client.GetAsync("/metrics");
        using HttpResponseMessage health = await plain.Client.GetAsync("/_/health");

        Assert.Equal(HttpStatusCode.NotFound, listing.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, describe.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, info.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, metrics.StatusCode);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task A_system_api_token_variable_that_is_unset_stops_the_server()
    {
        InvalidOperationException e = await Assert.ThrowsAsync<InvalidOperationException>(
            () => TestServer.StartAsync([new("ok", "cat", [])], environment: _ => null, options: new ServerOptions("http://127.0.0.1:0") { SystemApi = true, SystemApiTokenVariable = "NOT_SET" }));

        Assert.Equal("--system-api-token-env names NOT_SET, which is not set (or empty)", e.Message);
    }

    [Fact]
    public async Task The_portal_is_one_page_with_the_functions_in_it()
    {
        await using TestServer portal = await TestServer.StartAsync([new("ok", "cat", []), new("tricky", "printf", ["</script><b>"])], options: new ServerOptions("http://127.0.0.1:0") { Portal = true });

        using HttpResponseMessage response = await portal.Client.GetAsync("/");
        string page = await response.Content.ReadAsStringAsync();

        Assert.Equal("text/html; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.StartsWith("<!DOCTYPE html>", page, StringComparison.Ordinal);
        Assert.Contains("\"name\":\"ok\",\"command\":\"cat\",\"methods\":[\"POST\"]", page, StringComparison.Ordinal);
        Assert.Equal(2, page.Split("</script>").Length - 1);
        Assert.DoesNotContain("src=\"http", page, StringComparison.Ordinal);
        Assert.DoesNotContain("href=\"http", page, StringComparison.Ordinal);
    }
}
