using System.Text;
using System.Threading.Channels;

namespace AotFaas.Logging;

/// <summary>
/// A console logger with no set-up cost: one line per entry, <c>info: Category[id] message</c>,
/// written to a stream by a background task so a slow reader of the server's output never holds
/// up a request. When more than <see cref="Capacity"/> lines, or <see cref="MaxQueuedChars"/> characters,
/// wait, new ones are dropped and counted, and a line says how many once the writer catches up.
/// </summary>
public sealed class LineLoggerProvider : ILoggerProvider
{
    /// <summary>Lines that may wait for the writer before new ones are dropped.</summary>
    public const int Capacity = 8192;

    /// <summary>
    /// Characters that may wait for the writer (2 MiB) before new lines are dropped: about <see cref="Capacity"/>
    /// invocation lines, but a line of a function's stderr can be 2 KiB, and <see cref="Capacity"/> of those must not
    /// grow the server by tens of MiB while its output is not read.
    /// </summary>
    public const int MaxQueuedChars = 1024 * 1024;

    /// <summary>
    /// Under load, how long the writer lets lines gather before it writes them: one wake-up and one
    /// write(2) per batch instead of per line, which saves a thread hand-off per request. A line that
    /// comes after a quiet spell is written at once.
    /// </summary>
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(20);

    // Wait, not DropWrite: TryWrite never waits either way, but with DropWrite it says true for the line it drops,
    // which then goes uncounted.
    private readonly Channel<string> _lines = Channel.CreateBounded<string>(
        new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    private readonly Stream _output;
    private Task? _writer;
    private long _dropped;
    private long _queuedChars;

    /// <summary>Writes to <paramref name="output"/> every entry at <paramref name="minimumLevel"/> or above;
    /// categories starting with <c>Microsoft.</c> from <see cref="LogLevel.Warning"/> only.</summary>
    public LineLoggerProvider(Stream output, LogLevel minimumLevel = LogLevel.Information)
    {
        MinimumLevel = minimumLevel;
        _output = output;
    }

    public LogLevel MinimumLevel { get; }

    /// <summary>The lowest level written for <paramref name="category"/>: <paramref name="minimum"/>, and Warning for <c>Microsoft.*</c>.</summary>
    public static LogLevel MinimumFor(string category, LogLevel minimum)
        => category.StartsWith("Microsoft.", StringComparison.Ordinal) ? (LogLevel)Math.Max((int)minimum, (int)LogLevel.Warning) : minimum;

    /// <summary>How many lines were dropped because the writer fell behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public ILogger CreateLogger(string categoryName) => new LineLogger(this, categoryName);

    /// <summary>Writes what is queued and stops the writer.</summary>
    public void Dispose()
    {
        _lines.Writer.TryComplete();
        Volatile.Read(ref _writer)?.Wait(TimeSpan.FromSeconds(2));
    }

    private void Enqueue(string line)
    {
        // The writer starts with the first line, not in the constructor: its Task.Run is the process's first, and
        // starting the thread pool there cost the main thread ~1.5 ms before the server listened.
        if (Volatile.Read(ref _writer) is null)
        {
            lock (_lines)
            {
                _writer ??= Task.Run(() => WriteAsync(_output));
            }
        }

        if (Interlocked.Add(ref _queuedChars, line.Length) > MaxQueuedChars || !_lines.Writer.TryWrite(line))
        {
            Interlocked.Add(ref _queuedChars, -line.Length);
            Interlocked.Increment(ref _dropped);
        }
    }

    private async Task WriteAsync(Stream output)
    {
        await using var writer = new StreamWriter(output, new UTF8Encoding(false), bufferSize: 16 * 1024) { AutoFlush = false };
        ChannelReader<string> reader = _lines.Reader;
        try
        {
            long lastWrite = 0;
            long reported = 0;
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                // Idle: write at once. Busy (the last write was recent): let a batch gather first.
                if (Environment.TickCount64 - lastWrite < (long)FlushInterval.TotalMilliseconds)
                {
                    await Task.Delay(FlushInterval).ConfigureAwait(false);
                }

                lastWrite = Environment.TickCount64;
                long written = 0;
                while (reader.TryRead(out string? line))
                {
                    await writer.WriteAsync(line).ConfigureAwait(false);
                    written += line.Length;
                }

                Interlocked.Add(ref _queuedChars, -written);
                long dropped = Dropped;
                if (dropped != reported)
                {
                    await writer.WriteAsync($"warn: AotFaas.Logging[0] {dropped - reported} log line(s) dropped: the server's output is read more slowly than it is written\n").ConfigureAwait(false);
                    reported = dropped;
                }

                await writer.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (IOException)
        {
            // Nobody reads our output any more; keep serving.
        }
    }

    private sealed class LineLogger(LineLoggerProvider provider, string category) : ILogger
    {
        private readonly LogLevel _minimum = MinimumFor(category, provider.MinimumLevel);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= _minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var line = new StringBuilder(128)
                .Append(Level(logLevel)).Append(": ").Append(category).Append('[').Append(eventId.Id).Append("] ")
                .Append(formatter(state, exception).ReplaceLineEndings(" "));
            if (exception is not null)
            {
                line.Append(" | ").Append(exception.GetType().Name).Append(": ").Append(exception.Message.ReplaceLineEndings(" "));
            }

            provider.Enqueue(line.Append('\n').ToString());
        }

        private static string Level(LogLevel level) => level switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
    }
}
