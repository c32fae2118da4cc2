using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using AotFaas.Tests.Http;

namespace AotFaas.Tests;

/// <summary>The request features' failure paths leave nothing behind either: no child, no pipe, no pidfd.</summary>
[Collection(nameof(LeakTests))]
public class RequestFeatureLeakTests(RequestFixture server) : IClassFixture<RequestFixture>
{
    private static string Sign(byte[] body)
        => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(RequestFixture.HookSecret), body));

    /// <summary>Sends the head and part of a signed body, then closes the connection mid-body.</summary>
    private async Task AbandonSignedBodyAsync()
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Address.Host, server.Address.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /function/hook-custom HTTP/1.1\r\nHost: x\r\nX-Signature: {Sign([1])}\r\nContent-Length: 100000\r\n\r\n"));
        await socket.SendAsync(new byte[30_000]);
        await Task.Delay(5);
    }

    [Fact]
    public async Task Auth_failures_abandoned_signed_bodies_and_malformed_CGI_leave_nothing_behind()
    {
        var check = new CleanCheck(server.Client);
        int before = await check.BaselineAsync();
        byte[] big = new byte[400 * 1024];

        for (int i = 0; i < 40; i++)
        {
            byte[] body = Encoding.ASCII.GetBytes("payload " + i);
            Task[] round =
            [
                RawHttp.SendAsync(server.Address, "POST", "/function/hook-custom", ["X-Signature: " + Sign(body)], body),
                RawHttp.SendAsync(server.Address, "POST", "/function/hook-custom", ["X-Signature: sha256=00"], body),
                RawHttp.SendAsync(server.Address, "POST", "/function/bearer", ["Authorization: Bearer nope"], body),
                RawHttp.SendAsync(server.Address, "POST", "/function/cgi", null, Encoding.ASCII.GetBytes("no blank line")),
                RawHttp.SendAsync(server.Address, "POST", "/function/cgi", null, [.. "Content-Type: a/b\n\n"u8, .. big]),
                RawHttp.SendAsync(server.Address, "POST", "/function/cgi-fail", null, []),
                AbandonSignedBodyAsync(),
            ];
            await Task.WhenAll(round);
        }

        await check.AssertCleanAsync(before);
    }
}
