using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Invokers;
using AotFaas.Workers;

namespace AotFaas.Dev;

/// <summary>
/// Makes each function's invoker with every way of running on: the production <c>Hosting/InvokerFactory</c>
/// keeps only the ways its compiled table uses, but a manifest read at run time may start using any of them
/// on the next save.
/// </summary>
internal static class DevInvokers
{
    public static IFunctionInvoker Create(FunctionPolicy policy)
        => policy.Proc.Mode == FunctionMode.Http ? new HttpProxyInvoker(policy, policy.WorkerLog) : new ExecInvoker(policy);
}
