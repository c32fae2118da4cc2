using System.Globalization;
using System.Net;
using System.Net.Sockets;
using AotFaas.Functions;
using AotFaas.Hosting;
using AotFaas.Tests.Http;
using AotFaas.Tests.Operations;
using Microsoft.Extensions.Logging;

namespace AotFaas.Tests.Hosting;

/// <summary>--max-connections: its default from the descriptor limit, and the listener waiting at the cap.</summary>
public class ConnectionCapTests
{
    [Theory]
    [InlineData(65536L, 128, 65536 - 64 - (6 * 128))]
    [InlineData(1024L, 128, 256)]
    [InlineData(64L, 128, 16)]
    [InlineData(2L, 1, 1)]
    [InlineData(long.MaxValue, 128, 1_000_000)]
    public void The_default_leaves_six_descriptors_per_run_and_64_for_the_server_and_at_least_a_quarter_of_the_limit(long limit, int maxTotalInflight, int expected)
        => Assert.Equal(expected, ConnectionCap.DefaultFor(limit, maxTotalInflight));

    [Fact]
    public void The_flag_sets_the_cap_and_the_default_is_derived()
    {
        Assert.Equal(100, ServerOptions.Parse(["--max-connections", "100"], _ => null).MaxConnections);
        Assert.Equal(7, ServerOptions.Parse(["--max-connections=7"], _ => null).MaxConnections);
        Assert.Null(ServerOptions.Parse([], _ => null).MaxConnections);
        Assert.Contains("--max-connections", Assert.Throws<UsageException>(() => ServerOptions.Parse(["--max-connections", "0"], _ => null)).Message, StringComparison.Ordinal);
        Assert.Contains("--max-connections N", ServerOptions.Usage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task At_the_cap_a_new_connection_waits_in_the_backlog_one_warning_is_logged_and_it_is_served_once_one_closes()
    {
        var log = new CapturingLogger();
        await using TestServer server = await TestServer.StartAsync(
            [new Proc("cat", "cat", [])],
            options: new ServerOptions("http://127.0.0.1:0") { MaxConnections = 2 },
            loggerFactory: log);
        var address = new Uri(server.Server.Urls.Single());
        using var first = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var second = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await first.ConnectAsync(IPAddress.Loopback, address.Port);
        await second.ConnectAsync(IPAddress.Loopback, address.Port);
        Assert.True(await EventuallyAsync(() => Warnings(log).Length == 1), "no warning at the cap");

        using var third = new HttpClient { BaseAddress = address };
        Task<HttpResponseMessage> waiting = third.PostAsync("/function/cat", new StringContent("third"));
        Assert.True(await EventuallyAsync(() => AcceptQueue(address.Port) == 1), "the third connection is not in the listen backlog");
        Assert.False(waiting.IsCompleted);

        first.Close();

        using HttpResponseMessage response = await waiting;
        Assert.Equal("third", await response.Content.ReadAsStringAsync());
        Assert.Single(Warnings(log));
        Assert.Contains("2 connections are open (--max-connections)", Warnings(log)[0].Message, StringComparison.Ordinal);
    }

    private static CapturingLogger.Entry[] Warnings(CapturingLogger log)
        => [.. log.Entries.Where(e => e.Level == LogLevel.Warning && e.Category == typeof(CappedSocketTransport).FullName)];

    /// <summary>Connections waiting to be accepted on 127.0.0.1:<paramref name="port"/>: a listening socket's rx_queue in /proc/net/tcp.</summary>
    private static int AcceptQueue(int port)
    {
        string local = "0100007F:" + port.ToString("X4", CultureInfo.InvariantCulture);
        foreach (string line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f[1] == local && f[3] == "0A")
            {
                return int.Parse(f[4].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }

    private static async Task<bool> EventuallyAsync(Func<bool> condition)
    {
        for (int i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(20);
        }

        return condition();
    }
}
