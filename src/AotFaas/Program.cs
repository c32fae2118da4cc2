using AotFaas.Async;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Hosting;
using AotFaas.Logging;
using AotFaas.Security;

// aotfaas: serves the functions that AotFaas.Generators compiled from functions.faas.
ServerOptions options;
InheritedSockets? passed;
try
{
    options = ServerOptions.Parse(args, Environment.GetEnvironmentVariable, FunctionTable.TakesAsyncCalls);
    passed = options.ShowHelp || options.ListFunctions ? null : InheritedSockets.Take(Environment.GetEnvironmentVariable);
    if (passed is not null)
    {
        // A socket named https needs the certificate, and the certificate a socket named https.
        options.CheckPassedSockets(passed.Sockets, passed.Source);
    }
}
catch (UsageException e)
{
    Console.Error.WriteLine($"aotfaas: {e.Message}\nTry 'aotfaas --help'.");
    return 2;
}

if (options.ShowHelp)
{
    Console.Out.Write(FunctionTable.TakesAsyncCalls ? ServerOptions.Usage + AsyncSettings.Usage : ServerOptions.Usage);
    return 0;
}

// Asynchronous calls, in a binary with a function that takes them: their settings, then their store, opened before
// anything listens (a store that cannot be opened is a refusal to start, not a 503 per call).
AsyncSettings? asyncSettings;
try
{
    asyncSettings = FunctionTable.TakesAsyncCalls ? AsyncSettings.Parse(options.AsyncArguments, Environment.GetEnvironmentVariable) : null;
}
catch (FormatException e)
{
    Console.Error.WriteLine($"aotfaas: {e.Message}\nTry 'aotfaas --help'.");
    return 2;
}

if (options.ListFunctions)
{
    Console.Out.Write(FunctionListing.Format(FunctionTable.All));
    return 0;
}

// The addresses are bound now, not when Kestrel starts: a client that connects while the server sets itself up waits in
// the backlog instead of being refused, and Kestrel's accept loop finds its request there (issue 16). Sockets passed in
// are served instead of the addresses.
using PreboundSockets? prebound = passed is null ? PreboundSockets.Bind(options.ListenUrls) : null;

// The one-time work the first request would otherwise do on its path (the I/O loop, the thread pool, the runtime's timer
// thread, then the functions' routes) is done by a thread of its own, on the other core, while this one sets up.
StartupWarmUp warmUp = StartupWarmUp.Start();

// At the soft limit the server would refuse connections and runs long before the system's own (hard) limit.
DescriptorLimit.RaiseSoftToHard();

// Fail closed: a function that checks requests against a secret must not serve without it.
IReadOnlyList<string> missingSecrets = FunctionAuth.MissingSecrets(FunctionTable.All, Environment.GetEnvironmentVariable);
if (missingSecrets.Count > 0)
{
    foreach (string missing in missingSecrets)
    {
        Console.Error.WriteLine($"aotfaas: {missing}");
    }

    Console.Error.WriteLine("aotfaas: refusing to start: set the variables above, or remove the functions' auth option");
    return 1;
}

// Information and up, Microsoft.* from Warning; the factory is the server's own, not the framework's (see its remarks).
bool json = options.LogFormat == "json";
using ServerLoggerFactory loggerFactory = ServerLoggerFactory.Create(json, Console.OpenStandardOutput);
ILogger log = loggerFactory.CreateLogger("AotFaas");

// The signals' handlers, as soon as there is a log to write to: the addresses listen already, and the handled signals
// are held until now (HeldSignals). A SIGHUP before the server serves swaps once it does; a stop signal drains it, or
// ends a start still opening the store. Never disposed: a signal in the last milliseconds of the shutdown would find
// its default action again and end the process before its last lines are written.
var swap = new BinarySwap(args, log);
var signals = new ShutdownSignals(log, swap.OnHangUp);
HeldSignals.Release();

// Opened by a method of its own and awaited outside the constant's test: an await inside a block the constant turns
// off stays reachable from the state machine's resumption, and kept the stores' code (NATS, SQLite) in every binary.
// On the thread pool: SQLite's open is synchronous, and waits up to its busy timeout (5 s) for a file another process
// has locked; the main thread stays free to see a stop signal meanwhile.
Task<AsyncCallService>? openingAsyncCalls = FunctionTable.TakesAsyncCalls && asyncSettings is not null
    ? Task.Run(() => AsyncCallService.OpenAsync(asyncSettings!, Environment.GetEnvironmentVariable, loggerFactory.CreateLogger("AotFaas.Async")))
    : null;
AsyncCallService? asyncCalls = null;
if (openingAsyncCalls is not null)
{
    // A store that does not answer holds the start up to its timeout (NATS: 10 s, a locked SQLite file: 5 s): a stop
    // signal meanwhile ends it.
    if (await Task.WhenAny(openingAsyncCalls, signals.Stopping) != openingAsyncCalls)
    {
        log.LogInformation("Stopping before the server started: the store is still being opened; exiting");
        return 0;
    }

    try
    {
        asyncCalls = await openingAsyncCalls;
    }
    catch (IOException e)
    {
        Console.Error.WriteLine($"aotfaas: {e.Message}; refusing to start");
        return 1;
    }
}

// Disposed through the interface: a binary without asynchronous calls references none of their code.
await using IAsyncDisposable? ownedAsyncCalls = FunctionTable.TakesAsyncCalls ? asyncCalls : null;
FaasServer created;
try
{
    created = new FaasServer(options with { ListenDescriptors = passed?.Sockets ?? [], Prebound = prebound }, FunctionTable.All, FunctionTable.GetProcByFuncName, InvokerFactory.Create, loggerFactory, instruments: InvokerFactory.Instruments, asyncCalls: asyncCalls);
}
catch (InvalidOperationException e)
{
    // A secret the command line names is missing (fail closed), or the TLS certificate or key cannot be used.
    Console.Error.WriteLine($"aotfaas: {e.Message}; refusing to start");
    return 1;
}

await using FaasServer server = created;

server.WarmUpInBackground(FunctionTable.All.Select(proc => proc.FuncName), warmUp);

try
{
    await server.StartAsync();
}
catch (IOException e)
{
    // Kestrel could not bind: the port is taken, or neither loopback of localhost could be bound (each one's reason inside).
    string reasons = e.InnerException is AggregateException all ? string.Concat(all.InnerExceptions.Select(static inner => $"\n  {inner.Message}")) : string.Empty;
    Console.Error.WriteLine($"aotfaas: {e.Message}{reasons}");
    return 1;
}
catch (ListenFailedException e)
{
    // Not an address of this host, a port that needs privileges, a Unix socket's folder missing.
    Console.Error.WriteLine($"aotfaas: {e.Message}");
    return 1;
}

if (passed is not null)
{
    log.LogInformation("Serving the {Count} listening socket(s) passed by {Source}; --urls, --host and --port are not bound", passed.Sockets.Count, passed.Source);
}

foreach (string url in server.Urls)
{
    log.LogInformation("Now listening on: {Url}", url);
}

// Calls stored before (a restart, or a server that died) run from now on (awaited outside the test, as above).
Task? startingAsyncCalls = FunctionTable.TakesAsyncCalls && asyncCalls is not null ? asyncCalls!.StartAsync(FunctionTable.All, server.FindRoute, server.Meter) : null;
if (startingAsyncCalls is not null)
{
    await startingAsyncCalls;
    log.LogInformation("Asynchronous calls are kept in {Store}", asyncCalls!.Store);
}

// Tells the server this one replaces (SIGHUP), or systemd (Type=notify), that it serves.
if (passed is not null)
{
    passed.ReportReady();
}
else
{
    SystemdNotify.Send("READY=1");
}

// SIGHUP: a new binary takes the sockets; this one hands over and drains. A stop signal: drain.
while (await Task.WhenAny(signals.Stopping, swap.Requested) != signals.Stopping)
{
    if (await swap.StartAsync([.. server.Transport.Listeners.Select(static listener => new ListenSocket(listener.Descriptor, listener.Tls))], signals.Stopping) is int newServer)
    {
        SystemdNotify.HandOver(newServer);
        await server.HandOverAsync(options.Limits);
        return 0;
    }
}

SystemdNotify.Send("STOPPING=1");
await server.DrainAsync(options.DrainDelay, options.Limits);
return 0;
