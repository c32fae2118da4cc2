namespace AotFaas.Http;

/// <summary>The server's log lines, compiled by the logging source generator (no boxing, no reflection).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Function} -> {Status} ({Outcome}) in {DurationMs:F1} ms")]
    public static partial void Invocation(ILogger logger, string function, int status, string outcome, double durationMs);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "{Function} -> 500: {Reason}")]
    public static partial void SpawnFailed(ILogger logger, string function, string reason);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Function} -> {Status}: {Reason}")]
    public static partial void Rejected(ILogger logger, string function, int status, string reason);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "{Function}: the client went away after {DurationMs:F1} ms; the run was killed")]
    public static partial void ClientGone(ILogger logger, string function, double durationMs);
}
