using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using AotFaas.Security;
using AotFaas.Tests.Http;

namespace AotFaas.Tests.Containment;

/// <summary>
/// A slot is for running a program: neither a client that reads its response slowly nor one that trickles an
/// unsigned body to a signed function may hold one, and receiving or sending is bounded by the deadline.
/// </summary>
[Collection(nameof(LeakTests))]
public class SlowPeerTests(ContainmentFixture server) : IClassFixture<ContainmentFixture>
{
    private static string Sign(byte[] body)
        => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(ContainmentFixture.HookSecret), body));

    [Fact]
    public async Task Clients_that_read_a_large_response_slowly_do_not_hold_the_slots()
    {
        File.Delete(Path.Combine(server.Scratch, "big.pids"));
        var readers = new List<Socket>();
        try
        {
            // Two clients take both slots and read nothing: 10 MiB each cannot all fit in the socket buffers.
            for (int i = 0; i < 2; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
                readers.Add(socket);
                await socket.ConnectAsync(server.Address.Host, server.Address.Port);
                await socket.SendAsync(Encoding.ASCII.GetBytes("POST /function/big HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
            }

            int[] pids = await PidsAsync("big.pids", 2);
            foreach (int pid in pids)
            {
                Assert.True(await ProcessTable.IsGoneAsync(pid), "the program did not end");
            }

            // Both programs have ended while their responses wait on the slow clients: a third request runs.
            Assert.True(await server.IdleAsync("big"), "slots are still held by responses being written");
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            using HttpResponseMessage third = await server.Client.PostAsync("/function/big", new ByteArrayContent([]), bound.Token);
            Assert.Equal(HttpStatusCode.OK, third.StatusCode);
            Assert.Equal(10L << 20, (await third.Content.ReadAsByteArrayAsync(bound.Token)).Length);
        }
        finally
        {
            foreach (Socket socket in readers)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task An_unsigned_body_trickled_to_a_signed_function_gets_504_at_the_deadline_and_holds_no_slot()
    {
        var clock = Stopwatch.StartNew();
        Task<string> answer = TrickleAsync("POST /function/hook HTTP/1.1\r\nHost: t\r\nX-Hub-Signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000\r\nContent-Length: 1000000\r\n\r\n", 10);

        // Meanwhile a correctly signed request is served: the trickling one holds no slot.
        byte[] body = "{\"zen\":\"Keep it logically awesome.\"}"u8.ToArray();
        RawHttp.Response signed = await RawHttp.SendAsync(server.Address, "POST", "/function/hook", ["X-Hub-Signature-256: " + Sign(body)], body);
        Assert.Equal(200, signed.Status);
        Assert.Equal(body, signed.Body);

        // The server must answer the trickling client at the 1.5 s deadline, with 504.
        string head = await answer.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 504", head, StringComparison.Ordinal);
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.0, 9.0);
    }

    [Fact]
    public async Task Unsigned_bodies_to_a_signed_function_are_kept_out_of_memory_past_a_small_part()
    {
        // Four 16 MB unsigned bodies at once; while they are received, what they hold in memory stays within the budget.
        byte[] body = new byte[16 << 20];
        long peak = 0;
        using var stop = new CancellationTokenSource();
        Task watch = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peak = Math.Max(peak, server.Unverified.ReservedMemory);
                await Task.Delay(1);
            }
        });

        RawHttp.Response[] responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ =>
            RawHttp.SendAsync(server.Address, "POST", "/function/hook", ["X-Hub-Signature-256: sha256=" + new string('0', 64)], body)));
        await stop.CancelAsync();
        await watch;

        Assert.All(responses, r => Assert.Equal(401, r.Status));
        Assert.InRange(peak, 1, 4 * UnverifiedBodies.InMemory);
        Assert.Equal(0, server.Unverified.ReservedMemory);
        Assert.Equal(0, server.Unverified.ReservedBytes);
    }

    [Fact]
    public async Task A_timed_out_run_whose_client_is_still_uploading_is_answered_504_at_the_deadline()
    {
        var clock = Stopwatch.StartNew();
        Task<string> answer = TrickleAsync("POST /function/slow-upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n", 100);
        string head = await answer.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 504", head, StringComparison.Ordinal);

        // The 500 ms deadline, not the 5 s that a finished program's unread input is given.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"answered after {clock.Elapsed}");
        Assert.True(await ProcessTable.IsGoneAsync(await server.PidAsync("slow-upload.pid")));
    }

    private async Task<int[]> PidsAsync(string file, int count)
    {
        string path = Path.Combine(server.Scratch, file);
        for (int i = 0; i < 250; i++)
        {
            if (File.Exists(path))
            {
                int[] pids = File.ReadAllLines(path).Where(l => l.Length > 0).Select(int.Parse).ToArray();
                if (pids.Length >= count)
                {
                    return pids;
                }
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"fewer than {count} pids in {path}");
    }

    /// <summary>
    /// Sends <paramref name="head"/>, then <paramref name="bytes"/> bytes of body every 50 ms, for ten seconds at most,
    /// until the server answers; the response head, or what came before the connection closed.
    /// </summary>
    private async Task<string> TrickleAsync(string head, int bytes)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Address.Host, server.Address.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes(head));
        Task<string> answer = ReadHeadAsync(socket);
        var clock = Stopwatch.StartNew();
        while (!answer.IsCompleted && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            try
            {
                await socket.SendAsync(new byte[bytes]);
            }
            catch (SocketException)
            {
                break;
            }

            await Task.WhenAny(answer, Task.Delay(50));
        }

        return await answer.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Reads until the end of a response head.</summary>
    private static async Task<string> ReadHeadAsync(Socket socket)
    {
        var received = new StringBuilder();
        byte[] buffer = new byte[4096];
        while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            int read = await socket.ReceiveAsync(buffer);
            if (read == 0)
            {
                break;
            }

            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return received.ToString();
    }
}
