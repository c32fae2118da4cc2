using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using AotFaas.Functions;
using AotFaas.Security;

namespace AotFaas.Tests.Http;

/// <summary>auth: bearer and hmac-sha256, checked before any program starts.</summary>
public class AuthTests(RequestFixture server) : IClassFixture<RequestFixture>
{
    private static string Sign(string secret, byte[] body)
        => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    /// <summary>Sends a request marked with a run id of its own; the function, if it runs, leaves a file named after it.</summary>
    private async Task<(RawHttp.Response Response, string RunId)> SendMarkedAsync(string function, string[] headers, byte[]? body)
    {
        string runId = Guid.NewGuid().ToString("N");
        return (await RawHttp.SendAsync(server.Address, "POST", "/function/" + function, [.. headers, "X-Run-Id: " + runId], body), runId);
    }

    private bool Ran(string function, string runId) => File.Exists(Path.Combine(server.Scratch, function + "." + runId));

    private void AssertUnauthorized(RawHttp.Response response, string function, string runId)
    {
        Assert.Equal(401, response.Status);
        Assert.Equal("unauthorized\n", response.Text);
        Assert.False(Ran(function, runId), function + " ran without valid credentials");
    }

    [Fact]
    public async Task Bearer_with_the_token_runs_and_the_program_never_sees_it()
    {
        (RawHttp.Response response, string runId) = await SendMarkedAsync("bearer", ["Authorization: Bearer " + RequestFixture.Token], []);

        Assert.Equal(200, response.Status);
        Assert.True(Ran("bearer", runId));
        Assert.DoesNotContain(RequestFixture.Token, response.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("HTTP_AUTHORIZATION", response.Text, StringComparison.Ordinal);
        Assert.Contains("REQUEST_METHOD=POST", response.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bearer_scheme_is_case_insensitive()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/bearer", ["Authorization: bearer " + RequestFixture.Token], []);

        Assert.Equal(200, response.Status);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Authorization: Bearer wrong-token")]
    [InlineData("Authorization: Bearer t0ken-9f2c7a1e-only-the-server-know")]
    [InlineData("Authorization: Bearer t0ken-9f2c7a1e-only-the-server-knowsX")]
    [InlineData("Authorization: Bearer ")]
    [InlineData("Authorization: Basic dDBrZW4=")]
    [InlineData("Authorization: t0ken-9f2c7a1e-only-the-server-knows")]
    [InlineData("X-Api-Key: t0ken-9f2c7a1e-only-the-server-knows")]
    public async Task Bearer_without_the_exact_token_is_401_and_nothing_runs(string? header)
    {
        (RawHttp.Response response, string runId) = await SendMarkedAsync("bearer", header is null ? [] : [header], Encoding.ASCII.GetBytes("body"));

        AssertUnauthorized(response, "bearer", runId);
        Assert.Equal("Bearer", response.Header("WWW-Authenticate"));
    }

    [Fact]
    public async Task Bearer_is_checked_before_the_body_limit()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/bearer", ["Content-Length: 999999999999"], null);

        Assert.Equal(401, response.Status);
    }

    [Fact]
    public async Task Two_Authorization_headers_are_401()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/bearer", ["Authorization: Bearer " + RequestFixture.Token, "Authorization: Bearer " + RequestFixture.Token], []);

        Assert.Equal(401, response.Status);
    }

    [Fact]
    public async Task Hmac_matches_GitHubs_published_example()
    {
        // The example in GitHub's "Validating webhook deliveries" documentation.
        (RawHttp.Response response, string runId) = await SendMarkedAsync(
            "hook", ["X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"], Encoding.UTF8.GetBytes("Hello, World!"));

        Assert.Equal(200, response.Status);
        Assert.True(Ran("hook", runId));
        Assert.StartsWith("Hello, World!\n", response.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_GitHub_style_push_webhook_is_verified_and_delivered_intact()
    {
        byte[] payload = Encoding.UTF8.GetBytes("""
            {"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"76ae82c7b1a177c8d03f9e96e0adf2466113728f",
             "repository":{"id":1296269,"full_name":"octocat/Hello-World","private":false},
             "pusher":{"name":"octocat","email":"octocat@github.com"},
             "head_commit":{"id":"76ae82c7b1a177c8d03f9e96e0adf2466113728f","message":"Fix all the bugs \u2728 ünïcödé"}}
            """);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/function/hook") { Content = new ByteArrayContent(payload) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-GitHub-Event", "push");
        request.Headers.Add("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        request.Headers.Add("X-Hub-Signature-256", Sign(RequestFixture.HookSecret, payload));
        request.Headers.UserAgent.ParseAdd("GitHub-Hookshot/044aadd");

        using HttpResponseMessage response = await server.Client.SendAsync(request);
        byte[] output = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(payload, output[..payload.Length]);
        string env = Encoding.UTF8.GetString(output[payload.Length..]);
        Assert.Contains("\nHTTP_X_GITHUB_EVENT=push\n", env, StringComparison.Ordinal);
        Assert.Contains("\nCONTENT_TYPE=application/json\n", env, StringComparison.Ordinal);
        Assert.Contains($"\nCONTENT_LENGTH={payload.Length}\n", env, StringComparison.Ordinal);
        Assert.DoesNotContain(RequestFixture.HookSecret, env, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bare")]
    [InlineData("upper")]
    [InlineData("padded")]
    public async Task Hmac_accepts_bare_and_uppercase_hex(string form)
    {
        byte[] body = Encoding.UTF8.GetBytes("payload");
        string hex = Sign(RequestFixture.HookSecret, body)["sha256=".Length..];
        string value = form switch { "bare" => hex, "upper" => "sha256=" + hex.ToUpperInvariant(), _ => " sha256=" + hex + " " };

        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/hook", ["X-Hub-Signature-256: " + value], body);

        Assert.Equal(200, response.Status);
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("wrong-secret")]
    [InlineData("other-body")]
    [InlineData("truncated")]
    [InlineData("one-digit-off")]
    [InlineData("too-long")]
    [InlineData("prefix-only")]
    [InlineData("sha1")]
    [InlineData("not-hex")]
    [InlineData("twice")]
    public async Task Hmac_without_a_valid_signature_is_401_and_nothing_runs(string form)
    {
        byte[] body = Encoding.UTF8.GetBytes("{\"action\":\"opened\"}");
        string good = Sign(RequestFixture.HookSecret, body);
        string[] headers = form switch
        {
            "missing" => [],
            "wrong-secret" => ["X-Hub-Signature-256: " + Sign("not the secret", body)],
            "other-body" => ["X-Hub-Signature-256: " + Sign(RequestFixture.HookSecret, Encoding.UTF8.GetBytes("{\"action\":\"closed\"}"))],
            "truncated" => ["X-Hub-Signature-256: " + good[..^1]],
            "one-digit-off" => ["X-Hub-Signature-256: " + good[..^1] + (good[^1] == '0' ? '1' : '0')],
            "too-long" => ["X-Hub-Signature-256: " + good + "00"],
            "prefix-only" => ["X-Hub-Signature-256: sha256="],
            "sha1" => ["X-Hub-Signature-256: sha1=" + Convert.ToHexStringLower(HMACSHA1.HashData(Encoding.UTF8.GetBytes(RequestFixture.HookSecret), body))],
            "not-hex" => ["X-Hub-Signature-256: sha256=" + new string('z', 64)],
            _ => ["X-Hub-Signature-256: " + good, "X-Hub-Signature-256: " + good],
        };

        (RawHttp.Response response, string runId) = await SendMarkedAsync("hook", headers, body);

        AssertUnauthorized(response, "hook", runId);
        Assert.Null(response.Header("WWW-Authenticate"));
    }

    [Fact]
    public async Task Hmac_reads_the_header_the_function_names()
    {
        byte[] body = Encoding.UTF8.GetBytes("custom");
        string signature = Sign(RequestFixture.HookSecret, body);

        RawHttp.Response right = await RawHttp.SendAsync(server.Address, "POST", "/function/hook-custom", ["X-Signature: " + signature], body);
        RawHttp.Response wrong = await RawHttp.SendAsync(server.Address, "POST", "/function/hook-custom", ["X-Hub-Signature-256: " + signature], body);

        Assert.Equal((200, "custom"), (right.Status, right.Text));
        Assert.Equal(401, wrong.Status);
    }

    [Fact]
    public async Task Hmac_covers_a_chunked_body_too()
    {
        byte[] body = new byte[300 * 1024];
        new Random(3).NextBytes(body);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/function/hook-custom") { Content = new StreamContent(new MemoryStream(body)) };
        request.Headers.TransferEncodingChunked = true;
        request.Headers.Add("X-Signature", Sign(RequestFixture.HookSecret, body));

        using HttpResponseMessage response = await server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Hmac_of_a_GET_is_the_hmac_of_nothing()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "GET", "/function/hook-custom", ["X-Signature: " + Sign(RequestFixture.HookSecret, [])], null);

        Assert.Equal(200, response.Status);
    }

    [Fact]
    public async Task A_signed_body_over_max_body_is_413()
    {
        byte[] body = new byte[(1 << 20) + 1];

        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/hook", ["X-Hub-Signature-256: " + Sign(RequestFixture.HookSecret, body)], body);

        Assert.Equal(413, response.Status);
    }

    [Fact]
    public async Task A_function_whose_secret_is_missing_never_runs_and_the_server_keeps_serving()
    {
        // The binary refuses to start in this case; a server built around it anyway must fail closed per request.
        string marker = Path.Combine(server.Scratch, "no-secret.ran");
        await using TestServer bare = await TestServer.StartAsync(
            [new("guarded", "touch", [marker], auth: AuthScheme.Bearer, authSecretVariable: "NOT_SET"), new("cat", "cat", [])],
            environment: name => name == "PATH" ? Environment.GetEnvironmentVariable("PATH") : null);
        bare.Server.WarmUpInBackground(["guarded", "cat"]);

        using HttpResponseMessage guarded = await bare.Client.PostAsync("/function/guarded", new StringContent("x"));
        using HttpResponseMessage other = await bare.Client.PostAsync("/function/cat", new StringContent("still here"));

        Assert.Equal(HttpStatusCode.InternalServerError, guarded.StatusCode);
        Assert.False(File.Exists(marker));
        Assert.Equal("still here", await other.Content.ReadAsStringAsync());
    }

    [Fact]
    public void Missing_or_empty_secrets_are_listed_for_a_fail_closed_start()
    {
        Proc[] functions =
        [
            new("open", "cat", []),
            new("api", "cat", [], auth: AuthScheme.Bearer, authSecretVariable: "API_TOKEN"),
            new("hook", "cat", [], auth: AuthScheme.HmacSha256, authSecretVariable: "HOOK_SECRET", authHeader: "X-Hub-Signature-256"),
            new("empty", "cat", [], auth: AuthScheme.Bearer, authSecretVariable: "EMPTY"),
        ];
        var environment = new Dictionary<string, string> { ["API_TOKEN"] = "x", ["EMPTY"] = string.Empty };

        IReadOnlyList<string> missing = FunctionAuth.MissingSecrets(functions, name => environment.GetValueOrDefault(name));

        Assert.Equal(
            [
                "function 'hook' checks requests with auth: hmac-sha256 $HOOK_SECRET, but the environment variable HOOK_SECRET is not set (or empty)",
                "function 'empty' checks requests with auth: bearer $EMPTY, but the environment variable EMPTY is not set (or empty)",
            ],
            missing);
        Assert.Throws<InvalidOperationException>(() => FunctionAuth.For(functions[2], name => environment.GetValueOrDefault(name)));
    }
}
