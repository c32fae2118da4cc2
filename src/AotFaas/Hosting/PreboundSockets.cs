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
    private readonly IReadOnlyList<ListenUrl> _urls;
    private readonly ManualResetEventSlim _bound = new();
    private bool _disposed;

    private PreboundSockets(IReadOnlyList<ListenUrl> urls) => _urls = urls;

    /// <summary>Binds and listens now on each IP endpoint Kestrel would bind for <paramref name="urls"/> (<see cref="ListenUrl.IPEndPoints"/>).</summary>
    public static PreboundSockets Bind(IReadOnlyList<ListenUrl> urls)
    {
        var prebound = new PreboundSockets(urls);
        prebound.BindNow();
        return prebound;
    }

    /// <summary>
    /// The sockets for <paramref name="urls"/>, bound by whichever thread calls <see cref="BindNow"/> (the warm-up thread,
    /// <see cref="StartupWarmUp"/>); <see cref="Take"/> and <see cref="Bound"/> wait for it.
    /// </summary>
    public static PreboundSockets Later(IReadOnlyList<ListenUrl> urls) => new(urls);

    /// <summary>Binds and listens on each endpoint; one that cannot be bound is left to Kestrel. Once.</summary>
    public void BindNow()
    {
        try
        {
            foreach (ListenUrl url in _urls)
            {
                foreach (IPEndPoint endpoint in url.IPEndPoints())
                {
                    if (Listen(endpoint) is not Socket socket)
                    {
                        continue;
                    }

                    lock (_sockets)
                    {
                        if (_disposed)
                        {
                            socket.Dispose();
                            return;
                        }

                        _sockets.Add((endpoint, socket));
                    }
                }
            }
        }
        finally
        {
            _bound.Set();
        }
    }

    private static Socket? Listen(IPEndPoint endpoint)
    {
        Socket socket;
        try
        {
            socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        }
        catch (SocketException)
        {
            return null;
        }

        try
        {
            socket.Listen(CappedSocketListener.Backlog);
            return socket;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    /// <summary>The addresses bound here and not taken yet (with the real port where 0 was asked for).</summary>
    public IReadOnlyList<EndPoint> Bound
    {
        get
        {
            _bound.Wait();
            lock (_sockets)
            {
                return [.. _sockets.Select(static bound => bound.Socket.LocalEndPoint!)];
            }
        }
    }

    /// <summary>The socket bound for <paramref name="endpoint"/> (as Kestrel asks for it: port 0 stays 0), now the caller's; null if none.</summary>
    public Socket? Take(EndPoint endpoint)
    {
        _bound.Wait();
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
            _disposed = true;
            foreach ((_, Socket socket) in _sockets)
            {
                socket.Dispose();
            }

            _sockets.Clear();
        }
    }
}
