using System.Net;
using System.Net.Sockets;
using System.Text;
using AotFaas.Functions;
using AotFaas.Hosting;
using AotFaas.Tests.Http;

namespace AotFaas.Tests.Hosting;

/// <summary>
/// The addresses are bound before the server is made (issue 16): a client that connects while the server starts waits
/// in the backlog, and Kestrel serves its request from the socket bound first rather than binding again.
/// </summary>
public sealed class PreboundSocketsTests
{
    [Fact]
    public async Task A_request_sent_before_the_server_started_is_answered_on_the_socket_bound_first()
    {
        using PreboundSockets prebound = PreboundSockets.Bind([ListenUrl.Parse("http://127.0.0.1:0")]);
        var port = ((IPEndPoint)Assert.Single(prebound.Bound)).Port;

        // Connected and sent while nothing serves yet: the kernel holds both.
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, port);
        await client.SendAsync(Encoding.ASCII.GetBytes($"POST /function/echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly"));

        await using TestServer server = await TestServer.StartAsync([new Proc("echo", "cat", [])], options: new ServerOptions("http://127.0.0.1:0") { Prebound = prebound });
        Assert.Equal($"http://127.0.0.1:{port}", server.Server.Urls.Single());
        Assert.Empty(prebound.Bound);

        var answer = new MemoryStream();
        byte[] buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (int read; (read = await client.ReceiveAsync(buffer, timeout.Token)) > 0;)
        {
            answer.Write(buffer, 0, read);
        }

        string text = Encoding.ASCII.GetString(answer.ToArray());
        Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\nearly", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Localhost_is_both_loopbacks_and_a_taken_address_is_left_to_Kestrel()
    {
        using var taken = new Socket(SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        int busy = ((IPEndPoint)taken.LocalEndPoint!).Port;

        using PreboundSockets none = PreboundSockets.Bind([ListenUrl.Parse($"http://127.0.0.1:{busy}")]);
        Assert.Empty(none.Bound);

        using PreboundSockets both = PreboundSockets.Bind([ListenUrl.Parse($"http://localhost:{FreePort()}")]);
        Assert.Contains(both.Bound, endpoint => ((IPEndPoint)endpoint).Address.Equals(IPAddress.Loopback));
        Assert.Null(both.Take(new IPEndPoint(IPAddress.Loopback, 1)));
    }

    [Fact]
    public async Task Every_interface_is_the_IPv6_wildcard_in_dual_mode_and_takes_IPv4_too()
    {
        int port = FreePort();
        using PreboundSockets prebound = PreboundSockets.Bind([ListenUrl.Parse($"http://*:{port}")]);
        using Socket? socket = prebound.Take(new IPEndPoint(IPAddress.IPv6Any, port));
        Assert.NotNull(socket);
        Assert.Equal(AddressFamily.InterNetworkV6, socket.AddressFamily);
        Assert.True(socket.DualMode);

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, port);
        using Socket accepted = await socket.AcceptAsync();
        Assert.True(accepted.Connected);
    }

    private static int FreePort()
    {
        using var probe = new Socket(SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
