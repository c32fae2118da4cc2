using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AotFaas.Tests.Operations;

/// <summary>A logger provider that keeps every entry with its structured state, for assertions.</summary>
public sealed class CapturingLogger : ILoggerProvider, ILoggerFactory
{
    public sealed record Entry(string Category, LogLevel Level, EventId EventId, string Message, IReadOnlyDictionary<string, object?> State)
    {
        /// <summary>The exception logged with the entry, if any.</summary>
        public Exception? Exception { get; init; }
    }

    public ConcurrentQueue<Entry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    /// <summary>The invocation entries (event 1) whose RequestId is <paramref name="requestId"/>, waiting briefly for them.</summary>
    public async Task<Entry[]> InvocationsAsync(string requestId)
    {
        for (int i = 0; i < 100; i++)
        {
            Entry[] found = Entries.Where(e => e.EventId.Id == 1 && Equals(e.State.GetValueOrDefault("RequestId"), requestId)).ToArray();
            if (found.Length > 0)
            {
                // Give a second line, if one were coming, the chance to show up.
                await Task.Delay(50);
                return Entries.Where(e => e.EventId.Id == 1 && Equals(e.State.GetValueOrDefault("RequestId"), requestId)).ToArray();
            }

            await Task.Delay(20);
        }

        return [];
    }

    private sealed class Logger(CapturingLogger owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (state is IReadOnlyList<KeyValuePair<string, object?>> pairs)
            {
                foreach (KeyValuePair<string, object?> pair in pairs)
                {
                    values[pair.Key] = pair.Value;
                }
            }

            owner.Entries.Enqueue(new Entry(category, logLevel, eventId, formatter(state, exception), values) { Exception = exception });
        }
    }
}
