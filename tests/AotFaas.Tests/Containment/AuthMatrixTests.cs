using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using AotFaas.Functions;
using AotFaas.Tests.Http;

namespace AotFaas.Tests.Containment;

/// <summary>
/// No request reaches a program without passing its <c>auth</c>, whatever the method, path suffix or framing.
/// The signature of an <c>hmac-sha256</c> function covers exactly what the program gets: the body, or no
/// bytes at all for GET and HEAD (which the manifest compiler refuses to combine with hmac-sha256, FAAS016;
/// a server built around such a function anyway still checks them).
/// </summary>
public sealed class AuthMatrixTests : IAsyncLifetime
{
    private const string Token = "matrix-token";
    private const string Secret = "matrix-secret";
    private static readonly ImmutableArray<string> Methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

    private readonly string _scratch = Directory.CreateTempSubdirectory("aotfaas-matrix-").FullName;
    private TestServer? _server;

    public static TheoryData<string, string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string, string>();
        foreach (string method in Methods)
        {
            foreach (string scheme in (string[])["bearer", "hmac"])
            {
                foreach (string credentials in (string[])["none", "wrong", "right"])
                {
                    foreach (string framing in (string[])["plain", "suffix", "chunked"])
                    {
                        data.Add(method, scheme, credentials, framing);
                    }
                }
            }
        }

        return data;
    }

    public async Task InitializeAsync()
    {
        Proc[] procs =
        [
            new("bearer", "sh", ["-c", $"touch {_scratch}/ran.$HTTP_X_RUN_ID; cat"], auth: AuthScheme.Bearer, authSecretVariable: "TOKEN", methods: Methods),
            new("hmac", "sh", ["-c", $"touch {_scratch}/ran.$HTTP_X_RUN_ID; cat"], auth: AuthScheme.HmacSha256, authSecretVariable: "SECRET", authHeader: "X-Signature", methods: Methods),
        ];
        _server = await TestServer.StartAsync(procs, environment: name => name switch
        {
            "PATH" => Environment.GetEnvironmentVariable("PATH"),
            "TOKEN" => Token,
            "SECRET" => Secret,
            _ => null,
        });
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(_scratch, recursive: true);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Only_requests_that_pass_auth_reach_the_program(string method, string scheme, string credentials, string framing)
    {
        string runId = Guid.NewGuid().ToString("N");
        bool hasBody = method is not ("GET" or "HEAD");
        byte[] body = hasBody ? Encoding.ASCII.GetBytes("payload " + runId) : [];
        string credential = (scheme, credentials) switch
        {
            (_, "none") => string.Empty,
            ("bearer", "wrong") => "Authorization: Bearer not-the-token\r\n",
            ("bearer", _) => $"Authorization: Bearer {Token}\r\n",
            (_, "wrong") => $"X-Signature: {Sign("other bytes"u8.ToArray())}\r\n",
            _ => $"X-Signature: {Sign(body)}\r\n",
        };
        string target = "/function/" + scheme + (framing == "suffix" ? "/some/path" : string.Empty);
        var request = new MemoryStream();
        request.Write(Encoding.ASCII.GetBytes($"{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Run-Id: {runId}\r\n{credential}"));
        if (framing == "chunked")
        {
            request.Write(Encoding.ASCII.GetBytes("Transfer-Encoding: chunked\r\n\r\n"));
            if (body.Length > 0)
            {
                request.Write(Encoding.ASCII.GetBytes($"{body.Length:x}\r\n"));
                request.Write(body);
                request.Write("\r\n"u8);
            }

            request.Write("0\r\n\r\n"u8);
        }
        else
        {
            request.Write(Encoding.ASCII.GetBytes($"Content-Length: {body.Length}\r\n\r\n"));
            request.Write(body);
        }

        RawHttp.Response response = await RawHttp.ExchangeAsync(_server!.Client.BaseAddress!, method, [request.ToArray()]);
        bool ran = File.Exists(Path.Combine(_scratch, "ran." + runId));

        if (credentials == "right")
        {
            Assert.Equal(200, response.Status);
            Assert.True(ran, "the program did not run with valid credentials");
            if (method != "HEAD")
            {
                Assert.Equal(body, response.Body);
            }
        }
        else
        {
            Assert.Equal(401, response.Status);
            Assert.False(ran, $"{method} {target} ran without valid credentials");
        }
    }

    private static string Sign(byte[] body) => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), body));
}
