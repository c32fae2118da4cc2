using AotFaas.Dev;
using AotFaas.Functions;
using AotFaas.Hosting;
using AotFaas.Logging;
using AotFaas.Security;

// The development server (./dev.sh MANIFEST [options]): the server of src/AotFaas with the manifest read at run time
// and reloaded on save. Reads as Program.cs of the server does: parse -> load -> check -> start -> watch -> drain.
string manifest = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "functions.faas";
string[] serverArgs = args.Length > 0 && !args[0].StartsWith('-') ? args[1..] : args;
ServerOptions options;
try
{
    options = ServerOptions.Parse(serverArgs, Environment.GetEnvironmentVariable, asyncCalls: true);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"dev.sh: {e.Message}\nTry './dev.sh --help'.");
    return 2;
}

if (options.ShowHelp)
{
    Console.Out.Write(DevUsage.Text);
    return 0;
}

var loader = new ManifestLoader(manifest);
bool json = options.LogFormat == "json";
using ServerLoggerFactory loggerFactory = ServerLoggerFactory.Create(json, Console.OpenStandardOutput);
ILogger log = loggerFactory.CreateLogger("AotFaas.Dev");
FaasServer? running = null;
AotFaas.Async.AsyncCallService? asyncCalls = null;
var reloader = new Reloader(loader, Console.Error, log, Environment.GetEnvironmentVariable, (all, lookup) =>
{
    running!.ServeFunctions(all, lookup);
    if (asyncCalls is not null)
    {
        asyncCalls.Serve(all);
    }
    else if (all.Any(static proc => proc.TakesAsync))
    {
        log.LogWarning("A function now takes asynchronous calls: restart ./dev.sh (or give it --async-store) to serve them");
    }
});

// The first load compiles with a cold Roslyn; it warms it for the reloads.
LoadedTable? first = reloader.LoadFirst().Table;
if (options.ListFunctions)
{
    if (first is null)
    {
        return 1;
    }

    Console.Out.Write(FunctionListing.Format(first.All));
    return 0;
}

DescriptorLimit.RaiseSoftToHard();

// Fail closed, as the server does.
if (first is not null && FunctionAuth.MissingSecrets(first.All, Environment.GetEnvironmentVariable) is { Count: > 0 } missingSecrets)
{
    foreach (string missing in missingSecrets)
    {
        Console.Error.WriteLine($"dev.sh: {missing}");
    }

    Console.Error.WriteLine("dev.sh: refusing to start: set the variables above, or remove the functions' auth option");
    return 1;
}

IReadOnlyList<Proc> functions = first?.All ?? [];
bool servesNone = first is null;

// Asynchronous calls when the manifest has a function that takes them, or --async-store says where to keep them.
if (first?.TakesAsyncCalls == true || options.AsyncArguments.Count > 0)
{
    try
    {
        AotFaas.Async.AsyncSettings settings = AotFaas.Async.AsyncSettings.Parse(options.AsyncArguments, Environment.GetEnvironmentVariable);
        asyncCalls = await AotFaas.Async.AsyncCallService.OpenAsync(settings, Environment.GetEnvironmentVariable, loggerFactory.CreateLogger("AotFaas.Async"));
        log.LogInformation("Asynchronous calls are kept in {Store}", asyncCalls.Store);
    }
    catch (Exception e) when (e is FormatException or IOException)
    {
        Console.Error.WriteLine($"dev.sh: {e.Message}");
        return 2;
    }
}

await using IAsyncDisposable? ownedAsyncCalls = asyncCalls;
try
{
    running = new FaasServer(options, functions, first?.Lookup ?? (static _ => null), DevInvokers.Create, loggerFactory, asyncCalls: asyncCalls, instruments: AotFaas.Workers.WorkerMetrics.Register);
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"dev.sh: {e.Message}; refusing to start");
    return 1;
}

await using FaasServer server = running;
// SIGHUP reloads the manifest now, as a save does, through the watcher, which runs one reload at a time (the
// production server swaps its binary instead).
ManifestWatcher? watching = null;
using var signals = new ShutdownSignals(log, _ => watching?.Check());

// Watched from now on, and read once more at once: a save made while the first load ran is not missed.
using var watcher = new ManifestWatcher(manifest, reloader.Reload);
watching = watcher;
watcher.Check();
server.WarmUpInBackground(functions.Select(proc => proc.FuncName));
log.LogInformation("Development server, not for production: serving {Manifest} from source and reloading it on save (./publish.sh builds the server)", manifest);
try
{
    await server.StartAsync();
}
catch (IOException e)
{
    Console.Error.WriteLine($"dev.sh: {e.Message}");
    return 1;
}

foreach (string url in server.Urls)
{
    log.LogInformation("Now listening on: {Url}", url);
}

if (asyncCalls is not null)
{
    await asyncCalls.StartAsync(functions, server.FindRoute, server.Meter);
}

if (servesNone)
{
    log.LogWarning("{Manifest} has errors (above): no function is served until it compiles; fix it and save", manifest);
}

await signals.Stopping;
watcher.Dispose();
await server.DrainAsync(options.DrainDelay, options.Limits);
return 0;
