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
    /// <summary>
    /// Entries that may wait for the console before new ones are dropped (and counted, in a line of the framework's),
    /// rather than the request that logs them waiting, as the line logger does: a slow reader of the server's output
    /// never holds up a request. Fewer than the framework's 2,500, as an entry of a function's stderr can be 10 KiB
    /// (its line twice, JSON-escaped, in UTF-16).
    /// </summary>
    public const int Capacity = 512;

    public static ILoggerProvider CreateProvider()
        => new ConsoleLoggerProvider(
            new FixedOptions<ConsoleLoggerOptions>(new ConsoleLoggerOptions
            {
                FormatterName = ConsoleFormatterNames.Json,
                QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite,
                MaxQueueLength = Capacity,
            }),
            formatters: null);

    /// <summary>Options that never change: what the console provider reads its settings through.</summary>
    private sealed class FixedOptions<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] T>(T value) : IOptionsMonitor<T>
    {
        public T CurrentValue => value;

        public T Get(string? name) => value;

        public IDisposable? OnChange(Action<T, string?> listener) => null;
    }
}
