namespace AotFaas.Async;

/// <summary>A wake-up that is not lost when it comes before the wait.</summary>
internal sealed class Signal
{
    private TaskCompletionSource _set = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Set() => Volatile.Read(ref _set).TrySetResult();

    public async Task WaitAsync(TimeSpan atMost, CancellationToken cancellationToken)
    {
        TaskCompletionSource current = Volatile.Read(ref _set);
        try
        {
            await current.Task.WaitAsync(atMost, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        if (current.Task.IsCompleted)
        {
            Interlocked.CompareExchange(ref _set, new(TaskCreationOptions.RunContinuationsAsynchronously), current);
        }
    }
}
