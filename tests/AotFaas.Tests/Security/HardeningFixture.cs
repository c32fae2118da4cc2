using AotFaas.Functions;
using AotFaas.Tests.Http;
using AotFaas.Tests.Operations;

namespace AotFaas.Tests.Security;

/// <summary>
/// A server, with metrics and a capturing logger, whose functions show what a hostile request can do:
/// print their environment, echo the path into a CGI header, answer bodyless statuses with a body.
/// </summary>
public sealed class HardeningFixture : IAsyncLifetime
{
    private TestServer? _server;

    public CapturingLogger Log { get; } = new();

    public HttpClient Client => _server!.Client;

    public Uri Address => Client.BaseAddress!;

    /// <summary>The server itself, for its count of unhandled exceptions.</summary>
    public TestServer Server => _server!;

    /// <summary>The server's environment: no HOME, TZ or ROLE, so a request could try to fill them.</summary>
    public static readonly Dictionary<string, string> ServerEnvironment = new()
    {
        ["PATH"] = Environment.GetEnvironmentVariable("PATH")!,
        ["LANG"] = "C.UTF-8",
        ["REGION"] = "eu-west-1",
        ["HOOK_SECRET"] = "hook-secret",
    };

    public async Task InitializeAsync()
    {
        System.Collections.Immutable.ImmutableArray<string> methods = ["GET", "POST", "PUT", "DELETE", "HEAD"];
        Proc[] procs =
        [
            new("env-openfaas", "env", [], requestEnv: RequestEnvMode.OpenFaas, methods: methods),
            new("env-cgi", "env", [], requestEnv: RequestEnvMode.Cgi, methods: methods),
            new("env-none", "env", [], requestEnv: RequestEnvMode.None, methods: methods),
            // Names the manifest claims: the server's (set or not) and its own.
            new("env-claimed", "env", [], passEnv: ["REGION", "HTTP_X_ROLE", "Http_X_Role", "TZ"], env: ["HTTP_X_TEAM=from the manifest", "Http_Method=from the manifest"], requestEnv: RequestEnvMode.Cgi),
            new("env-claimed-openfaas", "env", [], passEnv: ["Http_X_Role"], env: ["Http_Method=from the manifest"], requestEnv: RequestEnvMode.OpenFaas),
            new("cgiecho", "sh", ["-c", "printf 'Status: 302 Found\\r\\nLocation: /home\\r\\nX-Path: %s\\r\\n\\r\\nbody' \"$PATH_INFO\""], response: ResponseMode.Cgi, methods: ["GET", "POST"]),
            new("echo-type", "cat", []),
            new("cat", "cat", [], maxQueue: 100),
            new("hook", "cat", [], auth: AuthScheme.HmacSha256, authSecretVariable: "HOOK_SECRET", authHeader: "X-Hub-Signature-256"),
            new("cgi-204", "printf", ["Status: 204 No Content\\nX-Kind: empty\\n\\nnot for the client"], response: ResponseMode.Cgi, methods: ["GET", "POST", "HEAD"]),
            new("cgi-205", "printf", ["Status: 205 Reset Content\\nX-Kind: reset\\n\\nnot for the client"], response: ResponseMode.Cgi, methods: ["GET", "POST", "HEAD"]),
            new("cgi-304", "printf", ["Status: 304 Not Modified\\nETag: \"v1\"\\n\\nnot for the client"], response: ResponseMode.Cgi, methods: ["GET", "POST", "HEAD"]),
            new("cgi-200", "printf", ["Content-Type: text/plain\\n\\nfor GET only"], response: ResponseMode.Cgi, methods: ["GET", "HEAD"]),
            new("raw-head", "printf", ["twelve bytes"], methods: ["GET", "HEAD"]),
            // A content type no manifest can hold (the generator refuses it), which Kestrel refuses to send: the handler throws.
            new("throws", "printf", ["ok"], contentType: "text/plain\u0001", methods: ["GET", "POST"]),
        ];
        _server = await TestServer.StartAsync(procs, environment: name => ServerEnvironment.GetValueOrDefault(name), loggerFactory: Log);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
