using AotFaas.Functions;
using System.Diagnostics.Metrics;
using AotFaas.Execution;

namespace AotFaas.Operations;

/// <summary>
/// The server's instruments (System.Diagnostics.Metrics, meter <c>AotFaas</c>): invocations by
/// function and status, a duration histogram per function, runs in flight and queued per function,
/// timeouts, kills, spawn failures, bytes in and out, and the process's memory, CPU and descriptors.
/// <see cref="PrometheusExporter"/> reads them for <c>/metrics</c>.
/// </summary>
public sealed class FaasMetrics : IDisposable
{
    public const string MeterName = "AotFaas";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _invocations;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _timeouts;
    private readonly Counter<long> _kills;
    private readonly Counter<long> _spawnFailures;
    private readonly Counter<long> _bytesIn;
    private readonly Counter<long> _bytesOut;
    private readonly Counter<long> _unknown;

    /// <param name="policies">The policies of the functions served now (those asked for so far), read at each scrape.</param>
    /// <param name="more">Adds the instruments of a way of running the manifest uses (the workers of <c>mode: http</c>), if any.</param>
    public FaasMetrics(Func<IEnumerable<FunctionPolicy>> policies, Action<Meter, Func<IEnumerable<FunctionPolicy>>>? more = null)
    {
        _invocations = _meter.CreateCounter<long>("aotfaas.invocations", description: "Requests to a function, by function and response status (499: the client went away).");
        _duration = _meter.CreateHistogram<double>("aotfaas.invocation.duration", "s", "Time from receiving a request to its response, by function.");
        _timeouts = _meter.CreateCounter<long>("aotfaas.timeouts", description: "Requests that passed their timeout, waiting or running.");
        _kills = _meter.CreateCounter<long>("aotfaas.kills", description: "Runs the server stopped (timeout, max-output, client gone) by killing their process group.");
        _spawnFailures = _meter.CreateCounter<long>("aotfaas.spawn_failures", description: "Runs whose program could not be started.");
        _bytesIn = _meter.CreateCounter<long>("aotfaas.request", "By", "Request body bytes read for programs.");
        _bytesOut = _meter.CreateCounter<long>("aotfaas.response", "By", "Response body bytes.");
        _unknown = _meter.CreateCounter<long>("aotfaas.unknown_function_requests", description: "Requests for a function name that does not exist (404).");
        _meter.CreateObservableUpDownCounter("aotfaas.inflight", () => PerFunction(policies(), static policy => policy.Gate.Running), description: "Runs in flight, by function.");
        _meter.CreateObservableUpDownCounter("aotfaas.queued", () => PerFunction(policies(), static policy => policy.Gate.Waiting), description: "Requests waiting for a free slot, by function.");
        more?.Invoke(_meter, policies);
        _meter.CreateObservableUpDownCounter("process.resident_memory", () => Environment.WorkingSet, "By", "Resident memory of the server process.");
        _meter.CreateObservableCounter("process.cpu", () => Environment.CpuUsage.TotalTime.TotalSeconds, "s", "CPU time of the server process, user and system.");
        _meter.CreateObservableUpDownCounter("process.open_fds", OpenDescriptors, description: "Open file descriptors of the server process.");
        _meter.CreateObservableUpDownCounter("process.start_time", static () => StartTime, "s", "Start time of the server process, seconds since the Unix epoch.");
    }

    /// <summary>When the server started (when its metrics were created, a few milliseconds after exec).</summary>
    private static double StartTime { get; } = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>The instruments' meter, for listeners.</summary>
    public Meter Meter => _meter;

    /// <summary>Counts an invocation once it has ended.</summary>
    public void Record(Invocation invocation)
    {
        var function = new KeyValuePair<string, object?>("function", invocation.Function);
        _invocations.Add(1, function, new KeyValuePair<string, object?>("status", invocation.Status));
        _duration.Record(invocation.Elapsed.TotalSeconds, function);
        if (invocation.TimedOut)
        {
            _timeouts.Add(1, function);
        }

        if (invocation.Killed)
        {
            _kills.Add(1, function);
        }

        if (invocation.SpawnFailed)
        {
            _spawnFailures.Add(1, function);
        }

        _bytesIn.Add(invocation.BytesIn, function);
        _bytesOut.Add(invocation.BytesOut, function);
    }

    /// <summary>Counts a request for a name that is not a function.</summary>
    public void UnknownFunction() => _unknown.Add(1);

    public void Dispose() => _meter.Dispose();

    private static IEnumerable<Measurement<long>> PerFunction(IEnumerable<FunctionPolicy> policies, Func<FunctionPolicy, int> value)
    {
        foreach (FunctionPolicy policy in policies)
        {
            yield return new Measurement<long>(value(policy), new KeyValuePair<string, object?>("function", policy.Proc.FuncName));
        }
    }

    private static long OpenDescriptors()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries("/proc/self/fd").LongCount();
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
