using System.Diagnostics.Metrics;
using AotFaas.Functions;
using AotFaas.Invokers;

namespace AotFaas.Workers;

/// <summary>
/// The instruments of <c>mode: http</c> functions' workers, per function: up (ready), replicas, restarts and upstream
/// errors. Added to the server's meter only by a binary whose manifest has such a function.
/// </summary>
public static class WorkerMetrics
{
    /// <summary>Adds the instruments to <paramref name="meter"/>, read from <paramref name="policies"/> at each scrape.</summary>
    public static void Register(Meter meter, Func<IEnumerable<FunctionPolicy>> policies)
    {
        meter.CreateObservableUpDownCounter("aotfaas.workers.up", () => Per(policies(), static status => status.Ready), description: "Workers up and ready for calls, by function (mode: http).");
        meter.CreateObservableUpDownCounter("aotfaas.workers.replicas", () => Per(policies(), static status => status.Replicas), description: "Workers a function runs when it is not idle-stopped, by function (mode: http).");
        meter.CreateObservableCounter("aotfaas.worker.restarts", () => Per(policies(), static status => status.Restarts), description: "Workers started again after they exited or stopped answering, by function (mode: http).");
        meter.CreateObservableCounter("aotfaas.upstream_errors", () => Per(policies(), static status => status.UpstreamErrors), description: "Calls that failed between the server and a worker (refused, reset, malformed, timed out), by function (mode: http).");
    }

    private static IEnumerable<Measurement<long>> Per(IEnumerable<FunctionPolicy> policies, Func<IWorkerStatus, long> value)
    {
        foreach (FunctionPolicy policy in policies)
        {
            if (policy.Invoker.Workers is IWorkerStatus status)
            {
                yield return new Measurement<long>(value(status), new KeyValuePair<string, object?>("function", policy.Proc.FuncName));
            }
        }
    }
}
