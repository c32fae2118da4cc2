namespace AotFaas.Http;

/// <summary>The server's log lines, compiled by the logging source generator (no boxing, no reflection).</summary>
internal static partial class Log
{
    /// <summary>The one line of every invocation; its fields are the structured state of the JSON format.</summary>
    [LoggerMessage(EventId = 1, EventName = "Invocation", Message = "{Function} {Method} -> {Status} in {DurationMs:F1} ms ({Outcome}) exit={Exit} in={BytesIn} out={BytesOut} request_id={RequestId}")]
    public static partial void Invocation(ILogger logger, LogLevel level, string function, string method, int status, double durationMs, string outcome, string exit, long bytesIn, long bytesOut, string requestId);

    /// <summary>An exception that escaped a request handler: a bug, logged once with its stack.</summary>
    [LoggerMessage(EventId = 2, EventName = "UnhandledException", Level = LogLevel.Error, Message = "unhandled exception answering {Method} {Path} request_id={RequestId}; {Answer}")]
    public static partial void UnhandledException(ILogger logger, Exception exception, string method, string path, string requestId, string answer);
}
