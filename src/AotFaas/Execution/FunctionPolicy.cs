using AotFaas.Functions;
using AotFaas.Security;

namespace AotFaas.Execution;

/// <summary>
/// What one function runs with: its options where the manifest sets them, the server's defaults
/// where it does not, its environment block and its admission gate. Built once per function.
/// </summary>
public sealed class FunctionPolicy
{
    public FunctionPolicy(Proc proc, RunLimits limits, Func<string, string?> serverEnvironment, SemaphoreSlim totalSlots)
    {
        Proc = proc;
        Timeout = proc.Timeout ?? limits.Timeout;
        MaxBody = proc.MaxBody ?? limits.MaxBody;
        MaxOutput = proc.MaxOutput ?? limits.MaxOutput;
        KillGrace = limits.KillGrace;
        TempDirectory = limits.TempDirectory;
        int inflight = proc.MaxInflight ?? limits.MaxInflight;
        Gate = new RunGate(inflight, proc.MaxQueue ?? limits.MaxQueue ?? 4 * inflight, totalSlots);
        Environment = ProcessEnvironment.ForFunction(proc, serverEnvironment);
        Executable = new ExecutablePath(proc.Executable, serverEnvironment("PATH"));
        Auth = FunctionAuth.For(proc, serverEnvironment);
        Allow = string.Join(", ", proc.Methods);
    }

    private long _invocations;

    /// <summary>Requests that reached this function (404s aside), for listings.</summary>
    public long Invocations => Interlocked.Read(ref _invocations);

    /// <summary>Counts one request to this function.</summary>
    public void CountInvocation() => Interlocked.Increment(ref _invocations);

    /// <summary>The <c>auth</c> check, with its secret, or null.</summary>
    public FunctionAuth? Auth { get; }

    /// <summary>The methods the function answers, as the <c>Allow</c> header lists them.</summary>
    public string Allow { get; }

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

    /// <summary>Where the program is, looked up on PATH once.</summary>
    public ExecutablePath Executable { get; }

    public Proc Proc { get; }

    public TimeSpan Timeout { get; }

    public long MaxBody { get; }

    public long MaxOutput { get; }

    public TimeSpan KillGrace { get; }

    /// <summary>Where stdout past its in-memory part, and a signed body being checked, are kept; null for <c>$TMPDIR</c>.</summary>
    public string? TempDirectory { get; }

    public RunGate Gate { get; }

    public ProcessEnvironment Environment { get; }
}
