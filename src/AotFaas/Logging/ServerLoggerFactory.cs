namespace AotFaas.Logging;

/// <summary>
/// The server's logger factory: one provider (the line logger, or the console logger's JSON formatter with
/// <c>--log-format json</c>), and the levels the line logger keeps by itself (Information and up, <c>Microsoft.*</c>
/// from Warning). The framework's <c>LoggerFactory</c> is not used: its filter rules read every provider's
/// <c>ProviderAliasAttribute</c> by reflection, which started the runtime's type loader on the main thread before the
/// server listened (~0.1 ms, 11 calls, in a uprobe timeline of the cold start), and each of its loggers added a
/// generic virtual call, resolved at run time on its first use, in front of the provider's (issue 16).
/// </summary>
public sealed class ServerLoggerFactory : ILoggerFactory
{
    private readonly ILoggerProvider _provider;
    private readonly bool _filter;

    /// <param name="provider">Where the entries go.</param>
    /// <param name="filter">Whether the factory drops entries below each category's level (the line logger filters by itself).</param>
    internal ServerLoggerFactory(ILoggerProvider provider, bool filter)
    {
        _provider = provider;
        _filter = filter;
    }

    /// <summary>The provider the loggers write through.</summary>
    public ILoggerProvider Provider => _provider;

    /// <summary>The line logger (which filters by itself) writing to <paramref name="output"/>, or the JSON console logger.</summary>
    public static ServerLoggerFactory Create(bool json, Func<Stream> output)
        => json ? new(JsonConsoleLogging.CreateProvider(), filter: true) : new(new LineLoggerProvider(output()), filter: false);

    public ILogger CreateLogger(string categoryName)
    {
        ILogger logger = _provider.CreateLogger(categoryName);
        return _filter ? new LevelFilter(logger, LineLoggerProvider.MinimumFor(categoryName, LogLevel.Information)) : logger;
    }

    /// <summary>Not supported: the server logs through the one provider it was made with.</summary>
    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("the server's logger factory has one provider");

    /// <summary>Writes what is queued and stops the provider.</summary>
    public void Dispose() => _provider.Dispose();

    /// <summary>Entries below <paramref name="minimum"/> never reach <paramref name="inner"/>.</summary>
    private sealed class LevelFilter(ILogger inner, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None && inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= minimum && logLevel != LogLevel.None)
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
