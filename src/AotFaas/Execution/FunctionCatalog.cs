using System.Collections.Concurrent;
using AotFaas.Functions;

namespace AotFaas.Execution;

/// <summary>Finds a function by name and the <see cref="FunctionPolicy"/> it runs with (made on first use).</summary>
public sealed class FunctionCatalog(Func<string, Proc?> functions, RunLimits limits, Func<string, string?> serverEnvironment)
{
    private readonly ConcurrentDictionary<Proc, FunctionPolicy> _policies = new();
    private readonly SemaphoreSlim _totalSlots = new(limits.MaxTotalInflight, limits.MaxTotalInflight);

    public RunLimits Limits { get; } = limits;

    /// <summary>The function named <paramref name="name"/> with its policy, or null.</summary>
    public FunctionPolicy? Find(string name)
    {
        Proc? proc = functions(name);
        return proc is null ? null : _policies.GetOrAdd(proc, static (p, self) => new FunctionPolicy(p, self.Limits, self.ServerEnvironment, self._totalSlots), this);
    }

    /// <summary>The policies made so far: the functions that have been asked for.</summary>
    public ICollection<FunctionPolicy> Policies => _policies.Values;

    private Func<string, string?> ServerEnvironment => serverEnvironment;
}
