using System.Net;
using System.Net.Sockets;

namespace AotFaas.Workers;

/// <summary>
/// Whether a worker that was just started serves yet: a TCP connect to its port, or, with the function's
/// <c>ready</c> path, a GET of it answered with a 2xx. Tried every few milliseconds at first, then less often.
/// </summary>
internal static class ReadyProbe
{
    /// <summary>How long one GET of the ready path may take.</summary>
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(2);

    /// <summary>A free port on 127.0.0.1 for a worker to listen on (asked of the kernel, then let go).</summary>
    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>
    /// Probes until the worker on <paramref name="port"/> is ready (true), or <paramref name="exited"/> completes,
    /// <paramref name="within"/> passes or <paramref name="cancellationToken"/> fires (false).
    /// </summary>
    public static async Task<bool> WaitAsync(int port, string? readyPath, Task exited, TimeSpan within, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(within);
        int pause = 2;
        while (!deadline.IsCancellationRequested && !exited.IsCompleted)
        {
            try
            {
                if (await AttemptAsync(port, readyPath, deadline.Token).ConfigureAwait(false))
                {
                    return !exited.IsCompleted;
                }
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                return false;
            }

            try
            {
                await Task.WhenAny(Task.Delay(pause, deadline.Token), exited).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            pause = Math.Min(pause * 2, 100);
        }

        return false;
    }

    private static async Task<bool> AttemptAsync(int port, string? readyPath, CancellationToken cancellationToken)
    {
        if (readyPath is null)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }

        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(AttemptTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}{readyPath}") { Version = HttpVersion.Version11 };
        try
        {
            using HttpResponseMessage response = await UpstreamClient.Instance.SendAsync(request, attempt.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // This attempt took too long; the next may not.
            return false;
        }
    }
}
