using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace AotFaas.Logging;

/// <summary>
/// <c>--log-format json</c>: the framework's console logger with its JSON formatter, one JSON object per
/// line with the message template's fields as <c>State</c>. Built without dependency injection: the
/// provider, given no formatters, makes its own (the JSON one among them) with default options.
/// </summary>
public static class JsonConsoleLogging
{
    /// <summary>What the line logger does by itself: Information and up, Microsoft.* from Warning.</summary>
    public static LoggerFilterOptions Filter => new()
    {
        MinLevel = LogLevel.Information,
        Rules = { new LoggerFilterRule(null, "Microsoft", LogLevel.Warning, null) },
    };

    public static ILoggerProvider CreateProvider()
        => new ConsoleLoggerProvider(new FixedOptions<ConsoleLoggerOptions>(new ConsoleLoggerOptions { FormatterName = ConsoleFormatterNames.Json }), formatters: null);

    /// <summary>Options that never change: what the console provider reads its settings through.</summary>
    private sealed class FixedOptions<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] T>(T value) : IOptionsMonitor<T>
    {
        public T CurrentValue => value;

        public T Get(string? name) => value;

        public IDisposable? OnChange(Action<T, string?> listener) => null;
    }
}
