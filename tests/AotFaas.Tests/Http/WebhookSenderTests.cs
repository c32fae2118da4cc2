using System.Security.Cryptography;
using System.Text;
using AotFaas.Functions;
using AotFaas.Security;
using Microsoft.AspNetCore.Http;

namespace AotFaas.Tests.Http;

/// <summary>
/// auth: token (GitLab's X-Gitlab-Token), stripe (Stripe-Signature) and slack (X-Slack-Signature), each signed here
/// exactly as its sender documents it, and Slack's own published example; checked before any program starts.
/// </summary>
public class WebhookSenderTests(RequestFixture server) : IClassFixture<RequestFixture>
{
    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private static string Hex(string secret, string signed) => Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(signed)));

    /// <summary>Stripe: <c>t=TIME,v1=HMAC(secret, "TIME.BODY")</c>.</summary>
    private static string StripeSignature(long time, string body, string secret = RequestFixture.StripeSecret)
        => $"Stripe-Signature: t={time},v1={Hex(secret, $"{time}.{body}")}";

    /// <summary>Slack: <c>X-Slack-Request-Timestamp: TIME</c> and <c>X-Slack-Signature: v0=HMAC(secret, "v0:TIME:BODY")</c>.</summary>
    private static string[] SlackHeaders(long time, string body, string secret = RequestFixture.SlackSecret)
        => [$"X-Slack-Request-Timestamp: {time}", $"X-Slack-Signature: v0={Hex(secret, $"v0:{time}:{body}")}"];

    private async Task<(RawHttp.Response Response, bool Ran)> SendAsync(string function, string[] headers, string body)
    {
        string runId = Guid.NewGuid().ToString("N");
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/" + function, [.. headers, "X-Run-Id: " + runId], Encoding.UTF8.GetBytes(body));
        return (response, File.Exists(Path.Combine(server.Scratch, function + "." + runId)));
    }

    private async Task AssertRefusedAsync(string function, string[] headers, string body)
    {
        (RawHttp.Response response, bool ran) = await SendAsync(function, headers, body);
        Assert.Equal(401, response.Status);
        Assert.Equal("unauthorized\n", response.Text);
        Assert.False(ran, function + " ran without a valid credential");
        Assert.Null(response.Header("WWW-Authenticate"));
    }

    [Fact]
    public async Task A_GitLab_token_in_its_header_runs_and_the_program_never_sees_it()
    {
        (RawHttp.Response response, bool ran) = await SendAsync("gitlab", ["X-Gitlab-Token: " + RequestFixture.GitLabToken, "X-Gitlab-Event: Push Hook"], "{}");

        Assert.Equal(200, response.Status);
        Assert.True(ran);
        Assert.Contains("HTTP_X_GITLAB_EVENT=Push Hook", response.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("HTTP_X_GITLAB_TOKEN", response.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(RequestFixture.GitLabToken, response.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("X-Gitlab-Token: wrong")]
    [InlineData("X-Gitlab-Token: gl-7c1d-shared-toke")]
    [InlineData("X-Gitlab-Token: gl-7c1d-shared-tokenX")]
    [InlineData("X-Gitlab-Token: ")]
    [InlineData("Authorization: Bearer gl-7c1d-shared-token")]
    [InlineData("X-Gitlab-Token: gl-7c1d-shared-token|X-Gitlab-Token: gl-7c1d-shared-token")]
    public async Task A_missing_wrong_or_repeated_token_is_401_and_nothing_runs(string? headers)
        => await AssertRefusedAsync("gitlab", headers is null ? [] : headers.Split('|'), "{}");

    [Fact]
    public async Task A_Stripe_event_signed_as_Stripe_documents_runs_with_its_body()
    {
        const string body = """{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}""";

        (RawHttp.Response response, bool ran) = await SendAsync("stripe", [StripeSignature(Now, body)], body);

        Assert.Equal(200, response.Status);
        Assert.True(ran);
        Assert.Equal(body, response.Text);
    }

    [Fact]
    public async Task A_Stripe_header_with_one_signature_per_secret_runs_when_one_matches()
    {
        const string body = "{\"rolled\":true}";
        long time = Now;
        string old = Hex("whsec_the_old_secret", $"{time}.{body}");
        string current = Hex(RequestFixture.StripeSecret, $"{time}.{body}");

        (RawHttp.Response response, bool ran) = await SendAsync("stripe", [$"Stripe-Signature: t={time},v1={old},v1={current},v0={old}"], body);

        Assert.Equal(200, response.Status);
        Assert.True(ran);
    }

    [Theory]
    [InlineData("stale")]
    [InlineData("future")]
    [InlineData("wrong secret")]
    [InlineData("tampered body")]
    [InlineData("no timestamp")]
    [InlineData("no v1")]
    [InlineData("bad hex")]
    [InlineData("two headers")]
    public async Task A_Stripe_event_outside_the_window_or_not_signed_with_the_secret_is_401(string failure)
    {
        const string body = "{\"id\":\"evt_2\"}";
        long now = Now;
        string[] headers = failure switch
        {
            "stale" => [StripeSignature(now - 301, body)],
            "future" => [StripeSignature(now + 301, body)],
            "wrong secret" => [StripeSignature(now, body, "whsec_someone_else")],
            "tampered body" => [StripeSignature(now, body + " ")],
            "no timestamp" => [$"Stripe-Signature: v1={Hex(RequestFixture.StripeSecret, $"{now}.{body}")}"],
            "no v1" => [$"Stripe-Signature: t={now},v0={Hex(RequestFixture.StripeSecret, $"{now}.{body}")}"],
            "bad hex" => [$"Stripe-Signature: t={now},v1=zz{Hex(RequestFixture.StripeSecret, $"{now}.{body}")[2..]}"],
            _ => [StripeSignature(now, body), StripeSignature(now, body)],
        };

        await AssertRefusedAsync("stripe", headers, body);
    }

    [Fact]
    public async Task A_Slack_request_signed_as_Slack_documents_runs_with_its_body()
    {
        const string body = "token=x&team_id=T1&command=%2Fdeploy&text=now";

        (RawHttp.Response response, bool ran) = await SendAsync("slack", SlackHeaders(Now, body), body);

        Assert.Equal(200, response.Status);
        Assert.True(ran);
        Assert.Equal(body, response.Text);
    }

    [Theory]
    [InlineData("stale")]
    [InlineData("future")]
    [InlineData("wrong secret")]
    [InlineData("no timestamp")]
    [InlineData("timestamp not the signed one")]
    [InlineData("v1 version")]
    [InlineData("bare hex")]
    public async Task A_Slack_request_outside_the_window_or_not_signed_with_the_secret_is_401(string failure)
    {
        const string body = "command=%2Fdeploy";
        long now = Now;
        string signature = $"v0={Hex(RequestFixture.SlackSecret, $"v0:{now}:{body}")}";
        string[] headers = failure switch
        {
            "stale" => SlackHeaders(now - 301, body),
            "future" => SlackHeaders(now + 301, body),
            "wrong secret" => SlackHeaders(now, body, "not-the-signing-secret"),
            "no timestamp" => [$"X-Slack-Signature: {signature}"],
            "timestamp not the signed one" => [$"X-Slack-Request-Timestamp: {now - 1}", $"X-Slack-Signature: {signature}"],
            "v1 version" => [$"X-Slack-Request-Timestamp: {now}", $"X-Slack-Signature: v1={signature[3..]}"],
            _ => [$"X-Slack-Request-Timestamp: {now}", $"X-Slack-Signature: {signature[3..]}"],
        };

        await AssertRefusedAsync("slack", headers, body);
    }

    /// <summary>The example of Slack's "Verifying requests from Slack": its secret, timestamp, body and signature.</summary>
    [Theory]
    [InlineData(1531420618L + 10, true)]
    [InlineData(1531420618L - 300, true)]
    [InlineData(1531420618L + 301, false)]
    public void Slacks_published_example_verifies_within_the_window_only(long now, bool verifies)
    {
        const string body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        FunctionAuth auth = FunctionAuth.For(new Proc("slack", "cat", [], auth: AuthScheme.Slack, authSecretVariable: "S"), _ => RequestFixture.SlackSecret)!;
        var headers = new HeaderDictionary
        {
            ["X-Slack-Request-Timestamp"] = "1531420618",
            ["X-Slack-Signature"] = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        };

        FunctionAuth.Signature? signature = auth.ReadSignature(headers, now);
        if (!verifies)
        {
            Assert.Null(signature);
            return;
        }

        Assert.NotNull(signature);
        using IncrementalHash hash = auth.BeginBody(signature);
        hash.AppendData(Encoding.UTF8.GetBytes(body));
        Assert.True(signature.Matches(hash));
        using IncrementalHash tampered = auth.BeginBody(signature);
        tampered.AppendData(Encoding.UTF8.GetBytes(body + "&x=1"));
        Assert.False(signature.Matches(tampered));
    }
}
