namespace AotFaas.Functions;

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
/// server-wide cap shared by every function. Nothing waits without a bound. A freed slot goes
/// straight to the first waiter, which goes on on the thread that freed it (its own response is
/// written by then), saving a thread-pool hand-off per queued request.
/// </summary>
public sealed class RunGate(int maxInflight, int maxQueue, SemaphoreSlim total)
{
    private readonly object _lock = new();
    private readonly LinkedList<Waiter> _queue = new();
    private int _running;
    private TaskCompletionSource? _freed;

    public int MaxInflight { get; } = maxInflight;

    public int MaxQueue { get; } = maxQueue;

    /// <summary>Runs in flight now.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Requests waiting for a slot now.</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Takes a slot, waiting up to <paramref name="wait"/> in the queue when there is room in it.</summary>
    public async ValueTask<Admission> EnterAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        Waiter? waiter = null;
        lock (_lock)
        {
            if (_running < MaxInflight)
            {
                _running++;
            }
            else if (_queue.Count >= MaxQueue)
            {
                return Admission.QueueFull;
            }
            else
            {
                waiter = new Waiter(this);
                waiter.Node = _queue.AddLast(waiter);
            }
        }

        if (waiter is not null)
        {
            Admission waited = await WaitAsync(waiter, wait, cancellationToken).ConfigureAwait(false);
            if (waited != Admission.Admitted)
            {
                return waited;
            }
        }

        if (!total.Wait(0))
        {
            Exit(releaseTotal: false);
            return Admission.ServerFull;
        }

        return Admission.Admitted;
    }

    /// <summary>
    /// Takes a slot only when one is free now and no request waits for one: an asynchronous call never takes a
    /// synchronous request's place, it waits for the function to be idle enough (see <see cref="WhenFreedAsync"/>).
    /// </summary>
    public bool TryEnterIdle()
    {
        lock (_lock)
        {
            if (_running >= MaxInflight || _queue.Count > 0)
            {
                return false;
            }

            _running++;
        }

        if (!total.Wait(0))
        {
            Exit(releaseTotal: false);
            return false;
        }

        return true;
    }

    /// <summary>Completes the next time a slot is given back with nobody waiting for it, or after <paramref name="atMost"/>.</summary>
    public Task WhenFreedAsync(TimeSpan atMost, CancellationToken cancellationToken)
    {
        TaskCompletionSource freed;
        lock (_lock)
        {
            freed = _freed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        return freed.Task.WaitAsync(atMost, cancellationToken).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Gives back the slot of an admitted request: to the first waiter if there is one.</summary>
    public void Exit() => Exit(releaseTotal: true);

    private void Exit(bool releaseTotal)
    {
        if (releaseTotal)
        {
            total.Release();
        }

        Waiter? next = null;
        TaskCompletionSource? freed = null;
        lock (_lock)
        {
            if (_queue.First is LinkedListNode<Waiter> first)
            {
                // The slot passes to the first waiter: _running stays as it is.
                _queue.RemoveFirst();
                next = first.Value;
                next.Node = null;
            }
            else
            {
                _running--;
                (freed, _freed) = (_freed, null);
            }
        }

        next?.Admit();
        freed?.TrySetResult();
    }

    private async ValueTask<Admission> WaitAsync(Waiter waiter, TimeSpan wait, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(wait);
        using (deadline.Token.UnsafeRegister(static state => ((Waiter)state!).Gate.GiveUp((Waiter)state!), waiter))
        {
            if (await waiter.Task.ConfigureAwait(false))
            {
                return Admission.Admitted;
            }
        }

        return cancellationToken.IsCancellationRequested ? Admission.Canceled : Admission.TimedOut;
    }

    /// <summary>The waiter's deadline or client went: leave the queue, unless a slot was handed over first.</summary>
    private void GiveUp(Waiter waiter)
    {
        lock (_lock)
        {
            if (waiter.Node is null)
            {
                return;
            }

            _queue.Remove(waiter.Node);
            waiter.Node = null;
        }

        waiter.TrySetResult(false);
    }

    /// <summary>One queued request; its continuation runs where the slot is handed over.</summary>
    private sealed class Waiter(RunGate gate) : TaskCompletionSource<bool>(TaskCreationOptions.None)
    {
        public RunGate Gate { get; } = gate;

        public LinkedListNode<Waiter>? Node { get; set; }

        public void Admit() => TrySetResult(true);
    }
}
