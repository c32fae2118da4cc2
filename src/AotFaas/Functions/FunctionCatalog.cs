using System.Collections.Concurrent;
using AotFaas.Invokers;

namespace AotFaas.Functions;

/// <summary>Finds a function by name and the <see cref="FunctionPolicy"/> it runs with (made on first use).</summary>
/// <param name="functions">Finds a function by name (the generated <c>FunctionTable.GetProcByFuncName</c>).</param>
/// <param name="limits">The server's defaults and limits.</param>
/// <param name="serverEnvironment">The server's environment variables.</param>
/// <param name="invokers">Makes a function's invoker (the generated <c>FunctionTable.CreateInvoker</c>).</param>
/// <param name="totalSlots">The server-wide slots (<c>--max-total-inflight</c>), when another catalog shares them; new ones when null.</param>
/// <param name="stderrLog">Where the functions' stderr is logged (each function's <c>log-stderr</c> permitting); nowhere when null.</param>
/// <param name="workerLog">Where the workers of <c>mode: http</c> functions log; nowhere when null.</param>
public sealed class FunctionCatalog(Func<string, Proc?> functions, RunLimits limits, Func<string, string?> serverEnvironment, Func<FunctionPolicy, IFunctionInvoker> invokers, SemaphoreSlim? totalSlots = null, ILogger? stderrLog = null, ILogger? workerLog = null)
{
    private readonly ConcurrentDictionary<Proc, FunctionPolicy> _policies = new();
    private readonly SemaphoreSlim _totalSlots = totalSlots ?? new(limits.MaxTotalInflight, limits.MaxTotalInflight);

    public RunLimits Limits { get; } = limits;

    /// <summary>The function named <paramref name="name"/> with its policy, or null.</summary>
    public FunctionPolicy? Find(string name)
    {
        Proc? proc = functions(name);
        return proc is null ? null : _policies.GetOrAdd(proc, static (p, self) => self.Create(p), this);
    }

    /// <summary>The policies made so far: the functions that have been asked for.</summary>
    public ICollection<FunctionPolicy> Policies => _policies.Values;

    private FunctionPolicy Create(Proc proc) => new(proc, Limits, serverEnvironment, _totalSlots, invokers, stderrLog, workerLog);
}
