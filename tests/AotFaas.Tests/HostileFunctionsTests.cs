using System.Net;
using System.Net.Sockets;
using System.Text;
using AotFaas.Tests.Http;

namespace AotFaas.Tests;

/// <summary>
/// Programs and clients that misbehave. After each: no child of the server alive, no zombie,
/// descriptors back to where they were, and the server still answers.
/// </summary>
[Collection(nameof(LeakTests))]
public class HostileFunctionsTests(LimitsFixture server) : IClassFixture<LimitsFixture>
{
    private HttpClient Client => server.Client;

    private Task<HttpResponseMessage> PostAsync(string function, byte[] body)
        => Client.PostAsync("/function/" + function, new ByteArrayContent(body));

    private readonly CleanCheck _clean = new(server.Client);

    private Task<int> BaselineAsync() => _clean.BaselineAsync();

    private Task AssertCleanAsync(int descriptorsBefore) => _clean.AssertCleanAsync(descriptorsBefore);

    [Fact]
    public async Task Writing_100_MiB_to_stderr_before_reading_stdin_still_answers()
    {
        int before = await BaselineAsync();

        using HttpResponseMessage response = await PostAsync("stderr-flood", "input"u8.ToArray());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("input", await response.Content.ReadAsStringAsync());
        await AssertCleanAsync(before);
    }

    [Fact]
    public async Task Never_reading_stdin_while_given_50_MiB_still_answers()
    {
        int before = await BaselineAsync();

        using HttpResponseMessage response = await PostAsync("deaf", new byte[50 << 20]);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ignored\n", await response.Content.ReadAsStringAsync());
        await AssertCleanAsync(before);
    }

    [Fact]
    public async Task Closing_stdout_early_and_running_on_ends_at_the_deadline()
    {
        int before = await BaselineAsync();

        using HttpResponseMessage response = await PostAsync("mute", "x"u8.ToArray());

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        await AssertCleanAsync(before);
    }

    [Fact]
    public async Task A_client_that_uploads_slowly_then_vanishes_frees_the_run_and_its_slot()
    {
        int before = await BaselineAsync();
        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(Client.BaseAddress!.Host, Client.BaseAddress.Port);
            await socket.SendAsync(Encoding.ASCII.GetBytes("POST /function/uploader HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n"));
            for (int i = 0; i < 5; i++)
            {
                await socket.SendAsync(new byte[10]);
                await Task.Delay(50);
            }

            // The run is in flight, holding the only slot.
            Assert.NotEmpty(ProcessTable.ChildrenOf(Environment.ProcessId));
        }

        await AssertCleanAsync(before);
        using HttpResponseMessage response = await PostAsync("uploader", "slot is free"u8.ToArray());
        Assert.Equal("slot is free", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Ten_thousand_mixed_runs_leave_nothing_behind()
    {
        int before = await BaselineAsync();
        string[] functions = ["cat", "fail", "killed", "head", "missing", "deaf", "orphans"];
        int[] statuses = new int[600];

        await Parallel.ForAsync(0, 10_000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            string function = functions[i % functions.Length];
            using HttpResponseMessage response = await PostAsync(function, Encoding.ASCII.GetBytes("run " + i));
            Interlocked.Increment(ref statuses[(int)response.StatusCode]);
            if (function == "cat")
            {
                string body = await response.Content.ReadAsStringAsync();
                Assert.True(body == "run " + i, $"run {i}: {(int)response.StatusCode} {response.Headers} {response.Content.Headers} [{body}]");
            }
        });

        Assert.Equal(10_000, statuses.Sum());
        Assert.True(statuses[429] + statuses[504] + statuses[502] == 0, $"429: {statuses[429]}, 502: {statuses[502]}, 504: {statuses[504]}");
        await AssertCleanAsync(before);
    }
}
