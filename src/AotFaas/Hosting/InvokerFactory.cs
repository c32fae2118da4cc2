using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Invokers;
using AotFaas.Workers;

namespace AotFaas.Hosting;

/// <summary>
/// Makes the invoker of each function from what the generated <see cref="FunctionTable"/> says the manifest
/// uses. Each way of running sits behind a constant of the table: the compiler drops the branch of a way no
/// function uses, nothing references its code, and the trimmer leaves it out of the binary, so a manifest
/// pays in size and start-up only for what it uses.
/// </summary>
public static class InvokerFactory
{
    /// <summary>The metrics of the ways of running the manifest uses: the workers' when a function has <c>mode: http</c>.</summary>
    public static Action<System.Diagnostics.Metrics.Meter, Func<IEnumerable<FunctionPolicy>>>? Instruments
        => FunctionTable.ProxiesHttp ? WorkerMetrics.Register : null;

    /// <summary>The invoker for <paramref name="policy"/>'s function.</summary>
    public static IFunctionInvoker Create(FunctionPolicy policy)
    {
        if (FunctionTable.ProxiesHttp && policy.Proc.Mode == FunctionMode.Http)
        {
            return new HttpProxyInvoker(policy, policy.WorkerLog);
        }

        return FunctionTable.RunsPrograms
            ? new ExecInvoker(policy)
            : throw new InvalidOperationException($"'{policy.Proc.FuncName}' has no way to run in this binary");
    }
}
