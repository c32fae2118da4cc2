namespace AotFaas.Tests.Http;

/// <summary>Waits on a function's gate as its metrics report it: the events the limit and containment tests order themselves by.</summary>
public static class GateMetrics
{
    /// <summary>
    /// True once <c>/metrics</c> says <paramref name="function"/> has <paramref name="running"/> runs in flight (and
    /// <paramref name="waiting"/> queued, when given); false after ten seconds.
    /// </summary>
    public static async Task<bool> WaitAsync(HttpClient client, string function, int running, int? waiting = null)
    {
        string inflight = $"aotfaas_inflight{{function=\"{function}\"}} {running}\n";
        string queued = $"aotfaas_queued{{function=\"{function}\"}} {waiting}\n";
        for (int i = 0; i < 500; i++)
        {
            string metrics = await client.GetStringAsync("/metrics");
            if (metrics.Contains(inflight, StringComparison.Ordinal) && (waiting is null || metrics.Contains(queued, StringComparison.Ordinal)))
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }
}
