using AotFaas.Functions;
using System.Net;
using System.Text;
using AotFaas.Execution;

namespace AotFaas.Tests.Http;

/// <summary>request-env, routes and methods: what a program learns of its request, over real sockets.</summary>
public class RequestEnvironmentTests(RequestFixture server) : IClassFixture<RequestFixture>
{
    private static Dictionary<string, string> Variables(string envOutput)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in envOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = line.IndexOf('=', StringComparison.Ordinal);
            variables.Add(line[..equals], line[(equals + 1)..]);
        }

        return variables;
    }

    private async Task<Dictionary<string, string>> EnvAsync(string method, string target, string[]? headers = null, string? body = null)
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, method, target, headers, body is null ? null : Encoding.UTF8.GetBytes(body));
        Assert.True(response.Status == 200, $"{response.Status}: {response.Text}");
        return Variables(response.Text);
    }

    [Fact]
    public async Task Cgi_passes_the_rfc_3875_meta_variables()
    {
        Dictionary<string, string> env = await EnvAsync("POST", "/function/env/orders/42?page=2&q=a%20b", ["Content-Type: text/csv", "User-Agent: test/1.0"], "a,b\n");

        Assert.Equal("POST", env["REQUEST_METHOD"]);
        Assert.Equal("page=2&q=a%20b", env["QUERY_STRING"]);
        Assert.Equal("/orders/42", env["PATH_INFO"]);
        Assert.Equal("/function/env", env["SCRIPT_NAME"]);
        Assert.Equal("/function/env/orders/42?page=2&q=a%20b", env["REQUEST_URI"]);
        Assert.Equal("text/csv", env["CONTENT_TYPE"]);
        Assert.Equal("4", env["CONTENT_LENGTH"]);
        Assert.Equal("HTTP/1.1", env["SERVER_PROTOCOL"]);
        Assert.Equal("CGI/1.1", env["GATEWAY_INTERFACE"]);
        Assert.Equal("127.0.0.1", env["REMOTE_ADDR"]);
        Assert.Equal("127.0.0.1", env["SERVER_NAME"]);
        Assert.Equal(server.Address.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), env["SERVER_PORT"]);
        Assert.Equal("test/1.0", env["HTTP_USER_AGENT"]);
        Assert.Equal(server.Address.Authority, env["HTTP_HOST"]);
        Assert.False(env.ContainsKey("HTTP_CONTENT_TYPE"));
        Assert.False(env.ContainsKey("HTTP_CONTENT_LENGTH"));
    }

    [Fact]
    public async Task Header_names_are_uppercased_with_underscores_and_repeats_joined()
    {
        Dictionary<string, string> env = await EnvAsync("POST", "/function/env", ["x-custom-header: one", "X-Multi: a", "X-Multi: b"], string.Empty);

        Assert.Equal("one", env["HTTP_X_CUSTOM_HEADER"]);
        Assert.Equal("a, b", env["HTTP_X_MULTI"]);
    }

    [Fact]
    public async Task A_proxy_header_never_becomes_HTTP_PROXY()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/env", ["Proxy: http://attacker.example:8080"], []);

        Assert.Equal(200, response.Status);
        Assert.DoesNotContain("attacker", response.Text, StringComparison.Ordinal);
        Assert.False(Variables(response.Text).ContainsKey("HTTP_PROXY"));
    }

    [Fact]
    public async Task Authorization_is_passed_only_when_the_function_opts_in()
    {
        string[] headers = ["Authorization: Basic dXNlcjpwYXNz"];

        Dictionary<string, string> closed = await EnvAsync("POST", "/function/env", headers, string.Empty);
        Dictionary<string, string> open = await EnvAsync("POST", "/function/env-authorization", headers, string.Empty);

        Assert.DoesNotContain(closed.Values, value => value.Contains("dXNlcjpwYXNz", StringComparison.Ordinal));
        Assert.Equal("Basic dXNlcjpwYXNz", open["HTTP_AUTHORIZATION"]);
    }

    [Fact]
    public async Task A_header_name_with_an_underscore_cannot_pose_as_one_with_a_dash()
    {
        Dictionary<string, string> env = await EnvAsync("POST", "/function/env", ["X_Forwarded_For: 6.6.6.6", "X-Real-Ip: 10.0.0.1"], string.Empty);

        Assert.False(env.ContainsKey("HTTP_X_FORWARDED_FOR"));
        Assert.DoesNotContain(env.Values, value => value == "6.6.6.6");
        Assert.Equal("10.0.0.1", env["HTTP_X_REAL_IP"]);
    }

    [Fact]
    public async Task The_functions_own_variables_win_over_the_requests()
        => Assert.Equal("set by the manifest", (await EnvAsync("POST", "/function/env-fixed", null, string.Empty))["REQUEST_METHOD"]);

    [Theory]
    [InlineData("/function/env", "")]
    [InlineData("/function/env/", "/")]
    [InlineData("/function/env/a/b/", "/a/b/")]
    [InlineData("/function/env/hello%20world/caf%C3%A9", "/hello world/café")]
    [InlineData("/function/env/a/../b", "/b")]
    [InlineData("/function/env/a/./b", "/a/b")]
    [InlineData("/function/env/a/%2E%2E/b", "/b")]
    [InlineData("/function/env/a%252Fb", "/a%2Fb")]
    public async Task PATH_INFO_is_the_decoded_rest_of_the_path_without_dot_segments(string target, string pathInfo)
        => Assert.Equal(pathInfo, (await EnvAsync("POST", target, null, string.Empty))["PATH_INFO"]);

    [Theory]
    [InlineData("/function/env/a%2Fb")]
    [InlineData("/function/env/a%2fb")]
    public async Task An_encoded_slash_in_the_path_is_400_saying_so(string target)
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", target, null, []);

        Assert.Equal(400, response.Status);
        Assert.Equal("the path cannot hold an encoded '/' (%2F)\n", response.Text);
    }

    [Fact]
    public async Task A_NUL_in_the_path_is_400()
    {
        // Kestrel refuses it before the endpoint sees it; the endpoint would too.
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/env/a%00b", null, []);

        Assert.Equal(400, response.Status);
    }

    [Theory]
    [InlineData("/function/env/../no-such-function")]
    [InlineData("/function/env/../../etc/passwd")]
    [InlineData("/function/env/%2E%2E/%2E%2E/etc/passwd")]
    public async Task Dot_segments_cannot_climb_out_of_a_function(string target)
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", target, null, []);

        Assert.Equal(404, response.Status);
        Assert.Empty(response.Body);
    }

    [Fact]
    public async Task Openfaas_passes_the_classic_watchdog_names()
    {
        Dictionary<string, string> env = await EnvAsync("POST", "/function/env-openfaas/items/7?sort=asc", ["Content-Type: application/json", "x-custom-header: v", "Proxy: http://attacker", "Authorization: Bearer x"], "{}");

        Assert.Equal("POST", env["Http_Method"]);
        Assert.Equal("sort=asc", env["Http_Query"]);
        Assert.Equal("/items/7", env["Http_Path"]);
        Assert.Equal("application/json", env["Http_ContentType"]);
        Assert.Equal("application/json", env["Http_Content_Type"]);
        Assert.Equal("2", env["Http_Content_Length"]);
        Assert.Equal("2", env["Http_ContentLength"]);
        Assert.Equal("v", env["Http_X_Custom_Header"]);
        Assert.Equal(server.Address.Authority, env["Http_Host"]);
        Assert.False(env.ContainsKey("Http_Proxy"));
        Assert.False(env.ContainsKey("Http_Authorization"));
        Assert.False(env.ContainsKey("REQUEST_METHOD"));
    }

    [Fact]
    public async Task Openfaas_path_is_a_slash_at_the_root_and_query_absent_when_empty()
    {
        Dictionary<string, string> env = await EnvAsync("GET", "/function/env-openfaas");

        Assert.Equal("/", env["Http_Path"]);
        Assert.Equal("GET", env["Http_Method"]);
        Assert.False(env.ContainsKey("Http_Query"));
    }

    [Fact]
    public async Task None_passes_nothing_about_the_request()
    {
        Dictionary<string, string> env = await EnvAsync("POST", "/function/env-none/x?y=1", ["X-A: b"], string.Empty);

        Assert.DoesNotContain(env.Keys, name => name.StartsWith("HTTP", StringComparison.OrdinalIgnoreCase) || name.Contains("REQUEST", StringComparison.Ordinal) || name == "PATH_INFO");
        Assert.True(env.ContainsKey("PATH"));
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    [InlineData("PATCH")]
    public async Task Listed_methods_run_the_function(string method)
        => Assert.Equal(method, (await EnvAsync(method, "/function/env", null, method == "GET" ? null : "x"))["REQUEST_METHOD"]);

    [Fact]
    public async Task A_GET_runs_with_an_empty_stdin_even_with_a_body()
    {
        RawHttp.Response get = await RawHttp.SendAsync(server.Address, "GET", "/function/count", null, Encoding.ASCII.GetBytes("ignored body"));
        RawHttp.Response post = await RawHttp.SendAsync(server.Address, "POST", "/function/count", null, Encoding.ASCII.GetBytes("12345"));

        Assert.Equal((200, "0"), (get.Status, get.Text.Trim()));
        Assert.Equal((200, "5"), (post.Status, post.Text.Trim()));
    }

    [Fact]
    public async Task A_method_the_function_does_not_list_is_405_with_its_Allow()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "DELETE", "/function/count", null, null);

        Assert.Equal(405, response.Status);
        Assert.Equal("GET, POST", response.Header("Allow"));
        Assert.Equal("'count' answers GET, POST, not DELETE\n", response.Text);
    }

    [Fact]
    public async Task An_unknown_function_is_404_whatever_the_method()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "GET", "/function/no-such-function/x", null, null);

        Assert.Equal(404, response.Status);
        Assert.Empty(response.Body);
    }

    [Fact]
    public async Task HEAD_runs_a_function_that_lists_it_and_sends_no_body()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "HEAD", "/function/env", null, null);

        Assert.Equal(200, response.Status);
        Assert.Empty(response.Body);
        Assert.True(long.Parse(response.Header("Content-Length")!, System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [Fact]
    public async Task Every_response_carries_X_Duration_Seconds()
    {
        RawHttp.Response[] responses =
        [
            await RawHttp.SendAsync(server.Address, "POST", "/function/count", null, []),
            await RawHttp.SendAsync(server.Address, "POST", "/function/nothing-here", null, []),
            await RawHttp.SendAsync(server.Address, "DELETE", "/function/count", null, null),
            await RawHttp.SendAsync(server.Address, "POST", "/function/cgi-fail", null, []),
            await RawHttp.SendAsync(server.Address, "POST", "/function/bearer", null, []),
            await RawHttp.SendAsync(server.Address, "POST", "/function/env/a%2Fb", null, []),
        ];

        Assert.Equal([200, 404, 405, 500, 401, 400], responses.Select(r => r.Status));
        foreach (RawHttp.Response response in responses)
        {
            string duration = Assert.Single(response.All("X-Duration-Seconds"));
            Assert.Matches("^[0-9]+\\.[0-9]{6}$", duration);
            Assert.InRange(double.Parse(duration, System.Globalization.CultureInfo.InvariantCulture), 0, 30);
        }
    }

    [Fact]
    public async Task Too_many_headers_is_431()
    {
        string[] headers = Enumerable.Range(0, 101).Select(i => $"X-H{i}: v").ToArray();

        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/env", headers, []);

        Assert.Equal(431, response.Status);
    }

    [Fact]
    public async Task Headers_over_the_total_size_are_431()
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/env", ["X-Big: " + new string('a', 40 * 1024)], []);

        Assert.Equal(431, response.Status);
    }

    [Fact]
    public async Task A_header_too_long_for_the_kernel_is_a_clear_431_not_E2BIG()
    {
        // Raised header limits let a header through Kestrel that no environment variable could hold.
        await using TestServer big = await TestServer.StartAsync(
            [new("env", "env", [])],
            new RunLimits { MaxHeadersSize = 4 << 20 },
            name => RequestFixture.ServerEnvironment.GetValueOrDefault(name));

        RawHttp.Response one = await RawHttp.SendAsync(big.Client.BaseAddress!, "POST", "/function/env", ["X-Big: " + new string('a', 200 * 1024)], []);
        string[] many = Enumerable.Range(0, 6).Select(i => $"X-Part{i}: " + new string('b', 100 * 1024)).ToArray();
        RawHttp.Response all = await RawHttp.SendAsync(big.Client.BaseAddress!, "POST", "/function/env", many, []);
        RawHttp.Response fine = await RawHttp.SendAsync(big.Client.BaseAddress!, "POST", "/function/env", ["X-Fine: " + new string('c', 100 * 1024)], []);

        Assert.Equal(431, one.Status);
        Assert.Contains("HTTP_X_BIG would be 204811 bytes; one variable may hold at most 131071", one.Text, StringComparison.Ordinal);
        Assert.Equal(431, all.Status);
        Assert.Contains("more than 524288 bytes", all.Text, StringComparison.Ordinal);
        Assert.Equal(200, fine.Status);
        Assert.Contains("HTTP_X_FINE=ccc", fine.Text, StringComparison.Ordinal);
    }
}
