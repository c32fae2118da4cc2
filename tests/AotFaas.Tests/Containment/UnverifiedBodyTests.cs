using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using AotFaas.Tests.Http;

namespace AotFaas.Tests.Containment;

/// <summary>
/// What unauthenticated callers can make the server hold while it checks their signatures is bounded
/// server-wide (bodies at once, bytes in memory and on disk), a signature that could never match is refused
/// before the body is read, and a refusal in the middle of a body leaves Kestrel nothing to log.
/// </summary>
[Collection(nameof(LeakTests))]
public class UnverifiedBodyTests(ContainmentFixture server) : IClassFixture<ContainmentFixture>
{
    private const string WrongSignature = "X-Hub-Signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000";

    private static string Sign(byte[] body)
        => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(ContainmentFixture.HookSecret), body));

    [Theory]
    [InlineData("")]
    [InlineData("X-Hub-Signature-256: sha256=not-hex\r\n")]
    [InlineData("X-Hub-Signature-256: sha256=00\r\n")]
    public async Task A_signature_that_could_never_match_is_401_before_the_body_is_read(string signature)
    {
        // A million bytes announced, none sent: the answer must not wait for them.
        RawHttp.Response response = await RawHttp.ExchangeAsync(server.Address, "POST", [Encoding.ASCII.GetBytes($"POST /function/hook-long HTTP/1.1\r\nHost: t\r\n{signature}Content-Length: 1000000\r\n\r\n")]);

        Assert.Equal(401, response.Status);
        Assert.Equal(0, server.Unverified.Receiving);
    }

    [Fact]
    public async Task Bodies_past_the_number_the_server_receives_at_once_are_429_and_signed_ones_pass_again_after()
    {
        var holders = new List<Socket>();
        try
        {
            for (int i = 0; i < server.Unverified.MaxReceiving; i++)
            {
                holders.Add(await HoldAsync(1000));
            }

            Assert.True(await WaitAsync(() => server.Unverified.Receiving == server.Unverified.MaxReceiving), $"{server.Unverified.Receiving} bodies being received");
            RawHttp.Response turnedAway = await RawHttp.SendAsync(server.Address, "POST", "/function/hook-long", [WrongSignature], new byte[10]);

            Assert.Equal(429, turnedAway.Status);
            Assert.Equal("1", turnedAway.Header("Retry-After"));
        }
        finally
        {
            holders.ForEach(h => h.Dispose());
        }

        Assert.True(await WaitAsync(() => server.Unverified.Receiving == 0), $"{server.Unverified.Receiving} bodies still being received");
        byte[] body = "signed"u8.ToArray();
        RawHttp.Response signed = await RawHttp.SendAsync(server.Address, "POST", "/function/hook-long", ["X-Hub-Signature-256: " + Sign(body)], body);
        Assert.Equal(200, signed.Status);
    }

    [Fact]
    public async Task A_body_longer_than_what_the_budget_has_left_is_429()
    {
        long budget = server.Unverified.ByteBudget;
        using (Socket holder = await HoldAsync((budget / 2) + 1))
        {
            Assert.True(await WaitAsync(() => server.Unverified.Receiving == 1));
            RawHttp.Response turnedAway = await RawHttp.ExchangeAsync(server.Address, "POST", [Encoding.ASCII.GetBytes($"POST /function/hook-long HTTP/1.1\r\nHost: t\r\n{WrongSignature}\r\nContent-Length: {(budget / 2) + 1}\r\n\r\n")]);

            Assert.Equal(429, turnedAway.Status);
        }

        Assert.True(await WaitAsync(() => server.Unverified.ReservedBytes == 0), $"{server.Unverified.ReservedBytes} bytes still reserved");
    }

    [Fact]
    public async Task Refusals_in_the_middle_of_a_body_leave_Kestrel_nothing_to_log()
    {
        // A signed body over its function's limit, sent chunked: 413 from the middle of the body.
        var chunked = new StringBuilder();
        for (int i = 0; i < 40; i++)
        {
            chunked.Append("10000\r\n").Append('x', 0x10000).Append("\r\n");
        }

        RawHttp.Response tooLarge = await RawHttp.SendAsync(server.Address, "POST", "/function/hook-small", [WrongSignature, "Transfer-Encoding: chunked"], chunkedBody: chunked.Append("0\r\n\r\n").ToString());
        Assert.Equal(413, tooLarge.Status);

        // Two deadlines while the client is still sending: a signed body, and a run's input.
        foreach (string target in (string[])["/function/hook", "/function/slow-upload"])
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(server.Address.Host, server.Address.Port);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"POST {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{WrongSignature}\r\nContent-Length: 100\r\n\r\nabc"));
            string answer = await ReadToCloseAsync(socket);
            Assert.StartsWith("HTTP/1.1 504", answer, StringComparison.Ordinal);
        }

        string[] errors = server.KestrelErrors();
        Assert.True(errors.Length == 0, string.Join("\n", errors));
    }

    /// <summary>A request with a well-formed wrong signature announcing <paramref name="length"/> bytes, one of them sent.</summary>
    private async Task<Socket> HoldAsync(long length)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Address.Host, server.Address.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /function/hook-long HTTP/1.1\r\nHost: t\r\n{WrongSignature}\r\nContent-Length: {length}\r\n\r\nx"));
        return socket;
    }

    private static async Task<bool> WaitAsync(Func<bool> condition)
    {
        for (int i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        return condition();
    }

    /// <summary>Everything the server sends until it closes or resets the connection (bounded by ten seconds).</summary>
    private static async Task<string> ReadToCloseAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var received = new StringBuilder();
        byte[] buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, timeout.Token)) > 0)
            {
                received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Kestrel gives up on the rest of a body that never comes, after answering.
        }

        return received.ToString();
    }
}
