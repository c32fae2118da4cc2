using AotFaas.Functions;

namespace AotFaas.Tests.Http;

/// <summary>A server whose functions print what they see of the request, shape their responses, or check auth.</summary>
public sealed class RequestFixture : IAsyncLifetime
{
    public const string Token = "t0ken-9f2c7a1e-only-the-server-knows";
    public const string HookSecret = "It's a Secret to Everybody";
    public const string GitLabToken = "gl-7c1d-shared-token";
    public const string StripeSecret = "whsec_test_2f9a6c1b8e";

    /// <summary>The signing secret of Slack's own example ("Verifying requests from Slack").</summary>
    public const string SlackSecret = "8f742231b10e8888abcd99yyyzzz85a5";

    private TestServer? _server;

    public HttpClient Client { get; private set; } = null!;

    public Uri Address => Client.BaseAddress!;

    /// <summary>A folder where functions leave marks that they ran: <c>{function}.{X-Run-Id header}</c>.</summary>
    public string Scratch { get; } = Directory.CreateTempSubdirectory("aotfaas-request-").FullName;

    public static readonly Dictionary<string, string> ServerEnvironment = new()
    {
        ["PATH"] = Environment.GetEnvironmentVariable("PATH")!,
        ["API_TOKEN"] = Token,
        ["HOOK_SECRET"] = HookSecret,
        ["GITLAB_TOKEN"] = GitLabToken,
        ["STRIPE_WHSEC"] = StripeSecret,
        ["SLACK_SIGNING_SECRET"] = SlackSecret,
    };

    public async Task InitializeAsync()
    {
        System.Collections.Immutable.ImmutableArray<string> allMethods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"];
        Proc[] procs =
        [
            new("cat", "cat", []),
            new("env", "env", [], methods: allMethods),
            new("env-authorization", "env", [], passAuthorization: true),
            new("env-openfaas", "env", [], requestEnv: RequestEnvMode.OpenFaas, methods: ["GET", "POST"]),
            new("env-none", "env", [], requestEnv: RequestEnvMode.None),
            new("env-fixed", "env", [], env: ["REQUEST_METHOD=set by the manifest"]),
            new("count", "wc", ["-c"], methods: ["GET", "POST"]),
            new("cgi", "cat", [], response: ResponseMode.Cgi, methods: ["POST", "HEAD"]),
            new("cgi-static", "printf", ["Status: 202 Accepted\\nX-Static: yes\\n\\nbody"], response: ResponseMode.Cgi, methods: ["GET", "HEAD"]),
            new("cgi-typed", "cat", [], response: ResponseMode.Cgi, contentType: "application/json"),
            new("cgi-fail", "sh", ["-c", "printf 'Status: 201 Created\\n\\nbody'; echo oops >&2; exit 3"], response: ResponseMode.Cgi),
            new("bearer", "sh", ["-c", $"touch {Scratch}/bearer.$HTTP_X_RUN_ID; env"], auth: AuthScheme.Bearer, authSecretVariable: "API_TOKEN"),
            new("hook", "sh", ["-c", $"touch {Scratch}/hook.$HTTP_X_RUN_ID; cat; echo; env"], auth: AuthScheme.HmacSha256, authSecretVariable: "HOOK_SECRET", authHeader: "X-Hub-Signature-256", maxBody: 1 << 20),
            new("hook-custom", "cat", [], auth: AuthScheme.HmacSha256, authSecretVariable: "HOOK_SECRET", authHeader: "X-Signature", methods: ["GET", "POST"]),
            new("gitlab", "sh", ["-c", $"touch {Scratch}/gitlab.$HTTP_X_RUN_ID; env"], auth: AuthScheme.Token, authSecretVariable: "GITLAB_TOKEN", authHeader: "X-Gitlab-Token"),
            new("stripe", "sh", ["-c", $"touch {Scratch}/stripe.$HTTP_X_RUN_ID; cat"], auth: AuthScheme.Stripe, authSecretVariable: "STRIPE_WHSEC"),
            new("slack", "sh", ["-c", $"touch {Scratch}/slack.$HTTP_X_RUN_ID; cat"], auth: AuthScheme.Slack, authSecretVariable: "SLACK_SIGNING_SECRET"),
        ];
        _server = await TestServer.StartAsync(procs, environment: name => ServerEnvironment.GetValueOrDefault(name));
        Client = _server.Client;
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(Scratch, recursive: true);
    }
}
