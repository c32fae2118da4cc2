using System.Net;
using System.Text;

namespace AotFaas.EndToEnd;

/// <summary>The published native binary, started with --urls, answering on 127.0.0.1.</summary>
[Collection(nameof(PublishedBinary))]
public sealed class NativeBinaryTests(PublishedBinary binary) : IAsyncLifetime
{
    private RunningServer _server = null!;

    public async Task InitializeAsync()
    {
        int port = RunningServer.FreePort();
        _server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"http://127.0.0.1:{port}"]);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<HttpResponseMessage> PostAsync(string function, byte[] body)
        => await _server.Client.PostAsync("/function/" + function, new ByteArrayContent(body));

    private Task<HttpResponseMessage> PostAsync(string function, string body) => PostAsync(function, Encoding.UTF8.GetBytes(body));

    /// <summary>Marks of the asynchronous calls' stores in a binary: SQLite's file header, the NATS client's assembly name.</summary>
    internal static readonly string[] StoreMarks = ["SQLite format 3", "NATS.Client.Core"];

    [Fact]
    public void A_manifest_without_async_calls_carries_neither_SQLite_nor_the_NATS_client()
    {
        // An await inside a block that FunctionTable.TakesAsyncCalls turns off once kept the NATS client (about 1 MiB) here.
        byte[] image = File.ReadAllBytes(binary.Path);
        foreach (string mark in StoreMarks)
        {
            Assert.True(image.AsSpan().IndexOf(Encoding.ASCII.GetBytes(mark)) < 0, $"the binary of e2e.faas (no async: true) contains '{mark}'");
        }
    }

    [Fact]
    public async Task Exit_zero_is_200_with_stdout()
    {
        using HttpResponseMessage response = await PostAsync("greet", "world");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hello, world", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_manifest_content_type_is_used()
    {
        using HttpResponseMessage response = await PostAsync("upper", "shout");

        Assert.Equal("SHOUT", await response.Content.ReadAsStringAsync());
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType?.ToString());
    }

    [Fact]
    public async Task Non_zero_exit_is_500_with_stderr()
    {
        using HttpResponseMessage response = await PostAsync("fail", "x");

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("bad input\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_unknown_function_is_404_with_an_empty_body()
    {
        using HttpResponseMessage response = await PostAsync("nope", "x");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_missing_program_is_500_with_a_one_line_reason_and_a_log_line()
    {
        using HttpResponseMessage response = await PostAsync("missing", "x");

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("cannot run '/nonexistent/aotfaas-e2e': No such file or directory\n", await response.Content.ReadAsStringAsync());
        await Eventually(() => _server.Output.Contains("fail: AotFaas.Http.FunctionEndpoint[1] missing POST -> 500 in ", StringComparison.Ordinal) && _server.Output.Contains("(cannot run '/nonexistent/aotfaas-e2e': No such file or directory) exit=-", StringComparison.Ordinal), _server.Output);
    }

    [Fact]
    public async Task Arguments_are_split_at_build_time_and_never_expanded()
    {
        using HttpResponseMessage response = await PostAsync("argv", "$(id)");

        Assert.Equal("two words|$HOME|*|", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Binary_bodies_pass_through_byte_for_byte()
    {
        byte[] body = new byte[3 * 1024 * 1024];
        new Random(3).NextBytes(body);
        for (int i = 0; i < 256; i++)
        {
            body[i] = (byte)i;
        }

        using HttpResponseMessage response = await PostAsync("cat", body);

        byte[] received = await response.Content.ReadAsByteArrayAsync();
        Assert.True(body.AsSpan().SequenceEqual(received));
    }

    [Fact]
    public async Task Stderr_written_before_stdin_is_read_does_not_deadlock()
    {
        byte[] body = new byte[2 * 1024 * 1024];

        using HttpResponseMessage response = await PostAsync("stderr-first", body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body.Length, (await response.Content.ReadAsByteArrayAsync()).Length);
    }

    [Fact]
    public async Task Each_invocation_is_logged_with_function_status_outcome_and_duration()
    {
        (await PostAsync("cat", "x")).Dispose();
        (await PostAsync("killed", "x")).Dispose();

        await Eventually(() => System.Text.RegularExpressions.Regex.IsMatch(_server.Output, @"info: AotFaas\.Http\.FunctionEndpoint\[1\] cat POST -> 200 in [0-9.]+ ms \(exit code 0\) exit=0 in=1 out=1 request_id=[0-9a-f]{32}\n"), _server.Output);
        await Eventually(() => System.Text.RegularExpressions.Regex.IsMatch(_server.Output, @"killed POST -> 500 in [0-9.]+ ms \(killed by SIGKILL\) exit=SIGKILL in=1 out=[0-9]+ request_id="), _server.Output);
    }

    [Fact]
    public async Task A_signed_webhook_runs_and_a_bad_signature_is_401()
    {
        byte[] body = Encoding.UTF8.GetBytes("{\"zen\":\"Keep it logically awesome.\"}");
        string signature = "sha256=" + Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes(RunningServer.HookSecret), body));

        using var good = new HttpRequestMessage(HttpMethod.Post, "/function/hook") { Content = new ByteArrayContent(body) };
        good.Headers.Add("X-Hub-Signature-256", signature);
        good.Headers.Add("X-GitHub-Event", "ping");
        using HttpResponseMessage accepted = await _server.Client.SendAsync(good);
        using var bad = new HttpRequestMessage(HttpMethod.Post, "/function/hook") { Content = new ByteArrayContent(body) };
        bad.Headers.Add("X-Hub-Signature-256", signature[..^2] + "00");
        using HttpResponseMessage refused = await _server.Client.SendAsync(bad);

        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal("{\"zen\":\"Keep it logically awesome.\"}|POST|ping", await accepted.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task A_cgi_response_sets_status_and_headers()
    {
        using HttpResponseMessage response = await _server.Client.PutAsync("/function/created", new StringContent(string.Empty));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("/function/created/1", response.Headers.Location?.OriginalString);
        Assert.Equal("created", await response.Content.ReadAsStringAsync());
        Assert.True(response.Headers.Contains("X-Duration-Seconds"));
    }

    [Fact]
    public async Task A_GET_function_sees_its_path_and_query_and_other_methods_get_405()
    {
        using HttpResponseMessage get = await _server.Client.GetAsync("/function/whoami/a/b?c=d");
        using HttpResponseMessage post = await PostAsync("whoami", "x");

        Assert.Equal("GET /a/b c=d", await get.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Equal(["GET"], post.Content.Headers.Allow);
    }

    [Fact]
    public async Task SIGTERM_stops_the_server_with_exit_code_0()
    {
        (await PostAsync("cat", "x")).Dispose();

        Assert.Equal(0, await _server.StopAsync());
    }

    private static async Task Eventually(Func<bool> condition, string context)
    {
        for (int i = 0; i < 250 && !condition(); i++)
        {
            await Task.Delay(20);
        }

        Assert.True(condition(), context);
    }
}
