using System.Text;
using AotFaas.Tests.Http;

namespace AotFaas.Tests.Security;

/// <summary>
/// A request cannot set a variable the server or the manifest sets: a function's environment never holds
/// two entries of one name (C getenv and Go os.Getenv take the first), in any request-env mode.
/// </summary>
public class EnvironmentSpoofingTests(HardeningFixture server) : IClassFixture<HardeningFixture>
{
    /// <summary>Every NAME=value line of <c>env</c>'s output, duplicates kept.</summary>
    private async Task<List<KeyValuePair<string, string>>> EnvAsync(string method, string target, string[] headers, string? body = null)
    {
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, method, target, headers, body is null ? null : Encoding.UTF8.GetBytes(body));
        Assert.True(response.Status == 200, $"{response.Status}: {response.Text}");
        return response.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => new KeyValuePair<string, string>(line[..line.IndexOf('=', StringComparison.Ordinal)], line[(line.IndexOf('=', StringComparison.Ordinal) + 1)..]))
            .ToList();
    }

    private static Dictionary<string, string> AssertEachNameOnce(List<KeyValuePair<string, string>> env)
    {
        string[] repeated = env.GroupBy(v => v.Key, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => $"{g.Key} ({string.Join(" | ", g.Select(v => v.Value))})").ToArray();
        Assert.True(repeated.Length == 0, "set more than once: " + string.Join(", ", repeated));
        return env.ToDictionary(v => v.Key, v => v.Value, StringComparer.Ordinal);
    }

    /// <summary>Headers whose OpenFaaS names are the server's own variables, in every spelling a client can send.</summary>
    private static readonly string[] OpenFaasSpoofs =
    [
        "Method: DELETE", "Path: /admin", "Query: all=1", "ContentLength: 999", "Contentlength: 998", "Content-length-: 997",
        "ContentType: evil/type", "Transfer-encoding-x: evil", "Request-Id: forged", "Host-: evil.example",
    ];

    [Fact]
    public async Task Openfaas_headers_named_like_the_servers_variables_do_not_reach_the_function()
    {
        Dictionary<string, string> env = AssertEachNameOnce(await EnvAsync("GET", "/function/env-openfaas/x", OpenFaasSpoofs));

        Assert.Equal("GET", env["Http_Method"]);
        Assert.Equal("/x", env["Http_Path"]);
        Assert.Equal("-1", env["Http_ContentLength"]);
        Assert.Equal("-1", env["Http_Content_Length"]);
        Assert.Equal(server.Address.Authority, env["Http_Host"]);
        // The request had no query: a Query header must not make one up.
        Assert.False(env.ContainsKey("Http_Query"), "Http_Query=" + env.GetValueOrDefault("Http_Query"));
        Assert.DoesNotContain(env.Values, value => value is "DELETE" or "/admin" or "all=1");
        Assert.Equal("forged", env["Http_Request_Id"]);
    }

    [Fact]
    public async Task Openfaas_server_values_win_over_headers_on_a_chunked_post_with_a_query()
    {
        string[] headers = [.. OpenFaasSpoofs, "Content-Type: text/csv", "Transfer-Encoding: chunked"];
        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "POST", "/function/env-openfaas/y?page=2", headers, chunkedBody: "4\r\na,b\n\r\n0\r\n\r\n");
        Assert.Equal(200, response.Status);
        Dictionary<string, string> env = AssertEachNameOnce(response.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => new KeyValuePair<string, string>(line[..line.IndexOf('=', StringComparison.Ordinal)], line[(line.IndexOf('=', StringComparison.Ordinal) + 1)..]))
            .ToList());

        Assert.Equal("POST", env["Http_Method"]);
        Assert.Equal("/y", env["Http_Path"]);
        Assert.Equal("page=2", env["Http_Query"]);
        Assert.Equal("text/csv", env["Http_ContentType"]);
        Assert.Equal("chunked", env["Http_Transfer_Encoding"]);
        Assert.Equal("-1", env["Http_ContentLength"]);
    }

    [Fact]
    public async Task Cgi_headers_cannot_set_a_meta_variable_twice()
    {
        string[] headers = ["Request-Method: DELETE", "Path-Info: /admin", "Query-String: all=1", "Content-Type: text/plain", "Request-Id: forged", "Script-Name: /x", "Remote-Addr: 10.9.9.9"];
        Dictionary<string, string> env = AssertEachNameOnce(await EnvAsync("POST", "/function/env-cgi/p?q=1", headers, "body"));

        Assert.Equal("POST", env["REQUEST_METHOD"]);
        Assert.Equal("/p", env["PATH_INFO"]);
        Assert.Equal("q=1", env["QUERY_STRING"]);
        Assert.Equal("4", env["CONTENT_LENGTH"]);
        Assert.Equal("127.0.0.1", env["REMOTE_ADDR"]);
        Assert.NotEqual("forged", env["REQUEST_ID"]);
    }

    [Fact]
    public async Task A_name_the_manifest_claims_is_never_filled_from_the_request_even_when_the_server_leaves_it_unset()
    {
        // pass-env HTTP_X_ROLE and TZ are not set on the server; env sets HTTP_X_TEAM and Http_Method.
        Dictionary<string, string> cgi = AssertEachNameOnce(await EnvAsync("POST", "/function/env-claimed", ["X-Role: admin", "X-Team: attackers", "X-Other: kept"], string.Empty));
        Dictionary<string, string> openfaas = AssertEachNameOnce(await EnvAsync("POST", "/function/env-claimed-openfaas", ["X-Role: admin", "Method: DELETE"], string.Empty));

        Assert.False(cgi.ContainsKey("HTTP_X_ROLE"), "HTTP_X_ROLE=" + cgi.GetValueOrDefault("HTTP_X_ROLE"));
        Assert.Equal("from the manifest", cgi["HTTP_X_TEAM"]);
        Assert.Equal("kept", cgi["HTTP_X_OTHER"]);
        Assert.Equal("eu-west-1", cgi["REGION"]);
        Assert.False(cgi.ContainsKey("TZ"));
        Assert.False(openfaas.ContainsKey("Http_X_Role"), "Http_X_Role=" + openfaas.GetValueOrDefault("Http_X_Role"));
        Assert.Equal("from the manifest", openfaas["Http_Method"]);
    }

    [Theory]
    [InlineData("/function/env-openfaas")]
    [InlineData("/function/env-cgi")]
    [InlineData("/function/env-none")]
    public async Task No_mode_passes_a_name_twice(string target)
    {
        string[] headers = [.. OpenFaasSpoofs, "Path-Info: /admin", "Request-Method: PUT", "Home: /root", "Lang: xx", "X-A: 1", "x-a: 2"];
        Dictionary<string, string> env = AssertEachNameOnce(await EnvAsync("PUT", target + "/z", headers, "body"));

        Assert.Equal(HardeningFixture.ServerEnvironment["PATH"], env["PATH"]);
        Assert.Equal("C.UTF-8", env["LANG"]);
        Assert.False(env.ContainsKey("HOME"));
    }

    [Fact]
    public async Task SERVER_PORT_is_the_port_the_request_came_in_on_whatever_the_Host_header_says()
    {
        RawHttp.Response response = await RawHttp.ExchangeAsync(server.Address, "GET", [Encoding.ASCII.GetBytes("GET /function/env-cgi HTTP/1.1\r\nHost: evil.example:81\r\nConnection: close\r\n\r\n")]);
        Assert.Equal(200, response.Status);
        Dictionary<string, string> env = response.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .ToDictionary(line => line[..line.IndexOf('=', StringComparison.Ordinal)], line => line[(line.IndexOf('=', StringComparison.Ordinal) + 1)..], StringComparer.Ordinal);

        Assert.Equal(server.Address.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), env["SERVER_PORT"]);
        Assert.Equal("evil.example", env["SERVER_NAME"]);
    }

    [Theory]
    [InlineData("/function/env-cgi", "HTTP_PROXY_AUTHORIZATION")]
    [InlineData("/function/env-openfaas", "Http_Proxy_Authorization")]
    public async Task Proxy_credentials_never_reach_a_function(string target, string name)
    {
        Dictionary<string, string> env = AssertEachNameOnce(await EnvAsync("GET", target, ["Proxy-Authorization: Basic c2VjcmV0OnByb3h5"]));

        Assert.False(env.ContainsKey(name), $"{name}={env.GetValueOrDefault(name)}");
        Assert.DoesNotContain(env, v => v.Value.Contains("c2VjcmV0OnByb3h5", StringComparison.Ordinal));
    }
}
