using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace AotFaas.Hosting;

/// <summary>
/// Kestrel's socket transport with a server-wide cap on open connections and an accept loop that
/// backs off when the process is out of descriptors. Kestrel's own listener retries a failed
/// <c>accept</c> at once, so at the descriptor limit it spins a core, logs nothing and serves no one.
/// </summary>
public sealed class CappedSocketTransport : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly List<CappedSocketListener> _listeners = [];
    private readonly PreboundSockets? _prebound;
    private bool _nextBindIsTls;

    /// <param name="cap">Open connections across every listener this transport binds.</param>
    /// <param name="loggerFactory">Where the warnings go.</param>
    /// <param name="prebound">Sockets bound before Kestrel started, which its binds take instead of binding again.</param>
    public CappedSocketTransport(ConnectionCap cap, ILoggerFactory loggerFactory, PreboundSockets? prebound = null)
    {
        Cap = cap;
        _prebound = prebound;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger(LogCategory);
        AtCap = new RateLimitedWarning(_logger);
        OutOfDescriptors = new RateLimitedWarning(_logger);
    }

    /// <summary>
    /// The transport's log category, this class's full name, written out: <c>CreateLogger&lt;T&gt;</c> reads the name by
    /// reflection, which started the runtime's reflection on the main thread before the server listened (issue 16).
    /// </summary>
    public const string LogCategory = "AotFaas.Hosting.CappedSocketTransport";

    /// <summary>The cap every listener shares.</summary>
    public ConnectionCap Cap { get; }

    /// <summary>Logged when the listeners stop accepting because <see cref="Cap"/> connections are open.</summary>
    internal RateLimitedWarning AtCap { get; }

    /// <summary>Logged when <c>accept</c> fails for want of descriptors or buffers.</summary>
    internal RateLimitedWarning OutOfDescriptors { get; }

    /// <summary>The listeners bound so far, in the order they were bound.</summary>
    public IReadOnlyList<CappedSocketListener> Listeners
    {
        get
        {
            lock (_listeners)
            {
                return [.. _listeners];
            }
        }
    }

    /// <summary>
    /// A connection middleware for the listen options of an https address: it adds nothing to a connection, but it is
    /// built right before Kestrel binds that address's socket (for <c>localhost</c>, before each of its two), so the
    /// next <see cref="BindAsync"/> knows that its socket serves TLS (<see cref="CappedSocketListener.Tls"/>), which the
    /// swap on SIGHUP passes on to the next binary as the socket's name.
    /// </summary>
    public ConnectionDelegate MarkNextBindAsTls(ConnectionDelegate next)
    {
        _nextBindIsTls = true;
        return next;
    }

    /// <inheritdoc/>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        // Kestrel binds one address at a time: the mark is this bind's, whether or not it succeeds.
        bool tls = _nextBindIsTls;
        _nextBindIsTls = false;
        CappedSocketListener listener = CappedSocketListener.Bind(endpoint, tls, this, _loggerFactory, _prebound?.Take(endpoint));
        lock (_listeners)
        {
            _listeners.Add(listener);
        }

        return new(listener);
    }

    /// <summary>Stops every listener accepting and leaves the sockets to the new binary they were passed to.</summary>
    public void Release()
    {
        foreach (CappedSocketListener listener in Listeners)
        {
            listener.Release();
        }
    }

    /// <inheritdoc/>
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint or UnixDomainSocketEndPoint or FileHandleEndPoint;
}
