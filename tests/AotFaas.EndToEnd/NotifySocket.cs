using System.Net.Sockets;
using System.Text;

namespace AotFaas.EndToEnd;

/// <summary>A stand-in for systemd's notification socket: a datagram socket at a path of its own, for <c>NOTIFY_SOCKET</c>.</summary>
public sealed class NotifySocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public NotifySocket()
    {
        _socket.Bind(new UnixDomainSocketEndPoint(Path));
    }

    /// <summary>The value for <c>NOTIFY_SOCKET</c>.</summary>
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"aotfaas-notify-{Guid.NewGuid():N}");

    /// <summary>The next message; fails after ten seconds without one.</summary>
    public async Task<string> ReceiveAsync()
    {
        byte[] buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int length = await _socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, length);
    }

    public void Dispose()
    {
        _socket.Dispose();
        File.Delete(Path);
    }
}
