using System.Net.Sockets;
using System.Text;
using AotFaas.Tests.Http;
using AotFaas.Tests.Operations;

namespace AotFaas.Tests.Security;

/// <summary>
/// The body rules of each status: 204, 205 and 304 carry no body (205 with Content-Length 0 or none), nor does
/// any response to HEAD; whatever the function wrote after its CGI header block is dropped, and the log line
/// says the status the client got.
/// </summary>
public class BodylessStatusTests(HardeningFixture server) : IClassFixture<HardeningFixture>
{
    /// <summary>Every byte the server sends for one request on a connection it closes afterwards.</summary>
    private async Task<string> ExchangeAsync(string method, string target, string requestId)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await socket.ConnectAsync(server.Address.Host, server.Address.Port, timeout.Token);
        string body = method == "POST" ? "Content-Length: 2\r\n\r\nhi" : "\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes($"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: {requestId}\r\n{body}"), timeout.Token);
        var received = new MemoryStream();
        byte[] buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, timeout.Token)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        return Encoding.ASCII.GetString(received.ToArray());
    }

    [Theory]
    [InlineData("cgi-204", "POST", 204)]
    [InlineData("cgi-205", "POST", 205)]
    [InlineData("cgi-304", "POST", 304)]
    [InlineData("cgi-204", "GET", 204)]
    [InlineData("cgi-205", "GET", 205)]
    [InlineData("cgi-304", "GET", 304)]
    [InlineData("cgi-204", "HEAD", 204)]
    [InlineData("cgi-205", "HEAD", 205)]
    [InlineData("cgi-304", "HEAD", 304)]
    [InlineData("cgi-200", "HEAD", 200)]
    [InlineData("raw-head", "HEAD", 200)]
    public async Task A_bodyless_response_sends_no_body_whatever_the_function_wrote(string function, string method, int status)
    {
        string requestId = "bodyless-" + Guid.NewGuid().ToString("N");

        string raw = await ExchangeAsync(method, "/function/" + function, requestId);

        int end = raw.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(end > 0, raw);
        string head = raw[..end];
        Assert.StartsWith($"HTTP/1.1 {status} ", head, StringComparison.Ordinal);
        Assert.Equal(string.Empty, raw[(end + 4)..]);
        Assert.Contains("X-Request-Id: " + requestId, head, StringComparison.Ordinal);
        Assert.Contains("X-Duration-Seconds: ", head, StringComparison.Ordinal);
        if (status == 205)
        {
            // RFC 9110 15.3.6: a 205 has no content, said by Content-Length 0 or no Content-Length at all.
            Assert.All(head.Split("\r\n").Where(line => line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)), line => Assert.Equal("0", line["Content-Length:".Length..].Trim()));
            Assert.DoesNotContain("Transfer-Encoding", head, StringComparison.OrdinalIgnoreCase);
        }

        CapturingLogger.Entry entry = Assert.Single(await server.Log.InvocationsAsync(requestId));
        Assert.Equal(status, entry.State["Status"]);
        Assert.Equal(0L, entry.State["BytesOut"]);
        Assert.Equal(0, server.Server.Server.Lifecycle.UnhandledExceptions);
    }

    [Fact]
    public async Task A_205_keeps_the_functions_other_headers()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/cgi-205", null, []);

        Assert.Equal(205, response.Status);
        Assert.Equal("reset", response.Header("X-Kind"));
        Assert.Empty(response.Body);
    }
}
