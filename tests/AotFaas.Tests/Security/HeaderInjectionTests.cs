using AotFaas.Tests.Http;

namespace AotFaas.Tests.Security;

/// <summary>
/// Request data that could reach a response header (PATH_INFO echoed by a CGI function, the request's
/// Content-Type echoed as the response's) cannot split the response: a control character is a 400.
/// </summary>
public class HeaderInjectionTests(HardeningFixture server) : IClassFixture<HardeningFixture>
{
    [Fact]
    public async Task A_CRLF_in_the_path_cannot_add_headers_to_a_CGI_response()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "GET", "/function/cgiecho/x%0d%0aSet-Cookie:%20sid=attacker%0d%0aLocation:%20http://evil.example/");

        Assert.Equal(400, response.Status);
        Assert.Empty(response.All("Set-Cookie"));
        Assert.Empty(response.All("Location"));
        Assert.Equal("the path cannot hold a control character (%00-%1F, %7F)\n", response.Text);
        Assert.NotNull(response.Header("X-Request-Id"));
        Assert.NotNull(response.Header("X-Duration-Seconds"));
    }

    [Theory]
    [InlineData("/function/cgiecho/x%0a%0ainjected body")]
    [InlineData("/function/cgiecho/x%0d")]
    [InlineData("/function/cgiecho/a%09b")]
    [InlineData("/function/cgiecho/a%1bb")]
    [InlineData("/function/cgiecho/a%7fb")]
    [InlineData("/function/cgiecho/%01")]
    [InlineData("/function/cgiecho/%1F/x")]
    [InlineData("/function/cat/a%0Ab")]
    public async Task Any_C0_control_or_DEL_in_the_decoded_path_is_400(string target)
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", target.Replace(" ", "%20", StringComparison.Ordinal), null, []);

        Assert.Equal(400, response.Status);
        Assert.Equal("the path cannot hold a control character (%00-%1F, %7F)\n", response.Text);
        Assert.Equal("text/plain; charset=utf-8", response.Header("Content-Type"));
    }

    [Theory]
    [InlineData("/function/cgiecho/caf%C3%A9", "/café")]
    [InlineData("/function/cgiecho/a%20b~!$&'()*+,;=:@", "/a b~!$&'()*+,;=:@")]
    public async Task Printable_paths_still_reach_the_function(string target, string pathInfo)
    {
        // The CGI parser refuses a non-ASCII header value (502); a printable ASCII one is echoed as is.
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "GET", target);

        if (pathInfo.All(char.IsAscii))
        {
            Assert.Equal(302, response.Status);
            Assert.Equal(pathInfo, response.Header("X-Path"));
        }
        else
        {
            Assert.Equal(502, response.Status);
        }
    }

    [Theory]
    [InlineData("text/plain\u0001")]
    [InlineData("text/plain\u007F")]
    [InlineData("text/plain; x=\u001b[31m")]
    [InlineData("text/caf\u00e9")]
    public async Task A_request_Content_Type_that_cannot_be_echoed_is_400_not_a_broken_response(string contentType)
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/echo-type", ["Content-Type: " + contentType], "hi"u8.ToArray());

        Assert.Equal(400, response.Status);
        Assert.NotNull(response.Header("X-Request-Id"));
        Assert.NotNull(response.Header("X-Duration-Seconds"));
        Assert.EndsWith("\n", response.Text, StringComparison.Ordinal);
        Assert.Equal(0, server.Server.Server.Lifecycle.UnhandledExceptions);
    }

    [Fact]
    public async Task A_request_Content_Type_with_a_tab_is_echoed()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/echo-type", ["Content-Type: text/plain;\tcharset=utf-8"], "hi"u8.ToArray());

        Assert.Equal(200, response.Status);
        Assert.Equal("text/plain;\tcharset=utf-8", response.Header("Content-Type"));
    }
}
