namespace AotFaas.Async;

/// <summary>
/// Lets one failure line through every <see cref="Every"/>, and counts the rest into the next: a store that is down
/// (NATS reconnecting) fails each dispatcher's poll every second, and the log would say so as often.
/// </summary>
public sealed class FailureThrottle
{
    /// <summary>How often a failure is said at most.</summary>
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private long _saidAt = long.MinValue / 2;
    private int _unsaid;

    /// <summary>The line to log for <paramref name="reason"/> now (with the failures not said since), or null to stay quiet.</summary>
    public string? Next(string reason)
    {
        lock (_lock)
        {
            long now = Environment.TickCount64;
            if (now - _saidAt < (long)Every.TotalMilliseconds)
            {
                _unsaid++;
                return null;
            }

            _saidAt = now;
            int unsaid = _unsaid;
            _unsaid = 0;
            return unsaid > 0 ? $"{reason} ({unsaid} more store failures not logged in the last {Every.TotalSeconds:F0} s)" : reason;
        }
    }
}
