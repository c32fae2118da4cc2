using System.Net;
using System.Net.Sockets;
using AotFaas.Execution.Native;

namespace AotFaas.Hosting;

/// <summary>
/// The listening sockets of the addresses to listen on, bound as soon as the command line is read rather than when
/// Kestrel starts (issue 16): a client that connects while the server sets itself up waits in the listen backlog instead
/// of being refused, and its request is there when Kestrel's accept loop starts, with no retry of the client's between.
/// Kestrel's bind then takes the socket made for its endpoint (<see cref="CappedSocketTransport.BindAsync"/>). An
/// address that cannot be bound here (taken, not ours, no IPv6) is left to Kestrel's bind, which reports it as it
/// always did; Unix sockets are bound by Kestrel alone.
/// </summary>
public sealed unsafe class PreboundSockets : IDisposable
{
    private readonly List<(EndPoint Asked, int Descriptor)> _sockets = [];

    private PreboundSockets()
    {
    }

    /// <summary>
    /// Binds and listens on each IP endpoint Kestrel would bind for <paramref name="urls"/> (<see cref="ListenUrl.IPEndPoints"/>)
    /// with the C library's calls, as .NET's sockets do on Linux (SO_REUSEADDR; the IPv6 wildcard in dual mode): the
    /// <see cref="Socket"/> class's own set-up (its class constructors, ~0.1 ms) waits until Kestrel takes the socket.
    /// </summary>
    public static PreboundSockets Bind(IReadOnlyList<ListenUrl> urls)
    {
        var prebound = new PreboundSockets();
        foreach (ListenUrl url in urls)
        {
            foreach (IPEndPoint endpoint in url.IPEndPoints())
            {
                if (Listen(endpoint) is int descriptor)
                {
                    prebound._sockets.Add((endpoint, descriptor));
                }
            }
        }

        return prebound;
    }

    private static int? Listen(IPEndPoint endpoint)
    {
        bool v6 = endpoint.AddressFamily == AddressFamily.InterNetworkV6;
        int fd = LibC.socket(v6 ? LibC.AF_INET6 : LibC.AF_INET, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            return null;
        }

        // The same bytes .NET gives the kernel: SocketAddress's buffer is Linux's sockaddr_in or sockaddr_in6.
        SocketAddress address = endpoint.Serialize();
        int on = 1, off = 0;
        bool listening;
        fixed (byte* bytes = address.Buffer.Span)
        {
            listening = LibC.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_REUSEADDR, &on, sizeof(int)) == 0
                && (!endpoint.Address.Equals(IPAddress.IPv6Any) || LibC.setsockopt(fd, LibC.IPPROTO_IPV6, LibC.IPV6_V6ONLY, &off, sizeof(int)) == 0)
                && LibC.bind(fd, bytes, address.Size) == 0
                && LibC.listen(fd, CappedSocketListener.Backlog) == 0;
        }

        if (!listening)
        {
            LibC.close(fd);
            return null;
        }

        return fd;
    }

    /// <summary>The addresses bound here and not taken yet (with the real port where 0 was asked for).</summary>
    public IReadOnlyList<EndPoint> Bound
    {
        get
        {
            lock (_sockets)
            {
                return [.. _sockets.Select(static bound =>
                {
                    using var socket = new Socket(new SafeSocketHandle(bound.Descriptor, ownsHandle: false));
                    return socket.LocalEndPoint!;
                })];
            }
        }
    }

    /// <summary>The socket bound for <paramref name="endpoint"/> (as Kestrel asks for it: port 0 stays 0), now the caller's; null if none.</summary>
    public Socket? Take(EndPoint endpoint)
    {
        lock (_sockets)
        {
            int index = _sockets.FindIndex(bound => bound.Asked.Equals(endpoint));
            if (index < 0)
            {
                return null;
            }

            int descriptor = _sockets[index].Descriptor;
            _sockets.RemoveAt(index);
            return new Socket(new SafeSocketHandle(descriptor, ownsHandle: true));
        }
    }

    /// <summary>Closes the sockets no listener took.</summary>
    public void Dispose()
    {
        lock (_sockets)
        {
            foreach ((_, int descriptor) in _sockets)
            {
                LibC.close(descriptor);
            }

            _sockets.Clear();
        }
    }
}
