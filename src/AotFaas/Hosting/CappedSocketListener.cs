using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace AotFaas.Hosting;

/// <summary>
/// One bound endpoint of <see cref="CappedSocketTransport"/>: accepts while the cap allows, and when
/// <c>accept</c> fails with EMFILE, ENFILE or ENOBUFS waits a little (5 ms, doubling to 250 ms) before
/// trying again, instead of retrying at once; the connection waits in the backlog meanwhile.
/// </summary>
public sealed class CappedSocketListener : IConnectionListener
{
    // Kestrel's defaults (SocketTransportOptions).
    internal const int Backlog = 512;
    private const int FirstBackoffMilliseconds = 5;
    private const int MaxBackoffMilliseconds = 250;

    private readonly Socket _socket;
    private readonly CappedSocketTransport _transport;
    private readonly SocketConnectionContextFactory _connections;
    private readonly CancellationTokenSource _unbound = new();

    /// <summary>
    /// The socket is shared with another process (passed in, or handed to a new binary): it is never disposed here,
    /// only closed with the process. Disposing a socket whose accept was just cancelled may disconnect it (the
    /// runtime's way of unblocking a pending call), which would stop the listener for every process that holds it.
    /// </summary>
    private volatile bool _shared;

    private CappedSocketListener(Socket socket, bool shared, bool tls, CappedSocketTransport transport, ILoggerFactory loggerFactory)
    {
        _socket = socket;
        _shared = shared;
        Tls = tls;
        _transport = transport;
        _connections = new SocketConnectionContextFactory(new SocketConnectionFactoryOptions(), loggerFactory.CreateLogger("Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets"));
        EndPoint = socket.LocalEndPoint!;
    }

    /// <summary>The bound address, with the real port where 0 was asked for.</summary>
    public EndPoint EndPoint { get; }

    /// <summary>Whether Kestrel serves this socket with TLS (an https address, or a passed socket named https).</summary>
    public bool Tls { get; }

    /// <summary>
    /// Binds <paramref name="endpoint"/> as Kestrel's socket transport does (the IPv6 wildcard in dual
    /// mode, so it takes IPv4 too; Unix sockets; inherited descriptors) and listens.
    /// </summary>
    /// <param name="endpoint">What Kestrel binds.</param>
    /// <param name="tls">Whether Kestrel serves it with TLS.</param>
    /// <param name="transport">The transport, whose cap the listener shares.</param>
    /// <param name="loggerFactory">Where the transport's warnings go.</param>
    /// <param name="prebound">The socket already bound and listening for <paramref name="endpoint"/> (<see cref="PreboundSockets"/>), or null.</param>
    /// <exception cref="AddressInUseException">The address is taken; Kestrel reports it as such.</exception>
    /// <exception cref="ListenFailedException">It cannot be bound for another reason.</exception>
    public static CappedSocketListener Bind(EndPoint endpoint, bool tls, CappedSocketTransport transport, ILoggerFactory loggerFactory, Socket? prebound = null)
    {
        if (prebound is not null)
        {
            return new CappedSocketListener(prebound, shared: false, tls, transport, loggerFactory);
        }

        Socket socket;
        try
        {
            socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AddressInUseException(e.Message, e);
        }
        catch (SocketException e)
        {
            throw new ListenFailedException(endpoint, e);
        }

        try
        {
            socket.Listen(Backlog);
            return new CappedSocketListener(socket, endpoint is FileHandleEndPoint, tls, transport, loggerFactory);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The next connection; null once the listener is unbound, which ends Kestrel's accept loop.</summary>
    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        ConnectionCap cap = _transport.Cap;
        int backoff = 0;
        while (true)
        {
            try
            {
                if (!cap.TryTake())
                {
                    _transport.AtCap.Log($"{cap.Max} connections are open (--max-connections): new connections wait in the listen backlog until one closes");
                    await cap.TakeAsync(_unbound.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                return null;
            }

            SocketError error;
            try
            {
                Socket accepted = await _socket.AcceptAsync(_unbound.Token).ConfigureAwait(false);
                if (accepted.LocalEndPoint is IPEndPoint)
                {
                    accepted.NoDelay = true;
                }

                ConnectionContext connection = _connections.Create(accepted);
                connection.ConnectionClosed.UnsafeRegister(static state => ((ConnectionCap)state!).Release(), cap);
                return connection;
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException || e is SocketException { SocketErrorCode: SocketError.OperationAborted })
            {
                cap.Release();
                return null;
            }
            catch (SocketException e)
            {
                cap.Release();
                error = e.SocketErrorCode;
                if (error is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
                {
                    _transport.OutOfDescriptors.Log(
                        $"Cannot accept connections: {(error == SocketError.NoBufferSpaceAvailable ? "no socket buffers left" : "no descriptor left (the process's limit, or the system's)")} (open descriptors limit {DescriptorLimit.Current}, --max-connections {cap.Max}); retrying every {MaxBackoffMilliseconds} ms at most while connections wait in the listen backlog");
                }
            }

            if (error is not (SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable))
            {
                // Reset while it waited in the backlog: the next one.
                continue;
            }

            backoff = Math.Clamp(backoff * 2, FirstBackoffMilliseconds, MaxBackoffMilliseconds);
            try
            {
                await Task.Delay(backoff, _unbound.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }
    }

    /// <summary>The listening socket's descriptor, to pass to a new binary.</summary>
    public int Descriptor => (int)_socket.Handle;

    /// <summary>
    /// Stops accepting and leaves the socket to the process it was passed to: a pending <see cref="AcceptAsync"/>
    /// returns null, which ends Kestrel's accept loop for it; connections already accepted go on.
    /// </summary>
    public void Release()
    {
        _shared = true;
        _unbound.Cancel();
    }

    /// <summary>Stops accepting: a pending <see cref="AcceptAsync"/> returns null.</summary>
    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        _unbound.Cancel();
        CloseUnlessShared();
        return default;
    }

    public ValueTask DisposeAsync()
    {
        _unbound.Cancel();
        CloseUnlessShared();
        _connections.Dispose();
        _unbound.Dispose();
        return default;
    }

    private void CloseUnlessShared()
    {
        if (!_shared)
        {
            _socket.Dispose();
        }
    }
}
