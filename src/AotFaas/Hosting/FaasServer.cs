using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Http;
using AotFaas.Invokers;
using AotFaas.Operations;
using AotFaas.Security;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;

namespace AotFaas.Hosting;

/// <summary>
/// Kestrel serving the functions, built by hand rather than through the generic host: the host's
/// dependency injection, configuration and lifetime services cost about 10 ms of start-up on a
/// 2-core machine (measured: slim builder 31 ms, empty builder 16 ms, Kestrel alone 6 ms to the
/// first response), and this server needs none of them.
/// </summary>
public sealed class FaasServer : IAsyncDisposable
{
    private readonly KestrelServer _kestrel;
    private readonly FaasApplication _application;
    private readonly FaasMetrics? _metrics;
    private readonly PrometheusExporter? _exporter;
    private readonly ILogger _log;
    private readonly bool _passedSockets;
    private readonly ILogger _endpointLog;
    private readonly ILogger _stderrLog;
    private readonly ILogger _workerLog;
    private readonly ServerOptions _options;
    private readonly Func<string, string?> _serverEnvironment;
    private readonly Func<FunctionPolicy, IFunctionInvoker> _invokers;
    private readonly string? _systemApiToken;
    private readonly IAsyncCalls? _asyncCalls;
    private readonly TlsCertificate? _certificate;

    // Shared by every set of functions the server serves: a new set does not add to --max-total-inflight.
    private readonly SemaphoreSlim _totalSlots;
    private FunctionSet _functions;

    /// <param name="options">Where to listen, the run limits, the operations endpoints.</param>
    /// <param name="functions">Every function (the generated <c>FunctionTable.All</c>).</param>
    /// <param name="lookup">Finds a function by name (the generated <c>FunctionTable.GetProcByFuncName</c>).</param>
    /// <param name="invokers">Makes the invoker that runs a function (the generated <c>FunctionTable.CreateInvoker</c>).</param>
    /// <param name="loggerFactory">Where log lines go.</param>
    /// <param name="serverEnvironment">The server's environment variables, for PATH, HOME, LANG, TZ, pass-env and secrets; the process's when null.</param>
    /// <exception cref="TlsCertificateException">The TLS certificate or key cannot be used.</exception>
    /// <exception cref="InvalidOperationException">A secret the options name is missing, or an https listener has no certificate.</exception>
    /// <param name="asyncCalls">Where asynchronous calls are stored and run from, when a function takes them.</param>
    /// <param name="instruments">Adds the metrics of the ways of running the manifest uses (<see cref="InvokerFactory.Instruments"/>).</param>
    public FaasServer(ServerOptions options, IReadOnlyList<Proc> functions, Func<string, Proc?> lookup, Func<FunctionPolicy, IFunctionInvoker> invokers, ILoggerFactory loggerFactory, Func<string, string?>? serverEnvironment = null, IAsyncCalls? asyncCalls = null, Action<System.Diagnostics.Metrics.Meter, Func<IEnumerable<FunctionPolicy>>>? instruments = null)
    {
        _asyncCalls = asyncCalls;
        serverEnvironment ??= Environment.GetEnvironmentVariable;
        _log = loggerFactory.CreateLogger("AotFaas");
        if (options.TlsCertificatePath is string certificatePath)
        {
            _certificate = TlsCertificate.Load(certificatePath, options.TlsKeyPath ?? throw new InvalidOperationException("--tls-cert needs --tls-key"), _log);
        }

        var kestrelOptions = new KestrelServerOptions
        {
            AddServerHeader = false,
            ApplicationServices = new KestrelServices(loggerFactory),
        };
        kestrelOptions.Limits.MaxRequestHeaderCount = options.Limits.MaxHeaderCount;
        kestrelOptions.Limits.MaxRequestHeadersTotalSize = options.Limits.MaxHeadersSize;
        if (kestrelOptions.Limits.MaxRequestBufferSize < options.Limits.MaxHeadersSize + kestrelOptions.Limits.MaxRequestLineSize)
        {
            // Kestrel holds a whole request head in its buffer.
            kestrelOptions.Limits.MaxRequestBufferSize = options.Limits.MaxHeadersSize + kestrelOptions.Limits.MaxRequestLineSize;
        }
        Transport = new CappedSocketTransport(new ConnectionCap(options.MaxConnections ?? ConnectionCap.DefaultFor(DescriptorLimit.Current, options.Limits.MaxTotalInflight)), loggerFactory, options.Prebound);
        _kestrel = new KestrelServer(
            Options.Create(kestrelOptions),
            Transport,
            loggerFactory);

        // HTTP/1.1 and HTTP/2 by ALPN; the certificate is chosen per handshake, so a renewed one is served without a restart.
        TlsHandshakeCallbackOptions? tls = _certificate is null ? null : new() { OnConnection = _certificate.OnHandshakeAsync };
        void Configure(ListenOptions listen, bool https, string what)
        {
            if (https)
            {
                listen.UseHttps(tls ?? throw new InvalidOperationException($"{what} serves TLS, which needs --tls-cert and --tls-key"));
                listen.Use(Transport.MarkNextBindAsTls);
            }
        }

        _passedSockets = options.ListenDescriptors.Count > 0;
        if (_passedSockets)
        {
            // Sockets passed in (systemd, or the server this one replaces): served instead of binding the URLs.
            foreach (ListenSocket socket in options.ListenDescriptors)
            {
                kestrelOptions.ListenHandle((ulong)socket.Descriptor, listen => Configure(listen, socket.Tls, $"descriptor {socket.Descriptor}"));
            }
        }
        else
        {
            foreach (ListenUrl url in options.ListenUrls)
            {
                url.AddTo(kestrelOptions, listen => Configure(listen, url.Https, url.Text));
            }
        }

        _options = options;
        _serverEnvironment = serverEnvironment;
        _invokers = invokers;
        _endpointLog = loggerFactory.CreateLogger(FunctionEndpoint.LogCategory);
        _stderrLog = loggerFactory.CreateLogger(StderrLog.Category);
        _workerLog = loggerFactory.CreateLogger(WorkerLogCategory);
        _totalSlots = new SemaphoreSlim(options.Limits.MaxTotalInflight, options.Limits.MaxTotalInflight);
        if (options.Metrics)
        {
            // The policies of the functions served now: the instruments outlive a set of functions.
            _metrics = new FaasMetrics(ServedPolicies, instruments);
            _exporter = new PrometheusExporter(_metrics.Meter);
        }

        _systemApiToken = options.SystemApiTokenVariable is string variable
            ? serverEnvironment(variable) is { Length: > 0 } token ? token : throw new InvalidOperationException($"--system-api-token-env names {variable}, which is not set (or empty)")
            : null;
        _functions = Build(functions, lookup);
        _application = new FaasApplication(_functions.Endpoint, _functions.Operations);
    }

    /// <summary>What signed bodies being received and checked may hold, server-wide.</summary>
    public UnverifiedBodies UnverifiedBodies => _functions.Unverified;

    /// <summary>
    /// Serves <paramref name="functions"/> from the next request on, in place of those served so far (the
    /// development server's reload; the production binary's functions never change). A request keeps the
    /// functions it started with, so a run in flight finishes under its old definition. The metrics, the
    /// server-wide slots, the lifecycle and the listeners carry on.
    /// </summary>
    /// <param name="functions">Every function.</param>
    /// <param name="lookup">Finds a function by name.</param>
    public void ServeFunctions(IReadOnlyList<Proc> functions, Func<string, Proc?> lookup)
    {
        FunctionSet next = Build(functions, lookup);
        FunctionSet previous = Interlocked.Exchange(ref _functions, next);
        _application.Serve(next.Endpoint, next.Operations);
        _ = RetireAsync(previous);

        // The new set's workers start now, not with the first call after the save.
        StartWorkers(next);
    }

    /// <summary>The log category of the workers of <c>mode: http</c> functions.</summary>
    public const string WorkerLogCategory = "AotFaas.Worker";

    /// <summary>Stops what a replaced set of functions keeps running (workers) once its requests in flight are over.</summary>
    private async Task RetireAsync(FunctionSet previous)
    {
        for (long deadline = Environment.TickCount64 + (long)_options.Limits.DrainTimeout.TotalMilliseconds;
             previous.Catalog.Policies.Any(static policy => policy.Gate.Running > 0) && Environment.TickCount64 < deadline;)
        {
            await Task.Delay(50).ConfigureAwait(false);
        }

        await StopInvokersAsync(previous, _options.Limits.KillGrace).ConfigureAwait(false);
    }

    private static Task StopInvokersAsync(FunctionSet set, TimeSpan killGrace)
    {
        var stopping = new List<Task>();
        foreach (FunctionPolicy policy in set.Catalog.Policies)
        {
            stopping.Add(policy.Invoker.StopAsync(killGrace));
        }

        return Task.WhenAll(stopping);
    }

    private ICollection<FunctionPolicy> ServedPolicies() => _functions.Catalog.Policies;

    private FunctionSet Build(IReadOnlyList<Proc> functions, Func<string, Proc?> lookup)
    {
        var catalog = new FunctionCatalog(lookup, _options.Limits, _serverEnvironment, _invokers, _totalSlots, _stderrLog, _workerLog);
        UnverifiedBodies unverified = UnverifiedBodies.For(functions, _options.Limits);
        var routes = new FunctionRoutes(catalog, unverified);
        var operations = new OperationsEndpoints(Lifecycle, _exporter, functions, catalog, _options.SystemApi, _systemApiToken, _options.Portal);
        return new FunctionSet(functions, catalog, unverified, routes, new FunctionEndpoint(routes, _endpointLog, _metrics, _asyncCalls), operations);
    }

    /// <summary>The route of the function named <paramref name="name"/> among those served now, or null.</summary>
    public FunctionRoute? FindRoute(string name) => _functions.Routes.Find(name);

    /// <summary>The server's instruments, or null with <c>--no-metrics</c>.</summary>
    public System.Diagnostics.Metrics.Meter? Meter => _metrics?.Meter;

    /// <summary>The certificate the https listeners serve, or null without TLS.</summary>
    public TlsCertificate? Certificate => _certificate;

    /// <summary>The socket transport, with its cap on open connections (<c>--max-connections</c>).</summary>
    public CappedSocketTransport Transport { get; }

    /// <summary>Serving or draining: <see cref="ServerLifecycle.BeginDrain"/> turns the health checks to 503.</summary>
    public ServerLifecycle Lifecycle { get; } = new();

    /// <summary>
    /// Prepares, on a thread of its own, what the first run would otherwise prepare on its path: the I/O
    /// loop, the timer thread, and each of <paramref name="functionNames"/>' policy and program path; on the thread
    /// <paramref name="started"/> when the caller started it earlier (<see cref="StartupWarmUp"/>).
    /// </summary>
    public void WarmUpInBackground(IEnumerable<string> functionNames, StartupWarmUp? started = null)
    {
        FunctionRoutes routes = _functions.Routes;
        (started ?? StartupWarmUp.Start()).Then(() =>
        {
            foreach (string name in functionNames)
            {
                try
                {
                    // The function's policy, its invoker (its program's path) and its auth check.
                    _ = routes.Find(name);
                }
                catch (InvalidOperationException)
                {
                    // A function that cannot be prepared (its auth secret is gone) fails on its own requests,
                    // with a 500; an exception here, on a thread of its own, would end the whole server.
                }
            }
        });
    }

    /// <summary>The addresses listened on, with the real port where 0 was asked for; valid after <see cref="StartAsync"/>.</summary>
    public IReadOnlyList<string> Urls => _passedSockets
        ? [.. Transport.Listeners.Select(static listener => $"{(listener.Tls ? "https" : "http")}://{listener.EndPoint} (passed in as descriptor {listener.Descriptor})")]
        : [.. _kestrel.Features.Get<IServerAddressesFeature>()!.Addresses];

    /// <summary>
    /// Binds and starts accepting, then starts the workers of <c>mode: http</c> functions (not before: a server that
    /// cannot bind starts nothing); from now on, whatever a run leaves behind is the server's to end (see <see cref="OrphanReaper"/>).
    /// </summary>
    /// <exception cref="IOException">An address could not be bound (e.g. the port is taken).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (OrphanReaper.Enable() is string reason)
        {
            _log.LogWarning("Processes that functions leave behind after leaving their group cannot be contained: {Reason}", reason);
        }

        await _kestrel.StartAsync(_application, cancellationToken).ConfigureAwait(false);
        StartWorkers(_functions);
    }

    /// <summary>Starts the workers of the <c>mode: http</c> functions of <paramref name="set"/>.</summary>
    private static void StartWorkers(FunctionSet set)
    {
        foreach (Proc proc in set.Functions)
        {
            if (proc.Mode == FunctionMode.Http)
            {
                set.Routes.Find(proc.FuncName)?.Policy.Invoker.Start();
            }
        }
    }

    /// <summary>Stops accepting and lets requests in flight finish until <paramref name="cancellationToken"/> fires.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _kestrel.StopAsync(cancellationToken);

    /// <summary>
    /// The drain after a stop signal: health checks turn to 503; after <c>--drain-delay</c> no new request is
    /// accepted and the runs in flight have <c>--drain-timeout</c> to finish; then the rest are stopped (SIGTERM,
    /// and SIGKILL after <c>--kill-grace</c>), and whatever is still alive, runs or what they left, is killed.
    /// </summary>
    public async Task DrainAsync(TimeSpan drainDelay, RunLimits limits)
    {
        Lifecycle.BeginDrain();
        if (drainDelay > TimeSpan.Zero)
        {
            // Keep accepting while load balancers notice the 503s.
            _log.LogInformation("Draining in {Seconds} s: health checks answer 503", drainDelay.TotalSeconds);
            await Task.Delay(drainDelay).ConfigureAwait(false);
        }

        _log.LogInformation("Stopping: no new requests; runs in flight have {Seconds} s to finish", limits.DrainTimeout.TotalSeconds);
        using (var drain = new CancellationTokenSource(limits.DrainTimeout))
        {
            // Past the drain timeout Kestrel aborts the requests left, and their runs are stopped (SIGTERM, grace, SIGKILL);
            // asynchronous calls running have the same time, and those cut short stay queued for the next start.
            Task asyncCalls = _asyncCalls?.StopAsync(limits.DrainTimeout) ?? Task.CompletedTask;
            await StopAsync(drain.Token).ConfigureAwait(false);
            await asyncCalls.ConfigureAwait(false);
        }

        // No request is left: the workers of mode: http functions get SIGTERM, and SIGKILL after --kill-grace.
        await StopInvokersAsync(_functions, limits.KillGrace).ConfigureAwait(false);

        for (long deadline = Environment.TickCount64 + (long)limits.KillGrace.TotalMilliseconds + 1000;
             (LiveRuns.Count > 0 || OrphanReaper.Pending > 0) && Environment.TickCount64 < deadline;)
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        LiveRuns.SignalAll(Signals.SIGKILL);
        _log.LogInformation("Stopped");
    }

    /// <summary>
    /// After a new binary took the listening sockets (SIGHUP), how long open connections get to close by themselves
    /// (each response now asks its client to) before the drain closes the idle ones: a client in the middle of a
    /// request loop moves to the new server after its next response instead of finding its connection closed.
    /// </summary>
    public static readonly TimeSpan HandOverGrace = TimeSpan.FromSeconds(2);

    /// <summary>
    /// After a new binary took the listening sockets (SIGHUP): stops accepting, without closing the sockets, asks
    /// every client to close its connection after its next response, gives them <see cref="HandOverGrace"/>, then
    /// drains as on SIGTERM (with no <c>--drain-delay</c>: the new server already serves): runs in flight have
    /// <c>--drain-timeout</c> to finish, and their responses end their connections.
    /// </summary>
    public async Task HandOverAsync(RunLimits limits)
    {
        Lifecycle.BeginHandOver();
        Transport.Release();
        _log.LogInformation("Handing over: no new connection; open ones close after their next response");
        for (long deadline = Environment.TickCount64 + (long)Math.Min(HandOverGrace.TotalMilliseconds, limits.DrainTimeout.TotalMilliseconds);
             Transport.Cap.Open > 0 && Environment.TickCount64 < deadline;)
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        await DrainAsync(TimeSpan.Zero, limits).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _kestrel.StopAsync(CancellationToken.None).ConfigureAwait(false);

        // Nothing the server started outlives it: workers end with it, drained or not.
        await StopInvokersAsync(_functions, _options.Limits.KillGrace).ConfigureAwait(false);
        _kestrel.Dispose();
        _exporter?.Dispose();
        _metrics?.Dispose();
    }

    /// <summary>The functions served at one time, and what is made per set of them.</summary>
    private sealed class FunctionSet(IReadOnlyList<Proc> functions, FunctionCatalog catalog, UnverifiedBodies unverified, FunctionRoutes routes, FunctionEndpoint endpoint, OperationsEndpoints operations)
    {
        public IReadOnlyList<Proc> Functions { get; } = functions;

        public FunctionCatalog Catalog { get; } = catalog;

        public UnverifiedBodies Unverified { get; } = unverified;

        public FunctionRoutes Routes { get; } = routes;

        public FunctionEndpoint Endpoint { get; } = endpoint;

        public OperationsEndpoints Operations { get; } = operations;
    }
}
