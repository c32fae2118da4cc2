using AotFaas.Functions;
using System.Globalization;
using AotFaas.Execution;
using AotFaas.Shared;

namespace AotFaas.Hosting;

/// <summary>
/// What the command line and the environment ask of the server. Where to listen, first match wins:
/// <c>--urls</c>; <c>--host</c>/<c>--port</c>; <c>PORT</c> (all interfaces, the Knative and Cloud Run
/// contract); <c>ASPNETCORE_URLS</c>; <c>http://127.0.0.1:3000</c>. With <c>--tls-cert</c> and <c>--tls-key</c>, the
/// https URLs serve TLS, and so does the address of <c>--host</c>/<c>--port</c>, <c>PORT</c> or the default.
/// Over 300 lines: the <c>--help</c> text is a quarter of it, kept beside the parsing so that an option's words
/// and its help change together.
/// </summary>
public sealed record ServerOptions(string Urls, bool ShowHelp = false, bool ListFunctions = false)
{
    /// <summary><c>--tls-cert</c>: the PEM certificate file (the server's certificate first, then its chain), or null.</summary>
    public string? TlsCertificatePath { get; init; }

    /// <summary><c>--tls-key</c>: the PEM private key file of the certificate (PKCS#8, RSA or EC), or null.</summary>
    public string? TlsKeyPath { get; init; }

    /// <summary>Whether a certificate was given: https URLs and passed sockets named <c>https</c> serve TLS with it.</summary>
    public bool Tls => TlsCertificatePath is not null;

    /// <summary>Where to listen: <see cref="Urls"/>, read.</summary>
    /// <exception cref="UsageException">One of them is not an address to listen on (<see cref="Parse"/> has checked).</exception>
    public IReadOnlyList<ListenUrl> ListenUrls => ListenUrl.ParseList(Urls);

    /// <summary>Defaults for what functions do not set, and the server-wide limits.</summary>
    public RunLimits Limits { get; init; } = new();

    /// <summary><c>--log-format</c>: <c>text</c> (one line per entry) or <c>json</c> (the framework's JSON console formatter).</summary>
    public string LogFormat { get; init; } = "text";

    /// <summary><c>--no-metrics</c> turns <c>/metrics</c> and the instruments behind it off.</summary>
    public bool Metrics { get; init; } = true;

    /// <summary><c>--system-api</c>: serve <c>GET /system/functions</c>.</summary>
    public bool SystemApi { get; init; }

    /// <summary><c>--system-api-token-env VAR</c>: the variable whose value <c>/system/functions</c> requires as a bearer token.</summary>
    public string? SystemApiTokenVariable { get; init; }

    /// <summary><c>--portal</c>: serve the try-it page at <c>/</c>.</summary>
    public bool Portal { get; init; }

    /// <summary><c>--drain-delay</c>: after SIGTERM, how long health checks say 503 while the server still accepts, before it stops accepting.</summary>
    public TimeSpan DrainDelay { get; init; }

    /// <summary><c>--max-connections</c>: open connections at once; null for the default derived from the descriptor limit (<see cref="ConnectionCap.DefaultFor"/>).</summary>
    public int? MaxConnections { get; init; }

    /// <summary>
    /// Listening sockets passed in (<see cref="InheritedSockets"/>: systemd's socket activation, or the binary this one
    /// replaced on SIGHUP); when there are any, they are served and <see cref="Urls"/> is not bound.
    /// </summary>
    public IReadOnlyList<ListenSocket> ListenDescriptors { get; init; } = [];

    /// <summary>Sockets of <see cref="ListenUrls"/> bound before the server was made (<see cref="PreboundSockets"/>); its binds take them.</summary>
    public PreboundSockets? Prebound { get; init; }

    /// <summary>
    /// The options of asynchronous calls (<c>--async-...</c>, <c>--callback-allow</c>), each with its value, as given:
    /// read by the asynchronous calls themselves, in a binary that has them (see <c>Async/AsyncSettings</c>).
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> AsyncArguments { get; init; } = [];

    /// <summary>
    /// Checks the sockets passed in against the TLS options: a socket named <c>https</c> needs a certificate, and a
    /// certificate needs a socket named <c>https</c> (the URLs are not bound when sockets are passed).
    /// </summary>
    /// <exception cref="UsageException">They do not agree.</exception>
    public void CheckPassedSockets(IReadOnlyList<ListenSocket> sockets, string source)
    {
        if (sockets.FirstOrDefault(static socket => socket.Tls) is { Tls: true } https)
        {
            if (!Tls)
            {
                throw new UsageException($"descriptor {https.Descriptor} passed by {source} is named https ({InheritedSockets.ListenFdNames}): serving it needs --tls-cert FILE and --tls-key FILE");
            }
        }
        else if (Tls)
        {
            throw new UsageException($"--tls-cert is given, but none of the {sockets.Count} socket(s) passed by {source} is named https (FileDescriptorName=https in the socket unit, which sets {InheritedSockets.ListenFdNames}); they would serve plain HTTP");
        }
    }

    public const string DefaultHost = "127.0.0.1";
    public const int DefaultPort = 3000;

    /// <summary>The text of <c>--help</c>.</summary>
    public const string Usage = """
        Usage: aotfaas [options]

        Serves the functions compiled into this binary from functions.faas:
          POST /function/{name}[/{path}]   the request body is the program's stdin (a
                                  function's methods option may allow others);
                                  exit 0 -> 200 with stdout, otherwise 500 with stderr;
                                  an unknown name -> 404 with an empty body.

        Options:
          --urls URLS        Listen on these URLs, e.g. http://0.0.0.0:8080 (';' separates several;
                             https://HOST:PORT serves TLS).
          -H, --host HOST    Listen on this interface (default 127.0.0.1; 0.0.0.0 for all).
          -p, --port PORT    Listen on this port (default 3000; 0 picks a free one).
          --tls-cert FILE    TLS: the certificate, PEM (the server's first, then its chain).
          --tls-key FILE     TLS: its private key, PEM (PKCS#8, RSA or EC; not encrypted).
                             With both, the https URLs serve TLS (HTTP/1.1 and HTTP/2), and
                             so does --host/--port (or PORT, or the default) without --urls.
                             Both files are read again when they change (certbot renewals).
          --list             Print the compiled functions and exit.
          -h, --help         Print this help and exit.

        Operations:
          GET /_/health, /healthz    200 while serving, 503 once draining after SIGTERM.
          GET /metrics               Prometheus text format (--no-metrics turns it off).
          --system-api               Serve GET /system/functions (OpenFaaS FunctionStatus JSON).
          --system-api-token-env VAR Require 'Authorization: Bearer <value of VAR>' there (implies --system-api).
          --portal                   Serve a page at / to try the functions from a browser.
          --log-format text|json     One line per entry (default), or the JSON console format.
          --no-log-stderr            Do not log the stderr of functions that do not set log-stderr
                                     (by default each run's first 64 lines or 8 KiB of text are logged).
          --drain-delay DURATION     After SIGTERM, keep accepting with health at 503 this long
                                     before draining (default 0s).

        Limits (a function's own manifest options win; sizes: 512, 64KiB, 16MiB, 1GiB, 10MB;
        durations: 500ms, 10s, 2m, 1h):
          --timeout DURATION         Wall-clock limit of a request, queueing included (default 30s).
          --max-inflight N           Runs of one function at a time (default 2 x CPU count).
          --max-queue N              Requests waiting for a slot, per function; more get 429
                                     (default 4 x max-inflight).
          --max-body SIZE            Request body limit; more gets 413 (default 16MiB).
          --max-output SIZE          Stdout limit; more stops the run with 502 (default 64MiB).
          --max-total-inflight N     Runs of all functions together (default 64 x CPU count).
          --max-header-count N       Request headers per request; more gets 431 (default 100).
          --max-header-size SIZE     All request headers together; more gets 431 (default 32KiB).
          --max-connections N        Open connections at once; at the cap new ones wait in the
                                     listen backlog (default: the open-files limit, raised to
                                     its hard limit at start, less 6 per --max-total-inflight
                                     run and 64 for the server; at least a quarter of the limit).
          --kill-grace DURATION      From SIGTERM to SIGKILL when a run is stopped (default 2s).
          --drain-timeout DURATION   After SIGTERM/SIGINT/SIGQUIT, how long runs in flight may finish
                                     before they are stopped (default 30s). A second signal
                                     kills every run at once.

        Signals:
          SIGTERM, SIGINT, SIGQUIT   Drain (as above); a second one kills every run and exits.
          SIGHUP                     Swap the binary: the one now at this server's path starts with
                                     the same arguments and the listening sockets; this one drains.
                                     If the new one does not come up, this one goes on serving.
          SIGUSR1, SIGUSR2, SIGALRM  Logged and ignored.

        Environment:
          PORT               Listen on this port on all interfaces (the Knative / Cloud Run contract).
          ASPNETCORE_URLS    Listen on these URLs.
          LISTEN_FDS, LISTEN_PID   Sockets passed by systemd (socket activation): served instead of the URLs.
          NOTIFY_SOCKET      systemd's notification socket (Type=notify): READY=1, STOPPING=1, MAINPID=.

        Where to listen, first match wins: --urls; --host/--port (a missing one from PORT or the
        default); PORT; ASPNETCORE_URLS; http://127.0.0.1:3000.

        """;

    /// <summary>
    /// Reads <paramref name="args"/> and the environment through <paramref name="getEnvironment"/>; the options of
    /// asynchronous calls only with <paramref name="asyncCalls"/> (a binary that has them), unknown otherwise.
    /// </summary>
    /// <exception cref="UsageException">An option is unknown, lacks its value, or a value is malformed.</exception>
    public static ServerOptions Parse(IReadOnlyList<string> args, Func<string, string?> getEnvironment, bool asyncCalls = false)
    {
        string? urls = null;
        string? host = null;
        int? port = null;
        bool help = false;
        bool list = false;
        RunLimits limits = new();
        string logFormat = "text";
        bool metrics = true;
        bool systemApi = false;
        string? systemApiToken = null;
        bool portal = false;
        TimeSpan drainDelay = TimeSpan.Zero;
        int? maxConnections = null;
        string? tlsCertificate = null;
        string? tlsKey = null;
        var asyncArguments = new List<KeyValuePair<string, string>>();

        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string name = arg;
            string? inlineValue = null;
            int equals = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 0)
            {
                name = arg[..equals];
                inlineValue = arg[(equals + 1)..];
            }

            switch (name)
            {
                case "-h" or "--help":
                    help = true;
                    break;
                case "--list":
                    list = true;
                    break;
                case "--urls":
                    urls = NonEmpty(name, inlineValue ?? Next(args, ref i, name));
                    break;
                case "-H" or "--host":
                    host = NonEmpty(name, inlineValue ?? Next(args, ref i, name));
                    break;
                case "-p" or "--port":
                    port = ParsePort(inlineValue ?? Next(args, ref i, name), name);
                    break;
                case "--timeout":
                    limits = limits with { Timeout = Duration(name, inlineValue ?? Next(args, ref i, name)) };
                    break;
                case "--kill-grace":
                    limits = limits with { KillGrace = Duration(name, inlineValue ?? Next(args, ref i, name)) };
                    break;
                case "--drain-timeout":
                    limits = limits with { DrainTimeout = Duration(name, inlineValue ?? Next(args, ref i, name)) };
                    break;
                case "--max-inflight":
                    limits = limits with { MaxInflight = Count(name, inlineValue ?? Next(args, ref i, name), 1) };
                    break;
                case "--max-queue":
                    limits = limits with { MaxQueue = Count(name, inlineValue ?? Next(args, ref i, name), 0) };
                    break;
                case "--max-total-inflight":
                    limits = limits with { MaxTotalInflight = Count(name, inlineValue ?? Next(args, ref i, name), 1) };
                    break;
                case "--max-body":
                    limits = limits with { MaxBody = Size(name, inlineValue ?? Next(args, ref i, name)) };
                    break;
                case "--max-output":
                    limits = limits with { MaxOutput = Size(name, inlineValue ?? Next(args, ref i, name)) };
                    break;
                case "--log-format":
                    logFormat = inlineValue ?? Next(args, ref i, name);
                    if (logFormat is not ("text" or "json"))
                    {
                        throw new UsageException($"{name}: '{logFormat}' is not a log format (text or json)");
                    }

                    break;
                case "--no-metrics":
                    metrics = false;
                    break;
                case "--no-log-stderr":
                    limits = limits with { LogStderr = false };
                    break;
                case "--system-api":
                    systemApi = true;
                    break;
                case "--system-api-token-env":
                    systemApi = true;
                    systemApiToken = NonEmpty(name, inlineValue ?? Next(args, ref i, name));
                    break;
                case "--portal":
                    portal = true;
                    break;
                case "--drain-delay":
                    drainDelay = Duration(name, inlineValue ?? Next(args, ref i, name));
                    break;
                case "--max-connections":
                    maxConnections = Count(name, inlineValue ?? Next(args, ref i, name), 1);
                    break;
                case "--max-header-count":
                    limits = limits with { MaxHeaderCount = Count(name, inlineValue ?? Next(args, ref i, name), 1) };
                    break;
                case "--max-header-size":
                    limits = limits with { MaxHeadersSize = HeaderSize(name, inlineValue ?? Next(args, ref i, name)) };
                    break;
                case "--tls-cert":
                    tlsCertificate = NonEmpty(name, inlineValue ?? Next(args, ref i, name));
                    break;
                case "--tls-key":
                    tlsKey = NonEmpty(name, inlineValue ?? Next(args, ref i, name));
                    break;
                case "--async-store" or "--async-retention" or "--callback-allow" when asyncCalls:
                    asyncArguments.Add(new(name, inlineValue ?? Next(args, ref i, name)));
                    break;
                default:
                    throw new UsageException(arg.StartsWith('-') ? $"unknown option '{arg}'" : $"unexpected argument '{arg}'");
            }
        }

        string? portVariable = getEnvironment("PORT");
        int? environmentPort = string.IsNullOrWhiteSpace(portVariable) ? null : ParsePort(portVariable.Trim(), "the PORT variable");
        string? aspnetUrls = getEnvironment("ASPNETCORE_URLS");

        if ((tlsCertificate is null) != (tlsKey is null))
        {
            throw new UsageException("--tls-cert and --tls-key go together: give both (PEM files)");
        }

        // Without URLs, a certificate makes the one address (--host/--port, PORT or the default) https, as webhook's
        // -secure does with its -ip and -port.
        string scheme = tlsCertificate is null ? "http" : "https";
        string resolved;
        bool explicitUrls = false;
        if (urls is not null)
        {
            resolved = urls;
            explicitUrls = true;
        }
        else if (host is not null || port is not null)
        {
            resolved = Url(scheme, host ?? DefaultHost, port ?? environmentPort ?? DefaultPort);
        }
        else if (environmentPort is not null)
        {
            resolved = Url(scheme, "*", environmentPort.Value);
        }
        else if (!string.IsNullOrWhiteSpace(aspnetUrls))
        {
            resolved = aspnetUrls.Trim();
            explicitUrls = true;
        }
        else
        {
            resolved = Url(scheme, DefaultHost, DefaultPort);
        }

        IReadOnlyList<ListenUrl> listenUrls = ListenUrl.ParseList(resolved);
        if (tlsCertificate is null && listenUrls.FirstOrDefault(static url => url.Https) is ListenUrl https)
        {
            throw new UsageException($"{https.Text}: an https URL needs --tls-cert FILE and --tls-key FILE (PEM)");
        }

        if (tlsCertificate is not null && explicitUrls && !listenUrls.Any(static url => url.Https))
        {
            throw new UsageException($"--tls-cert is given, but none of the URLs to listen on is https ('{resolved}'): write https:// for those that serve TLS");
        }

        return new ServerOptions(resolved, help, list)
        {
            TlsCertificatePath = tlsCertificate,
            TlsKeyPath = tlsKey,
            Limits = limits,
            LogFormat = logFormat,
            Metrics = metrics,
            SystemApi = systemApi,
            SystemApiTokenVariable = systemApiToken,
            Portal = portal,
            DrainDelay = drainDelay,
            MaxConnections = maxConnections,
            AsyncArguments = asyncArguments,
        };
    }

    private static TimeSpan Duration(string name, string value)
        => Quantity.ParseDuration(value, out long milliseconds) is string error
            ? throw new UsageException($"{name}: {error}")
            : TimeSpan.FromMilliseconds(milliseconds);

    private static long Size(string name, string value)
        => Quantity.ParseSize(value, out long bytes) is string error ? throw new UsageException($"{name}: {error}") : bytes;

    private static int HeaderSize(string name, string value)
    {
        long bytes = Size(name, value);
        return bytes is >= 1024 and <= 16L << 20 ? (int)bytes : throw new UsageException($"{name}: '{value}' is out of range (1KiB to 16MiB)");
    }

    private static int Count(string name, string value, int min)
        => Quantity.ParseCount(value, min, 1_000_000, out int count) is string error ? throw new UsageException($"{name}: {error}") : count;

    private static string Url(string scheme, string host, int port)
    {
        bool ipv6Literal = host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[');
        return string.Create(CultureInfo.InvariantCulture, $"{scheme}://{(ipv6Literal ? "[" + host + "]" : host)}:{port}");
    }

    private static string Next(IReadOnlyList<string> args, ref int i, string name)
    {
        if (i + 1 >= args.Count)
        {
            throw new UsageException($"option '{name}' needs a value");
        }

        return args[++i];
    }

    private static string NonEmpty(string name, string value)
        => string.IsNullOrWhiteSpace(value) ? throw new UsageException($"option '{name}' needs a value") : value;

    private static int ParsePort(string value, string source)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            throw new UsageException($"{source}: '{value}' is not a port number (0-65535)");
        }

        return port;
    }
}
