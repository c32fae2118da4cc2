namespace AotFaas.Hosting;

/// <summary>The command line or the environment asked for something the server cannot do.</summary>
public sealed class UsageException(string message) : Exception(message);
