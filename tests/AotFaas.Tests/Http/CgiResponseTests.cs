using AotFaas.Execution;
using System.Text;
using AotFaas.Http;

namespace AotFaas.Tests.Http;

/// <summary>
/// response: cgi, through a function that is <c>cat</c>: the request body is exactly the stdout the
/// server must turn into a response, so every rule is tested on a real run and a real socket.
/// </summary>
public class CgiResponseTests(RequestFixture server) : IClassFixture<RequestFixture>
{
    private Task<RawHttp.Response> CgiAsync(string stdout, string function = "cgi", string method = "POST")
        => RawHttp.SendAsync(server.Address, method, "/function/" + function, null, Encoding.UTF8.GetBytes(stdout));

    private async Task AssertMalformedAsync(string stdout, string reason)
    {
        RawHttp.Response response = await CgiAsync(stdout);

        Assert.Equal(502, response.Status);
        Assert.StartsWith("'cgi' wrote a malformed CGI response: ", response.Text, StringComparison.Ordinal);
        Assert.Contains(reason, response.Text, StringComparison.Ordinal);
        Assert.Equal("text/plain; charset=utf-8", response.Header("Content-Type"));
    }

    [Fact]
    public async Task Status_headers_and_body_become_the_response()
    {
        RawHttp.Response response = await CgiAsync("Status: 201 Created\nContent-Type: application/json\nLocation: /orders/42\nX-Order: 42\n\n{\"id\":42}");

        Assert.Equal(201, response.Status);
        Assert.Equal("Created", response.Reason);
        Assert.Equal("application/json", response.Header("Content-Type"));
        Assert.Equal("/orders/42", response.Header("Location"));
        Assert.Equal("42", response.Header("X-Order"));
        Assert.Equal("{\"id\":42}", response.Text);
        Assert.Equal("9", response.Header("Content-Length"));
    }

    [Fact]
    public async Task CRLF_line_endings_are_accepted()
    {
        RawHttp.Response response = await CgiAsync("Status: 404 Gone Fishing\r\nContent-Type: text/plain\r\n\r\nnot here\r\n");

        Assert.Equal((404, "Gone Fishing"), (response.Status, response.Reason));
        Assert.Equal("not here\r\n", response.Text);
    }

    [Fact]
    public async Task A_Location_without_Status_is_a_302()
    {
        RawHttp.Response response = await CgiAsync("Location: https://example.com/elsewhere\n\n");

        Assert.Equal(302, response.Status);
        Assert.Equal("https://example.com/elsewhere", response.Header("Location"));
        Assert.Empty(response.Body);
    }

    [Fact]
    public async Task Without_Status_it_is_200_and_Content_Type_falls_back_to_the_functions()
    {
        RawHttp.Response plain = await CgiAsync("X-Only: header\n\nbody", "cgi-typed");
        RawHttp.Response typed = await CgiAsync("Content-Type: text/html\n\n<p>", "cgi-typed");

        Assert.Equal((200, "application/json", "body"), (plain.Status, plain.Header("Content-Type"), plain.Text));
        Assert.Equal((200, "text/html", "<p>"), (typed.Status, typed.Header("Content-Type"), typed.Text));
    }

    [Fact]
    public async Task A_header_may_repeat()
    {
        RawHttp.Response response = await CgiAsync("Set-Cookie: a=1\nSet-Cookie: b=2\nContent-Type: text/plain\n\nok");

        Assert.Equal(["a=1", "b=2"], response.All("Set-Cookie"));
    }

    [Fact]
    public async Task The_body_is_kept_byte_for_byte_even_past_the_in_memory_part()
    {
        byte[] body = new byte[600 * 1024];
        new Random(7).NextBytes(body);
        byte[] stdout = [.. "Content-Type: application/octet-stream\r\n\r\n"u8, .. body];

        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/cgi", null, stdout);

        Assert.Equal(200, response.Status);
        Assert.Equal(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), response.Header("Content-Length"));
        Assert.Equal(body, response.Body);
    }

    [Fact]
    public async Task A_204_sends_no_body_whatever_followed_the_headers()
    {
        RawHttp.Response response = await CgiAsync("Status: 204 No Content\n\nignored");

        Assert.Equal(204, response.Status);
        Assert.Empty(response.Body);
    }

    [Fact]
    public async Task The_server_sets_X_Duration_Seconds_not_the_function()
    {
        RawHttp.Response response = await CgiAsync("X-Duration-Seconds: 999\nContent-Type: text/plain\n\n");

        Assert.NotEqual("999", Assert.Single(response.All("X-Duration-Seconds")));
    }

    [Fact]
    public async Task HEAD_gets_the_status_and_headers_without_the_body()
    {
        RawHttp.Response get = await RawHttp.SendAsync(server.Address, "GET", "/function/cgi-static", null, null);
        RawHttp.Response head = await RawHttp.SendAsync(server.Address, "HEAD", "/function/cgi-static", null, null);

        Assert.Equal((202, "yes", "body"), (get.Status, get.Header("X-Static"), get.Text));
        Assert.Equal((202, "yes", "4"), (head.Status, head.Header("X-Static"), head.Header("Content-Length")));
        Assert.Empty(head.Body);
    }

    [Fact]
    public async Task A_failing_function_is_still_500_with_stderr()
    {
        RawHttp.Response response = await CgiAsync(string.Empty, "cgi-fail");

        Assert.Equal(500, response.Status);
        Assert.Equal("oops\n", response.Text);
        Assert.Equal("3", response.Header("X-Exit-Code"));
    }

    [Theory]
    [InlineData("Content-Type: text/plain\nno blank line follows", "ended before the blank line")]
    [InlineData("", "ended before the blank line")]
    [InlineData("\nbody without headers", "starts with a blank line")]
    [InlineData("Content-Type: text/plain\n folded: line\n\n", "folded")]
    [InlineData("Bad Header: x\n\n", "not a CGI header line")]
    [InlineData("no colon at all\n\n", "not a CGI header line")]
    [InlineData(": empty name\n\n", "not a CGI header line")]
    [InlineData("X-Empty:\n\n", "'X-Empty' has no value")]
    [InlineData("X-Bell: a\u0007b\n\n", "control or non-ASCII")]
    [InlineData("X-Accent: café\n\n", "control or non-ASCII")]
    [InlineData("X-Cr: a\rb\n\n", "control or non-ASCII")]
    [InlineData("Status: ok\n\n", "'Status: ok' is not a status")]
    [InlineData("Status: 99\n\n", "is not a status")]
    [InlineData("Status: 101 Switching Protocols\n\n", "is not a status")]
    [InlineData("Status: 600\n\n", "is not a status")]
    [InlineData("Status: 2000\n\n", "is not a status")]
    [InlineData("Status: 200\nStatus: 201\n\n", "'Status' appears twice")]
    [InlineData("Content-Type: a/b\nContent-Type: c/d\n\n", "'Content-Type' appears twice")]
    [InlineData("Location: /a\nLocation: /b\n\n", "'Location' appears twice")]
    [InlineData("Content-Length: 5\n\nhello", "'Content-Length' is the server's to set")]
    [InlineData("Transfer-Encoding: chunked\n\n", "'Transfer-Encoding' is the server's to set")]
    [InlineData("connection: close\n\n", "'connection' is the server's to set")]
    [InlineData("Keep-Alive: timeout=5\n\n", "'Keep-Alive' is the server's to set")]
    [InlineData("Upgrade: websocket\n\n", "'Upgrade' is the server's to set")]
    [InlineData("TE: trailers\n\n", "'TE' is the server's to set")]
    [InlineData("Trailer: X\n\n", "'Trailer' is the server's to set")]
    [InlineData("Proxy-Connection: keep-alive\n\n", "'Proxy-Connection' is the server's to set")]
    public Task A_malformed_header_block_is_502_with_the_reason(string stdout, string reason)
        => AssertMalformedAsync(stdout, reason);

    [Fact]
    public Task No_blank_line_in_the_first_64_KiB_is_502()
        => AssertMalformedAsync("X-Long: " + new string('a', 70 * 1024) + "\n\nbody", "no blank line ends the CGI headers in the first 64 KiB");

    [Fact]
    public Task More_than_100_header_lines_is_502()
        => AssertMalformedAsync(string.Concat(Enumerable.Range(0, 101).Select(i => $"X-H{i}: v\n")) + "\n", "more than 100 CGI header lines");

    [Fact]
    public void The_parser_reports_where_the_body_starts()
    {
        CgiResponse? parsed = CgiResponse.Parse("Status: 418 I'm a teapot\r\nX-A: 1\n\nrest"u8, complete: true, out string? error);

        Assert.Null(error);
        Assert.Equal((418, "I'm a teapot", 34), (parsed!.Status, parsed.Reason, parsed.BodyOffset));
        Assert.Equal([new KeyValuePair<string, string>("X-A", "1")], parsed.Headers);
    }
}
