using System.Globalization;
using AotFaas.Tests.Http;
using AotFaas.Tests.Operations;

namespace AotFaas.Tests.Security;

/// <summary>
/// Every malformed request body is a 400 with the usual headers (X-Request-Id, X-Duration-Seconds) and a
/// one-line body, and the invocation's log line and metrics record the 400 the client got.
/// </summary>
public class MalformedRequestTests(HardeningFixture server) : IClassFixture<HardeningFixture>
{
    public static TheoryData<string, string> Framings => new()
    {
        { "a chunk size that overflows 64 bits", "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n" },
        { "a chunk size that overflows 31 bits", "80000000\r\nhello\r\n0\r\n\r\n" },
        { "a chunk size of 2^32 + 5", "100000005\r\nhello\r\n0\r\n\r\n" },
        { "a chunk size with a non-hex digit", "5z\r\nhello\r\n0\r\n\r\n" },
        { "a chunk size of letters only", "zz\r\nhello\r\n0\r\n\r\n" },
        { "a 0x prefix", "0x5\r\nhello\r\n0\r\n\r\n" },
        { "a negative chunk size", "-5\r\nhello\r\n0\r\n\r\n" },
        { "an empty chunk-size line", "\r\nhello\r\n0\r\n\r\n" },
        { "a blank before the size", " 5\r\nhello\r\n0\r\n\r\n" },
        { "a bare LF after the size", "5\nhello\r\n0\r\n\r\n" },
        { "a CR without LF in a chunk extension", "5;name=value\rX\nhello\r\n0\r\n\r\n" },
        { "chunk data without its CRLF", "5\r\nhelloXX0\r\n\r\n" },
        { "chunk data longer than its size", "3\r\nhello\r\n0\r\n\r\n" },
    };

    private async Task<double> CountAsync(string function, int status)
    {
        string text = await server.Client.GetStringAsync("/metrics");
        return PrometheusText.Value(PrometheusText.Parse(text), "aotfaas_invocations_total", ("function", function), ("status", status.ToString(CultureInfo.InvariantCulture))) ?? 0;
    }

    [Theory]
    [MemberData(nameof(Framings))]
    public async Task A_malformed_chunked_body_is_400_with_the_usual_headers_and_is_recorded_as_400(string what, string body)
    {
        await AssertBadRequestAsync("cat", what, body);
    }

    [Theory]
    [MemberData(nameof(Framings))]
    public async Task A_malformed_chunked_body_to_a_signed_function_is_400_too(string what, string body)
    {
        await AssertBadRequestAsync("hook", what, body);
    }

    private async Task AssertBadRequestAsync(string function, string what, string body)
    {
        string requestId = "malformed-" + Guid.NewGuid().ToString("N");
        double before = await CountAsync(function, 400);

        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/" + function, ["Transfer-Encoding: chunked", "X-Request-Id: " + requestId, "X-Hub-Signature-256: sha256=" + new string('0', 64)], chunkedBody: body);

        Assert.True(response.Status == 400, $"{what}: {response.Status} {response.Text}");
        Assert.Equal(requestId, response.Header("X-Request-Id"));
        Assert.NotNull(response.Header("X-Duration-Seconds"));
        Assert.Equal("text/plain; charset=utf-8", response.Header("Content-Type"));
        Assert.Equal("the request body could not be read\n", response.Text);
        CapturingLogger.Entry entry = Assert.Single(await server.Log.InvocationsAsync(requestId));
        Assert.Equal(400, entry.State["Status"]);
        Assert.Equal(before + 1, await CountAsync(function, 400));
        Assert.Equal(0, server.Server.Server.Lifecycle.UnhandledExceptions);
    }

    [Fact]
    public async Task A_well_formed_chunked_body_with_extensions_and_trailers_still_runs()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/cat", ["Transfer-Encoding: chunked"], chunkedBody: "5;ext=1;flag\r\nhello\r\n000001\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n");

        Assert.Equal(200, response.Status);
        Assert.Equal("hello!", response.Text);
    }
}
