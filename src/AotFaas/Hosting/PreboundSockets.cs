using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace AotFaas.Hosting;

/// <summary>
/// The listening sockets of the addresses to listen on, bound as soon as the command line is read rather than when
/// Kestrel starts (issue 16): a client that connects while the server sets itself up waits in the listen backlog instead
/// of being refused, and its request is there when Kestrel's accept loop starts, with no retry of the client's between.
/// Kestrel's bind then takes the socket made for its endpoint (<see cref="CappedSocketTransport.BindAsync"/>). An
/// address that cannot be bound here (taken, not ours, no IPv6) is left to Kestrel's bind, which reports it as it
/// always did; Unix sockets are bound by Kestrel alone.
/// </summary>
public sealed class PreboundSockets : IDisposable
{
    private readonly List<(EndPoint Asked, Socket Socket)> _sockets = [];

    private PreboundSockets()
    {
    }

    /// <summary>Binds and listens on each IP endpoint Kestrel would bind for <paramref name="urls"/> (<see cref="ListenUrl.IPEndPoints"/>).</summary>
    public static PreboundSockets Bind(IEnumerable<ListenUrl> urls)
    {
        var bound = new PreboundSockets();
        foreach (ListenUrl url in urls)
        {
            foreach (IPEndPoint endpoint in url.IPEndPoints())
            {
                Socket socket;
                try
                {
                    socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
                }
                catch (SocketException)
                {
                    continue;
                }

                try
                {
                    socket.Listen(CappedSocketListener.Backlog);
                    bound._sockets.Add((endpoint, socket));
                }
                catch (SocketException)
                {
                    socket.Dispose();
                }
            }
        }

        return bound;
    }

    /// <summary>The addresses bound here and not taken yet (with the real port where 0 was asked for).</summary>
    public IReadOnlyList<EndPoint> Bound
    {
        get
        {
            lock (_sockets)
            {
                return [.. _sockets.Select(static bound => bound.Socket.LocalEndPoint!)];
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

            Socket socket = _sockets[index].Socket;
            _sockets.RemoveAt(index);
            return socket;
        }
    }

    /// <summary>Closes the sockets no listener took.</summary>
    public void Dispose()
    {
        lock (_sockets)
        {
            foreach ((_, Socket socket) in _sockets)
            {
                socket.Dispose();
            }

            _sockets.Clear();
        }
    }
}
