namespace AotFaas.Async;

/// <summary>
/// The memory the bodies of asynchronous calls hold while they are read and stored, server-wide: a body is held whole
/// until its store takes it (SQLite takes a blob at once). A body takes its <see cref="Share"/> as its bytes arrive,
/// never what its Content-Length announces, so a caller that announces a large body and stalls, or trickles it, holds
/// what it sent and no more; a reader whose share cannot grow waits until others give some back, within its deadline.
/// Waiters are served in order, but one that fits goes ahead of a larger one that does not: a few small bodies are
/// never held up behind a large one.
/// </summary>
internal sealed class BodyBudget
{
    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private long _limit;
    private long _taken;
    private int _bodies;

    /// <summary>The most bytes all bodies may hold together (it only grows, <see cref="AtLeast"/>).</summary>
    public long Limit
    {
        get
        {
            lock (_lock)
            {
                return _limit;
            }
        }
    }

    /// <summary>Bytes the bodies hold now.</summary>
    public long Taken
    {
        get
        {
            lock (_lock)
            {
                return _taken;
            }
        }
    }

    /// <summary>Bodies being read or stored now.</summary>
    public int Bodies
    {
        get
        {
            lock (_lock)
            {
                return _bodies;
            }
        }
    }

    /// <summary>Raises the limit to <paramref name="limit"/> if it is lower; waiters that now fit go on.</summary>
    public void AtLeast(long limit)
    {
        lock (_lock)
        {
            if (limit > _limit)
            {
                _limit = limit;
                GrantWaiters();
            }
        }
    }

    /// <summary>A share for one body, holding nothing yet; dispose it once the body is stored or refused.</summary>
    public Share Enter()
    {
        lock (_lock)
        {
            _bodies++;
        }

        return new Share(this);
    }

    private bool TryTake(long bytes)
    {
        lock (_lock)
        {
            if (_taken + bytes > _limit)
            {
                return false;
            }

            _taken += bytes;
            return true;
        }
    }

    private async Task<bool> TakeAsync(long bytes, CancellationToken cancellationToken)
    {
        var waiter = new Waiter(this, bytes);
        lock (_lock)
        {
            if (_taken + bytes <= _limit)
            {
                _taken += bytes;
                return true;
            }

            waiter.Node = _waiters.AddLast(waiter);
        }

        // Granted and cancelled are both decided under the lock, once: a waiter cancelled took nothing.
        using (cancellationToken.UnsafeRegister(static state => ((Waiter)state!).Cancel(), waiter))
        {
            return await waiter.Task.ConfigureAwait(false);
        }
    }

    private void Give(long bytes, bool leaving)
    {
        lock (_lock)
        {
            _taken -= bytes;
            if (leaving)
            {
                _bodies--;
            }

            GrantWaiters();
        }
    }

    private void GrantWaiters()
    {
        for (LinkedListNode<Waiter>? node = _waiters.First; node is not null && _taken < _limit;)
        {
            LinkedListNode<Waiter>? next = node.Next;
            if (_taken + node.Value.Bytes <= _limit)
            {
                _taken += node.Value.Bytes;
                _waiters.Remove(node);
                node.Value.TrySetResult(true);
            }

            node = next;
        }
    }

    private sealed class Waiter(BodyBudget owner, long bytes) : TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public long Bytes { get; } = bytes;

        public LinkedListNode<Waiter>? Node { get; set; }

        public void Cancel()
        {
            lock (owner._lock)
            {
                if (Node?.List is null)
                {
                    return;
                }

                owner._waiters.Remove(Node);
            }

            TrySetResult(false);
        }
    }

    /// <summary>What one body holds of the budget; used by one reader at a time.</summary>
    public sealed class Share : IDisposable
    {
        private readonly BodyBudget _owner;
        private long _bytes;
        private bool _left;

        internal Share(BodyBudget owner) => _owner = owner;

        /// <summary>The bytes this body holds.</summary>
        public long Bytes => _bytes;

        /// <summary>Takes <paramref name="bytes"/> more if the budget has them now.</summary>
        public bool TryGrow(long bytes)
        {
            if (!_owner.TryTake(bytes))
            {
                return false;
            }

            _bytes += bytes;
            return true;
        }

        /// <summary>Takes <paramref name="bytes"/> more, waiting for them; false when <paramref name="cancellationToken"/> fired first (nothing taken).</summary>
        public async Task<bool> GrowAsync(long bytes, CancellationToken cancellationToken)
        {
            if (!await _owner.TakeAsync(bytes, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            _bytes += bytes;
            return true;
        }

        /// <summary>Gives back <paramref name="bytes"/> this body no longer holds.</summary>
        public void Shrink(long bytes)
        {
            _bytes -= bytes;
            _owner.Give(bytes, leaving: false);
        }

        /// <summary>Gives back all this body holds.</summary>
        public void Dispose()
        {
            if (!_left)
            {
                _left = true;
                _owner.Give(_bytes, leaving: true);
                _bytes = 0;
            }
        }
    }
}
