namespace AotFaas.Async;

/// <summary>
/// The stored outputs that status reads hold, server-wide, from the store's read until the answer is sent: at most
/// <see cref="Limit"/> bytes together. A read takes the size of the output the store says the call has (or may have,
/// where the store cannot tell: at most the limit) before the call is read, and keeps only the size of the output it
/// found; a read that finds no room waits, and one that waits past its patience is refused. Waiting reads are served in
/// order, but one that fits goes ahead of one that does not: reads of small outputs are not held up behind a large one.
/// Without it, as many reads of a large output as callers sent each held their own copy at once (20 reads of a 16 MiB
/// output held gigabytes).
/// </summary>
internal sealed class StatusReads(long limit)
{
    private readonly Lock _lock = new();
    private readonly LinkedList<Lease> _waiting = new();
    private long _held;

    /// <summary>The most bytes held at once.</summary>
    public long Limit { get; } = limit;

    /// <summary>Bytes held now.</summary>
    public long Held
    {
        get
        {
            lock (_lock)
            {
                return _held;
            }
        }
    }

    /// <summary>
    /// A lease of <paramref name="bytes"/> (at most <see cref="Limit"/>), once they are free; null when
    /// <paramref name="patience"/> passed first or <paramref name="cancellationToken"/> fired. Dispose it once the
    /// answer is sent.
    /// </summary>
    public async Task<Lease?> TakeAsync(long bytes, TimeSpan patience, CancellationToken cancellationToken)
    {
        var lease = new Lease(this, Math.Clamp(bytes, 0, Limit));
        lock (_lock)
        {
            if (_held + lease.Bytes <= Limit)
            {
                _held += lease.Bytes;
                return lease;
            }

            lease.Node = _waiting.AddLast(lease);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(patience);
        using (timeout.Token.UnsafeRegister(static state => ((Lease)state!).GiveUp(), lease))
        {
            return await lease.Granted.Task.ConfigureAwait(false) ? lease : null;
        }
    }

    private void Give(long bytes)
    {
        lock (_lock)
        {
            _held -= bytes;
            for (LinkedListNode<Lease>? node = _waiting.First; node is not null && _held < Limit;)
            {
                LinkedListNode<Lease>? next = node.Next;
                if (_held + node.Value.Bytes <= Limit)
                {
                    _waiting.Remove(node);
                    _held += node.Value.Bytes;
                    node.Value.Granted.TrySetResult(true);
                }

                node = next;
            }
        }
    }

    /// <summary>Bytes held for one read.</summary>
    public sealed class Lease(StatusReads owner, long bytes) : IDisposable
    {
        private long _bytes = bytes;

        internal TaskCompletionSource<bool> Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal LinkedListNode<Lease>? Node { get; set; }

        /// <summary>The bytes held.</summary>
        public long Bytes => Volatile.Read(ref _bytes);

        /// <summary>Keeps only <paramref name="bytes"/> (the output found), giving back the rest; never more than taken.</summary>
        public void Keep(long bytes)
        {
            long back = Bytes - Math.Clamp(bytes, 0, Bytes);
            if (back > 0)
            {
                Interlocked.Add(ref _bytes, -back);
                owner.Give(back);
            }
        }

        /// <summary>Gives back all it holds.</summary>
        public void Dispose() => owner.Give(Interlocked.Exchange(ref _bytes, 0));

        internal void GiveUp()
        {
            lock (owner._lock)
            {
                if (Node?.List is null)
                {
                    return;
                }

                owner._waiting.Remove(Node);
            }

            Interlocked.Exchange(ref _bytes, 0);
            Granted.TrySetResult(false);
            // The one behind may fit now.
            owner.Give(0);
        }
    }
}
