namespace AotFaas.Execution;

/// <summary>What a request was told at the gate.</summary>
public enum Admission
{
    /// <summary>A slot is held; release it with <see cref="RunGate.Exit"/>.</summary>
    Admitted,

    /// <summary>Every slot is taken and the queue is full: 429.</summary>
    QueueFull,

    /// <summary>The server-wide cap on runs is reached: 429.</summary>
    ServerFull,

    /// <summary>The request's deadline passed while it waited: 504.</summary>
    TimedOut,

    /// <summary>The client went away while it waited.</summary>
    Canceled,
}

/// <summary>
/// Admission for one function: at most <c>max-inflight</c> runs at a time, at most <c>max-queue</c>
/// requests waiting for a slot (first come, first served, each until its own deadline), and a
/// server-wide cap shared by every function. Nothing waits without a bound.
/// </summary>
public sealed class RunGate(int maxInflight, int maxQueue, SemaphoreSlim total)
{
    private readonly SemaphoreSlim _slots = new(maxInflight, maxInflight);
    private int _waiting;

    public int MaxInflight { get; } = maxInflight;

    public int MaxQueue { get; } = maxQueue;

    /// <summary>Runs in flight now.</summary>
    public int Running => MaxInflight - _slots.CurrentCount;

    /// <summary>Requests waiting for a slot now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Takes a slot, waiting up to <paramref name="wait"/> in the queue when there is room in it.</summary>
    public async ValueTask<Admission> EnterAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        if (!_slots.Wait(0))
        {
            if (Interlocked.Increment(ref _waiting) > MaxQueue)
            {
                Interlocked.Decrement(ref _waiting);
                return Admission.QueueFull;
            }

            try
            {
                if (!await _slots.WaitAsync(wait, cancellationToken).ConfigureAwait(false))
                {
                    return Admission.TimedOut;
                }
            }
            catch (OperationCanceledException)
            {
                return Admission.Canceled;
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
        }

        if (!total.Wait(0))
        {
            _slots.Release();
            return Admission.ServerFull;
        }

        return Admission.Admitted;
    }

    /// <summary>Gives back the slot of an admitted request.</summary>
    public void Exit()
    {
        total.Release();
        _slots.Release();
    }
}
