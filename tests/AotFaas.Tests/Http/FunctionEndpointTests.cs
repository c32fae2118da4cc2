using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace AotFaas.Tests.Http;

/// <summary>The seed's contract over a real socket: status codes, bodies, content types.</summary>
public class FunctionEndpointTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private HttpClient Client => server.Client;

    private static ByteArrayContent Body(byte[] bytes, string? contentType = null)
    {
        var content = new ByteArrayContent(bytes);
        if (contentType is not null)
        {
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        return content;
    }

    private static ByteArrayContent Body(string text, string? contentType = null) => Body(Encoding.UTF8.GetBytes(text), contentType);

    [Fact]
    public async Task Exit_zero_returns_200_with_stdout()
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/cat", Body("hello, world"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hello, world", await response.Content.ReadAsStringAsync());
        Assert.Equal(12, response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task Non_zero_exit_returns_500_with_stderr_only()
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/fail", Body("x"));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("went wrong", await response.Content.ReadAsStringAsync());
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Equal("3", response.Headers.GetValues("X-Exit-Code").Single());
    }

    [Fact]
    public async Task Non_zero_exit_without_stderr_returns_500_with_an_empty_body()
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/fail-silently", Body("x"));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_program_killed_by_a_signal_returns_500_naming_the_signal()
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/killed", Body("x"));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("SIGKILL", response.Headers.GetValues("X-Exit-Signal").Single());
        Assert.Equal("'killed' was killed by SIGKILL\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Exit_zero_without_output_returns_200_with_an_empty_body()
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/nothing", Body("x"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, response.Content.Headers.ContentLength);
    }

    [Theory]
    [InlineData("/function/unknown")]
    [InlineData("/function/CAT")]
    [InlineData("/function/cat.")]
    public async Task An_unknown_function_returns_404_with_an_empty_body(string path)
    {
        using HttpResponseMessage response = await Client.PostAsync(path, Body("x"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    public async Task Other_methods_are_405_with_Allow_POST(string method)
    {
        using HttpResponseMessage response = await Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), "/function/cat"));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(["POST"], response.Content.Headers.Allow);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/function")]
    [InlineData("/function/")]
    [InlineData("/function/no-such-function/extra")]
    [InlineData("/functions/cat")]
    [InlineData("/function/..%2Fcat")]
    public async Task Paths_other_than_a_function_name_are_404_with_an_empty_body(string path)
    {
        using HttpResponseMessage response = await Client.PostAsync(path, Body("x"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("missing", "cannot run '/nonexistent/program': No such file or directory")]
    [InlineData("no-such-command", "cannot run 'aotfaas-no-such-command': No such file or directory")]
    [InlineData("not-executable", "Permission denied")]
    public async Task A_program_that_cannot_start_returns_500_with_a_one_line_reason(string function, string reason)
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/" + function, Body("x"));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        string body = await response.Content.ReadAsStringAsync();
        Assert.Contains(reason, body, StringComparison.Ordinal);
        Assert.EndsWith("\n", body, StringComparison.Ordinal);
        Assert.Single(body.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task All_256_byte_values_pass_through_unchanged()
    {
        byte[] bytes = Enumerable.Range(0, 256).Select(i => (byte)i).Concat(Enumerable.Range(0, 256).Select(i => (byte)(255 - i))).ToArray();

        using HttpResponseMessage response = await Client.PostAsync("/function/cat", Body(bytes));

        Assert.Equal(bytes, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_10_MiB_body_passes_through_unchanged()
    {
        byte[] bytes = new byte[10 * 1024 * 1024];
        new Random(42).NextBytes(bytes);

        using HttpResponseMessage response = await Client.PostAsync("/function/cat", Body(bytes));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(bytes.Length, response.Content.Headers.ContentLength);
        byte[] received = await response.Content.ReadAsByteArrayAsync();
        Assert.True(bytes.AsSpan().SequenceEqual(received));
    }

    [Fact]
    public async Task A_program_writing_lots_of_stderr_before_reading_stdin_does_not_deadlock()
    {
        byte[] bytes = new byte[4 * 1024 * 1024];
        new Random(7).NextBytes(bytes);

        using HttpResponseMessage response = await Client.PostAsync("/function/stderr-first", Body(bytes));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        byte[] received = await response.Content.ReadAsByteArrayAsync();
        Assert.True(bytes.AsSpan().SequenceEqual(received));
    }

    [Fact]
    public async Task A_program_that_never_reads_stdin_still_answers()
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/ignore-input", Body(new byte[8 * 1024 * 1024]));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ignored\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_program_that_stops_reading_early_still_answers()
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/head", Body(new string('a', 4 * 1024 * 1024)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("aaaaaaaaaa", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_server_keeps_serving_after_programs_misbehave()
    {
        foreach (string function in new[] { "missing", "killed", "ignore-input", "fail" })
        {
            (await Client.PostAsync("/function/" + function, Body("x"))).Dispose();
        }

        using HttpResponseMessage response = await Client.PostAsync("/function/cat", Body("still here"));

        Assert.Equal("still here", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Arguments_come_from_the_manifest_only()
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/argv?x=$(id)", Body("; rm -rf /"));

        Assert.Equal("a b|$HOME|*|", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_functions_content_type_wins()
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/typed", Body("x", "application/json"));

        Assert.Equal("image/png", response.Content.Headers.ContentType?.ToString());
    }

    [Fact]
    public async Task Without_a_function_content_type_the_requests_is_echoed()
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/cat", Body("{}", "application/json; charset=utf-8"));

        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
    }

    [Fact]
    public async Task Without_any_content_type_the_response_is_octet_stream()
    {
        using HttpResponseMessage response = await Client.PostAsync("/function/cat", Body("x"));

        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.ToString());
    }

    [Fact]
    public async Task Concurrent_requests_each_get_their_own_output()
    {
        var requests = Enumerable.Range(0, 40).Select(async i =>
        {
            using HttpResponseMessage response = await Client.PostAsync("/function/cat", Body("request " + i));
            return (i, await response.Content.ReadAsStringAsync());
        });

        foreach ((int i, string body) in await Task.WhenAll(requests))
        {
            Assert.Equal("request " + i, body);
        }
    }

    [Fact]
    public async Task A_Content_Length_over_max_body_is_413_before_anything_runs()
    {
        // The default max-body is 16MiB. A raw socket: the server answers before the body is sent,
        // which HttpClient would report as a reset.
        RawHttp.Response response = await RawHttp.SendAsync(Client.BaseAddress!, "POST", "/function/cat", ["Content-Length: 16777217"]);

        Assert.Equal(413, response.Status);
        Assert.Equal("request body too large: the limit of 'cat' is 16MiB\n", response.Text);
    }
}
