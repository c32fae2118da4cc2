using System.Runtime.InteropServices;
using AotFaas.Functions;
using AotFaas.Hosting;
using AotFaas.Logging;

// aotfaas: serves the functions that AotFaas.Generators compiled from functions.faas.
ServerOptions options;
try
{
    options = ServerOptions.Parse(args, Environment.GetEnvironmentVariable);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"aotfaas: {e.Message}\nTry 'aotfaas --help'.");
    return 2;
}

if (options.ShowHelp)
{
    Console.Out.Write(ServerOptions.Usage);
    return 0;
}

if (options.ListFunctions)
{
    Console.Out.Write(FunctionListing.Format(FunctionTable.All));
    return 0;
}

using var logging = new LineLoggerProvider(Console.OpenStandardOutput());
using var loggerFactory = new LoggerFactory([logging]);
ILogger log = loggerFactory.CreateLogger("AotFaas");
await using var server = new FaasServer(options, FunctionTable.GetProcByFuncName, loggerFactory);

// SIGTERM or SIGINT: stop accepting and let runs in flight finish; a second signal ends the process at once.
var stopping = new TaskCompletionSource();
void OnSignal(PosixSignalContext context) => context.Cancel = stopping.TrySetResult();
using PosixSignalRegistration onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
using PosixSignalRegistration onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

try
{
    await server.StartAsync();
}
catch (IOException e)
{
    // Kestrel could not bind: the port is taken or the address is not ours.
    Console.Error.WriteLine($"aotfaas: {e.Message}");
    return 1;
}

foreach (string url in server.Urls)
{
    log.LogInformation("Now listening on: {Url}", url);
}

await stopping.Task;
log.LogInformation("Stopping: waiting for runs in flight");
using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(30));
await server.StopAsync(drain.Token);
return 0;
