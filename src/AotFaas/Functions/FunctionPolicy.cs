using AotFaas.Invokers;

namespace AotFaas.Functions;

/// <summary>
/// What one function runs with: its options where the manifest sets them, the server's defaults where it
/// does not, its admission gate, and the invoker that runs it. Built once per function, on first use.
/// </summary>
public sealed class FunctionPolicy
{
    /// <summary>The path prefix of functions; the next segment is the function's name.</summary>
    public const string PathPrefix = "/function/";

    private long _invocations;

    public FunctionPolicy(Proc proc, RunLimits limits, Func<string, string?> serverEnvironment, SemaphoreSlim totalSlots, Func<FunctionPolicy, IFunctionInvoker> invokers, ILogger? stderrLog = null, ILogger? workerLog = null)
    {
        Proc = proc;
        Timeout = proc.Timeout ?? limits.Timeout;
        MaxBody = proc.MaxBody ?? limits.MaxBody;
        MaxOutput = proc.MaxOutput ?? limits.MaxOutput;
        KillGrace = limits.KillGrace;
        TempDirectory = limits.TempDirectory;
        ServerEnvironment = serverEnvironment;
        int inflight = proc.MaxInflight ?? limits.MaxInflight;
        Gate = new RunGate(inflight, proc.MaxQueue ?? limits.MaxQueue ?? 4 * inflight, totalSlots);
        Allow = string.Join(", ", proc.Methods);
        StderrLog = proc.LogStderr ?? limits.LogStderr ? stderrLog : null;
        WorkerLog = workerLog ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        Invoker = invokers(this);
    }

    public Proc Proc { get; }

    /// <summary>Wall-clock limit of a request, from its arrival: receiving a signed body, queueing and running.</summary>
    public TimeSpan Timeout { get; }

    public long MaxBody { get; }

    public long MaxOutput { get; }

    /// <summary>From SIGTERM to SIGKILL when a run is stopped; also how long its output may stay open after it ends.</summary>
    public TimeSpan KillGrace { get; }

    /// <summary>Where stdout past its in-memory part, and a signed body being checked, are kept; null for <c>$TMPDIR</c>.</summary>
    public string? TempDirectory { get; }

    /// <summary>The server's environment variables (PATH, HOME, LANG, TZ, pass-env names, secrets).</summary>
    public Func<string, string?> ServerEnvironment { get; }

    /// <summary>Where the program's stderr is logged after each run (<c>log-stderr</c>, <c>--no-log-stderr</c>); null when it is not.</summary>
    public ILogger? StderrLog { get; }

    /// <summary>Where a <c>mode: http</c> function's workers log their lifecycle and their output.</summary>
    public ILogger WorkerLog { get; }

    /// <summary>At most <c>max-inflight</c> runs, <c>max-queue</c> waiting.</summary>
    public RunGate Gate { get; }

    /// <summary>Runs the function (see <see cref="IFunctionInvoker"/>).</summary>
    public IFunctionInvoker Invoker { get; }

    /// <summary>The methods the function answers, as the <c>Allow</c> header lists them.</summary>
    public string Allow { get; }

    /// <summary>Requests that reached this function (404s aside), for listings.</summary>
    public long Invocations => Interlocked.Read(ref _invocations);

    /// <summary>Counts one request to this function.</summary>
    public void CountInvocation() => Interlocked.Increment(ref _invocations);

    /// <summary>Whether the function answers <paramref name="method"/> (methods are case-sensitive).</summary>
    public bool Allows(string method)
    {
        foreach (string allowed in Proc.Methods)
        {
            if (string.Equals(allowed, method, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>GET and HEAD run with an empty stdin, whatever body the request may carry.</summary>
    public static bool HasInput(string method) => !HttpMethods.IsGet(method) && !HttpMethods.IsHead(method);
}
