namespace AotFaas.Hosting;

/// <summary>A warning logged when its condition starts, then at most once a minute while it lasts, never once per event.</summary>
public sealed class RateLimitedWarning(ILogger logger, TimeSpan? interval = null)
{
    private readonly long _intervalMilliseconds = (long)(interval ?? TimeSpan.FromMinutes(1)).TotalMilliseconds;
    private long _next = long.MinValue;
    private long _suppressed;

    /// <summary>Logs <paramref name="message"/> unless a warning went out within the interval; counts it otherwise.</summary>
    public void Log(string message)
    {
        long now = Environment.TickCount64;
        long next = Interlocked.Read(ref _next);
        if (now < next || Interlocked.CompareExchange(ref _next, now + _intervalMilliseconds, next) != next)
        {
            Interlocked.Increment(ref _suppressed);
            return;
        }

        long suppressed = Interlocked.Exchange(ref _suppressed, 0);
        if (suppressed > 0)
        {
            logger.LogWarning("{Message} ({Suppressed} more times since the last warning)", message, suppressed);
        }
        else
        {
            logger.LogWarning("{Message}", message);
        }
    }
}
