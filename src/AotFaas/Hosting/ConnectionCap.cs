namespace AotFaas.Hosting;

/// <summary>
/// How many connections may be open at once, across every listener (<c>--max-connections</c>). At the
/// cap the listeners stop accepting, so new connections wait in the kernel's listen backlog, costing
/// no descriptor and no CPU, until one closes.
/// </summary>
public sealed class ConnectionCap(int max)
{
    /// <summary>What each run holds: stdin, stdout and stderr pipe ends, a pidfd, up to two unnamed temporary files.</summary>
    public const int DescriptorsPerRun = 6;

    /// <summary>Descriptors kept for the server itself: the runtime, the listeners, the I/O loop, logs.</summary>
    public const int Reserve = 64;

    private readonly SemaphoreSlim _free = new(max, max);

    /// <summary>The cap.</summary>
    public int Max { get; } = max;

    /// <summary>
    /// The default cap: the descriptor limit less <see cref="DescriptorsPerRun"/> for each of
    /// <paramref name="maxTotalInflight"/> runs and the <see cref="Reserve"/>; at least a quarter of the
    /// limit, so that a low limit still serves (its runs then compete with connections for descriptors).
    /// </summary>
    public static int DefaultFor(long descriptorLimit, int maxTotalInflight)
    {
        long room = descriptorLimit - Reserve - ((long)DescriptorsPerRun * maxTotalInflight);
        long cap = Math.Max(room, descriptorLimit / 4);
        return (int)Math.Clamp(cap, 1, 1_000_000);
    }

    /// <summary>The connections open now.</summary>
    public int Open => Max - _free.CurrentCount;

    /// <summary>Takes a place without waiting; false at the cap.</summary>
    public bool TryTake() => _free.Wait(0);

    /// <summary>Waits for a place.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public Task TakeAsync(CancellationToken cancellationToken) => _free.WaitAsync(cancellationToken);

    /// <summary>Gives back a place taken with <see cref="TryTake"/> or <see cref="TakeAsync"/>.</summary>
    public void Release() => _free.Release();
}
