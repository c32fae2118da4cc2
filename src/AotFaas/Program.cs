using AotFaas.Functions;
using AotFaas.Hosting;

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

try
{
    await FaasServer.Build(options, FunctionTable.GetProcByFuncName).RunAsync();
    return 0;
}
catch (IOException e)
{
    // Kestrel could not bind: the port is taken or the address is not ours.
    Console.Error.WriteLine($"aotfaas: {e.Message}");
    return 1;
}
