using System.Diagnostics;
using System.Net;
using System.Text;

namespace AotFaas.Tests.Http;

/// <summary>
/// Timeouts, admission, body and output limits, environment and working directory, over a real socket.
/// Run alone, so that the hostile ones can check afterwards that nothing was left behind.
/// </summary>
[Collection(nameof(LeakTests))]
public class LimitsTests(LimitsFixture server) : IClassFixture<LimitsFixture>
{
    private readonly CleanCheck _clean = new(server.Client);

    private HttpClient Client => server.Client;

    private Task<HttpResponseMessage> PostAsync(string function, string body = "x")
        => Client.PostAsync("/function/" + function, new ByteArrayContent(Encoding.UTF8.GetBytes(body)));

    [Fact]
    public async Task A_run_past_its_timeout_is_stopped_and_answered_504()
    {
        int before = await _clean.BaselineAsync();

        var clock = Stopwatch.StartNew();
        using HttpResponseMessage response = await PostAsync("sleeper");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("'sleeper' timed out after 300ms and was stopped\n", await response.Content.ReadAsStringAsync());
        Assert.InRange(clock.ElapsedMilliseconds, 250, 5000);
        await _clean.AssertCleanAsync(before);
    }

    [Fact]
    public async Task A_timeout_ends_the_programs_children_too()
    {
        int before = await _clean.BaselineAsync();

        using HttpResponseMessage response = await PostAsync("family");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        int[] pids = await server.PidsAsync("family.pids");
        Assert.Equal(2, pids.Length);
        foreach (int pid in pids)
        {
            Assert.True(await ProcessTable.IsGoneAsync(pid), $"grandchild {pid} still runs");
        }

        await _clean.AssertCleanAsync(before);
    }

    [Fact]
    public async Task A_timeout_ends_a_grandchild_blocked_writing_to_a_full_pipe()
    {
        int before = await _clean.BaselineAsync();

        using HttpResponseMessage response = await PostAsync("blocked");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        int writer = (await server.PidsAsync("blocked.pid"))[0];
        Assert.True(await ProcessTable.IsGoneAsync(writer), $"the blocked writer {writer} still runs");
        await _clean.AssertCleanAsync(before);
    }

    [Fact]
    public async Task A_program_that_ignores_SIGTERM_is_answered_504_at_the_deadline_and_killed_after_the_grace()
    {
        int before = await _clean.BaselineAsync();

        var clock = Stopwatch.StartNew();
        using HttpResponseMessage response = await PostAsync("stubborn");
        int pid = (await server.PidsAsync("stubborn.pid"))[0];

        // The 504 does not wait for the kill: the program, which ignores SIGTERM, is still there when it arrives.
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.False(await ProcessTable.IsGoneAsync(pid, timeoutMilliseconds: 0), "the 504 waited for the kill");
        Assert.True(clock.ElapsedMilliseconds >= 290, $"answered after {clock.ElapsedMilliseconds} ms, before the 300 ms deadline");
        Assert.True(await ProcessTable.IsGoneAsync(pid));
        await _clean.AssertCleanAsync(before);
    }

    [Fact]
    public async Task What_a_program_leaves_running_in_its_group_is_ended_when_it_exits()
    {
        int before = await _clean.BaselineAsync();

        using HttpResponseMessage response = await PostAsync("orphans");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(await ProcessTable.IsGoneAsync((await server.PidsAsync("orphans.pid"))[0]), "the background sleep still runs");
        await _clean.AssertCleanAsync(before);
    }

    [Fact]
    public async Task Over_max_inflight_and_max_queue_is_429_with_Retry_After()
    {
        Task<HttpResponseMessage> first = PostAsync("slow");
        await server.WaitForGateAsync("slow", running: 1);

        using HttpResponseMessage second = await PostAsync("slow");

        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal("1", second.Headers.GetValues("Retry-After").Single());
        Assert.Contains("'slow' is busy: 1 running, 0 waiting", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using HttpResponseMessage firstResponse = await first;
        Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
    }

    [Fact]
    public async Task A_queued_request_gives_up_at_its_own_deadline()
    {
        var clock = Stopwatch.StartNew();
        Task<HttpResponseMessage> first = PostAsync("queued");
        await server.WaitForGateAsync("queued", running: 1);

        using HttpResponseMessage second = await PostAsync("queued");

        Assert.Equal(HttpStatusCode.GatewayTimeout, second.StatusCode);
        Assert.InRange(clock.ElapsedMilliseconds, 300, 5000);
        (await first).Dispose();
    }

    [Fact]
    public async Task Two_hundred_concurrent_requests_on_max_inflight_2_each_get_an_answer()
    {
        int before = await _clean.BaselineAsync();

        HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => PostAsync("pair")));

        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.TooManyRequests }));
        Assert.InRange(responses.Count(r => r.StatusCode == HttpStatusCode.OK), 12, 200);
        foreach (HttpResponseMessage response in responses)
        {
            response.Dispose();
        }

        await _clean.AssertCleanAsync(before);
    }

    [Fact]
    public async Task A_chunked_body_over_max_body_is_413()
    {
        var content = new StreamContent(new MemoryStream(new byte[4096]));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/function/small") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using HttpResponseMessage response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("request body too large: the limit of 'small' is 1KiB\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_body_within_max_body_runs()
    {
        using HttpResponseMessage response = await PostAsync("small", new string('a', 1024));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1024, (await response.Content.ReadAsStringAsync()).Length);
    }

    [Fact]
    public async Task Stdout_over_max_output_stops_the_run_with_502()
    {
        using HttpResponseMessage response = await PostAsync("chatty");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("'chatty' wrote more than 1MiB to stdout and was stopped\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Stderr_is_kept_up_to_64_KiB_and_the_rest_counted()
    {
        using HttpResponseMessage response = await PostAsync("noisy");

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal(65536, (await response.Content.ReadAsByteArrayAsync()).Length);
        Assert.Equal((200000 - 65536).ToString(System.Globalization.CultureInfo.InvariantCulture), response.Headers.GetValues("X-Stderr-Dropped").Single());
    }

    [Fact]
    public async Task A_function_sees_only_inherited_names_its_pass_env_and_its_env()
    {
        using HttpResponseMessage response = await PostAsync("env");

        string[] variables = (await response.Content.ReadAsStringAsync()).TrimEnd('\n').Split('\n').Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(
            ["GREETING=hello world", "HOME=/home/aotfaas", "LANG=fr_FR.UTF-8", "PATH=" + LimitsFixture.ServerEnvironment["PATH"], "REGION=eu-west-1"],
            variables);
    }

    [Fact]
    public async Task Workdir_sets_the_programs_working_directory()
    {
        using HttpResponseMessage response = await PostAsync("where");

        Assert.Equal("/tmp\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_missing_workdir_is_500_saying_so()
    {
        using HttpResponseMessage response = await PostAsync("nowhere");

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("cannot run 'pwd': its working directory '/nonexistent/dir' does not exist\n", await response.Content.ReadAsStringAsync());
    }
}
