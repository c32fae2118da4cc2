namespace AotFaas.Functions;

/// <summary>
/// The server-wide defaults for what a function's own options do not set, and the limits that
/// only the server sets. Each has a command-line flag (see <c>aotfaas --help</c>).
/// </summary>
public sealed record RunLimits
{
    /// <summary><c>--timeout</c>: wall-clock limit of a request, queueing included.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary><c>--max-inflight</c>: runs of one function at a time.</summary>
    public int MaxInflight { get; init; } = 2 * Environment.ProcessorCount;

    /// <summary><c>--max-queue</c>: requests waiting for a slot of one function; null means 4 x its max-inflight.</summary>
    public int? MaxQueue { get; init; }

    /// <summary><c>--max-body</c>: request body limit in bytes.</summary>
    public long MaxBody { get; init; } = 16L << 20;

    /// <summary><c>--max-output</c>: stdout limit in bytes.</summary>
    public long MaxOutput { get; init; } = 64L << 20;

    /// <summary><c>--max-total-inflight</c>: runs of all functions together.</summary>
    public int MaxTotalInflight { get; init; } = 64 * Environment.ProcessorCount;

    /// <summary><c>--kill-grace</c>: between SIGTERM and SIGKILL when a run is stopped.</summary>
    public TimeSpan KillGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary><c>--drain-timeout</c>: how long runs in flight may finish after SIGTERM/SIGINT before they are killed.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary><c>--max-header-count</c>: request headers one request may carry; more gets 431.</summary>
    public int MaxHeaderCount { get; init; } = 100;

    /// <summary><c>--max-header-size</c>: bytes of all request headers together; more gets 431.</summary>
    public int MaxHeadersSize { get; init; } = 32 * 1024;

    /// <summary><c>--no-log-stderr</c> sets it false: whether the stderr of functions that do not set <c>log-stderr</c> goes to the server's log.</summary>
    public bool LogStderr { get; init; } = true;

    /// <summary>Where unnamed temporary files go (stdout past its in-memory part, signed bodies); null for <c>$TMPDIR</c> or <c>/tmp</c>.</summary>
    public string? TempDirectory { get; init; }

    /// <summary>How much of stderr is kept for a 500 body; the rest is read and counted.</summary>
    public const int MaxStderr = 64 * 1024;

    /// <summary>How much of a run's stdout is held in memory; the rest waits in a temporary file.</summary>
    public const int StdoutInMemory = 256 * 1024;
}
