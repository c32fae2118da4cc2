using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace AotFaas.EndToEnd;

/// <summary>
/// At the open-files limit the server waits instead of spinning: started under a low RLIMIT_NOFILE whose
/// hard limit is as low (so raising cannot help), with more idle connections than the limit allows.
/// </summary>
[Collection(nameof(PublishedBinary))]
public sealed class DescriptorLimitTests(PublishedBinary binary)
{
    private const int IdleConnections = 100;

    // 2 s at 100 ticks a second: a spinning accept loop burns ~200; a waiting one next to nothing.
    private const long MaxTicksIn2Seconds = 30;

    private async Task<(RunningServer Server, int Port)> StartLimitedAsync(string nofile, params string[] extra)
    {
        int port = RunningServer.FreePort();
        RunningServer server = await RunningServer.StartAsync("prlimit", port, [$"--nofile={nofile}", binary.Path, "--urls", $"http://127.0.0.1:{port}", .. extra]);
        return (server, port);
    }

    [Fact]
    public async Task The_soft_open_files_limit_is_raised_to_the_hard_one_at_start()
    {
        (RunningServer started, _) = await StartLimitedAsync("64:4096");
        await using RunningServer server = started;

        Assert.Equal(("4096", "4096"), ProcessInfo.OpenFilesLimit(server.ProcessId));
    }

    [Theory]
    [InlineData(new string[0], "connections are open (--max-connections)")]
    [InlineData(new[] { "--max-connections", "1000" }, "Cannot accept connections: no descriptor left")]
    public async Task Past_the_limit_idle_connections_wait_without_CPU_one_warning_is_logged_and_service_resumes(string[] extra, string warning)
    {
        (RunningServer started, int port) = await StartLimitedAsync("64:64", extra);
        await using RunningServer server = started;
        var idle = new List<Socket>();
        try
        {
            for (int i = 0; i < IdleConnections; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                idle.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, port);
            }

            Assert.True(await ProcessInfo.EventuallyAsync(() => server.Output.Contains(warning, StringComparison.Ordinal)), "no warning:\n" + server.Output);
            long before = ProcessInfo.CpuTicks(server.ProcessId);
            await Task.Delay(2000);
            long used = ProcessInfo.CpuTicks(server.ProcessId) - before;

            Assert.InRange(used, 0, MaxTicksIn2Seconds);
            Assert.Single(Regex.Matches(server.Output, "^warn: .*" + Regex.Escape(warning), RegexOptions.Multiline));
        }
        finally
        {
            foreach (Socket socket in idle)
            {
                socket.Dispose();
            }
        }

        using var fresh = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(20) };
        using HttpResponseMessage response = await fresh.PostAsync("/function/cat", new StringContent("served again"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("served again", await response.Content.ReadAsStringAsync());
    }
}
