namespace AotFaas.Async;

/// <summary>
/// The memory the bodies of asynchronous calls hold while they are read and stored, server-wide: a body is held whole
/// until its store takes it (SQLite takes a blob at once), in one array that doubles as its bytes arrive.
/// </summary>
/// <remarks>
/// <para>
/// A body takes room as its bytes arrive, never what its Content-Length announces up front, so a caller that announces
/// a large body and stalls, or trickles it, holds about what it sent (at most twice, the arrays doubling). But a body
/// only grows while the room left free would still let it end on its own: take the array of its whole length (the
/// length it announced, capped by max-body; without one, its max-body, then the exact copy of what came) while still
/// holding the one it has. When a doubling would leave less than that, a body with a length takes its whole length at
/// once if it fits, and otherwise waits until it fits; a body without a length waits until its growth leaves that much.
/// A body that has all come takes an array of just its size, its last: a small body without a length, which often comes
/// whole with its head, needs no more room than one with a length.
/// </para>
/// <para>
/// So bodies never wait on one another in a circle (the banker's rule): after every grant there is an order in which
/// every body being read can end, the one just served first; a body with a length that took it whole never waits again.
/// Without the rule, bodies growing side by side could each hold half of what they need and wait for room only another
/// waiting body could give back, all of them until their deadline (8 bodies of max-body sent at full speed did).
/// </para>
/// <para>
/// What callers can hold up: a body waits only while less than its whole length (twice its max-body without a length)
/// is free, that is while the others hold all the rest. Callers that stall hold at most twice what they sent (one of
/// them may take its whole length once that is about all that is left), so with a budget of 4 max-body they hold up
/// others, large bodies and small alike, only once they have sent about 3/8 of it between them. There is no turn a
/// few cheap callers can take. Waiters are served in order, but one whose step fits goes ahead of one whose step does
/// not: a few small bodies are never held up behind a large one.
/// </para>
/// <para>
/// A body waiting for room is not read: the server's HTTP layer keeps up to its request buffer (1 MiB by default) of it
/// on the caller's behalf, outside the budget, whether all of it has come or not. So at most <see cref="MaxWaiters"/>
/// bodies wait for room to grow, or for their one array once they have all come; past them a body finds no room at once
/// (its caller gets 503 and Retry-After), instead of hundreds of callers each parking a buffer for their whole timeout.
/// A body waiting for the copy that ends it holds what came in its array, inside the budget, and is not counted.
/// </para>
/// </remarks>
internal sealed class BodyBudget(int maxWaiters = BodyBudget.DefaultMaxWaiters)
{
    /// <summary>The most room a body is given for its first bytes (twice what came, up to this); it doubles as the body grows.</summary>
    public const int FirstRoom = 4096;

    /// <summary>The default of <see cref="MaxWaiters"/>: with Kestrel's request buffer of 1 MiB, 16 MiB unread at most.</summary>
    public const int DefaultMaxWaiters = 16;

    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private int _growing;
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

    /// <summary>The most bodies that wait for room to grow at once, or for their one array (their bytes are held outside the budget).</summary>
    public int MaxWaiters { get; } = maxWaiters;

    /// <summary>Bodies waiting for room to grow, or for their one array, now.</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _growing;
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

    /// <summary>
    /// Raises the limit to <paramref name="limit"/> if it is lower; waiters that now fit go on. It must be at least twice
    /// the max-body of any body that enters, so that one without a length can always end alone.
    /// </summary>
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

    /// <summary>
    /// A share for one body of <paramref name="length"/> bytes (null: not announced) refused past
    /// <paramref name="maxBody"/>, holding nothing yet; dispose it once the body is stored or refused.
    /// </summary>
    public Share Enter(long? length, long maxBody)
    {
        lock (_lock)
        {
            _bodies++;
        }

        long claim = Math.Min(Math.Min(length ?? maxBody, maxBody), Array.MaxLength);
        return new Share(this, Math.Max(claim, 0), sized: length is not null);
    }

    /// <summary>Takes the room of <paramref name="share"/>'s next array now, or queues a waiter for it.</summary>
    private ValueTask<long> TakeAsync(Share share, long needed, bool last, bool unread, CancellationToken cancellationToken)
    {
        Waiter waiter;
        lock (_lock)
        {
            long room = share.Step(_limit - _taken, needed, last);
            if (room > 0)
            {
                _taken += room;
                return ValueTask.FromResult(room);
            }

            // Past the waiters with bytes left in the HTTP layer a body may have, none is left: refused at once, as at
            // its deadline.
            if (cancellationToken.IsCancellationRequested || (unread && _growing >= MaxWaiters))
            {
                return ValueTask.FromResult(0L);
            }

            waiter = new Waiter(this, share, needed, last, unread);
            waiter.Node = _waiters.AddLast(waiter);
            _growing += unread ? 1 : 0;
            share.Waiting = waiter;
        }

        return WaitAsync(waiter, cancellationToken);
    }

    private static async ValueTask<long> WaitAsync(Waiter waiter, CancellationToken cancellationToken)
    {
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
            Waiter waiter = node.Value;
            long room = waiter.Share.Step(_limit - _taken, waiter.Needed, waiter.Last);
            if (room > 0)
            {
                _taken += room;
                Remove(waiter);
                waiter.TrySetResult(room);
            }

            node = next;
        }
    }

    /// <summary>Takes <paramref name="waiter"/> off the queue (under the lock).</summary>
    private void Remove(Waiter waiter)
    {
        _waiters.Remove(waiter.Node!);
        _growing -= waiter.Unread ? 1 : 0;
    }

    internal sealed class Waiter(BodyBudget owner, Share share, long needed, bool last, bool unread) : TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public Share Share { get; } = share;

        public long Needed { get; } = needed;

        public bool Last { get; } = last;

        /// <summary>Its bytes are in the HTTP layer's buffer, not yet in an array: counted among <see cref="MaxWaiters"/>.</summary>
        public bool Unread { get; } = unread;

        public LinkedListNode<Waiter>? Node { get; set; }

        public void Cancel()
        {
            lock (owner._lock)
            {
                if (Node?.List is null)
                {
                    return;
                }

                owner.Remove(this);
            }

            TrySetResult(0);
        }
    }

    /// <summary>What one body holds of the budget: its array, and the next one while it is copied; used by one reader at a time.</summary>
    public sealed class Share : IDisposable
    {
        private readonly BodyBudget _owner;
        private readonly long _claim;
        private readonly bool _sized;
        private long _bytes;
        private long _room;
        private long _next;
        private bool _left;

        internal Share(BodyBudget owner, long claim, bool sized)
        {
            _owner = owner;
            _claim = claim;
            _sized = sized;
        }

        /// <summary>The bytes this body holds.</summary>
        public long Bytes => _bytes;

        /// <summary>The body announced its length (without one, it comes in chunks and may end with its first).</summary>
        public bool Sized => _sized;

        /// <summary>The size of the array the body is read into.</summary>
        public long Room => _room;

        /// <summary>
        /// Takes the room of a larger array, of at least <paramref name="needed"/> bytes, waiting for it if need be; its
        /// size, or 0 when <paramref name="cancellationToken"/> fired first (nothing taken). The array held now stays
        /// taken until <see cref="Moved"/>.
        /// </summary>
        /// <param name="needed">The bytes that came so far.</param>
        /// <param name="whole">
        /// They are all that will come (the body ended): the array is of exactly that size, the last one, and the room it
        /// would otherwise leave for growth (twice the max-body for a body without a length) is not needed.
        /// </param>
        /// <param name="cancellationToken">Gives up waiting.</param>
        public ValueTask<long> GrowAsync(long needed, CancellationToken cancellationToken, bool whole = false)
        {
            if (needed <= _room || needed > _claim)
            {
                throw new ArgumentOutOfRangeException(nameof(needed), needed, $"not between the room {_room} and the claim {_claim}");
            }

            return Take(needed, last: whole, unread: true, cancellationToken);
        }

        /// <summary>
        /// Takes the room of the body's last array, of exactly the <paramref name="written"/> bytes that came (smaller
        /// than the one it is in), waiting for it if need be; 0 when <paramref name="cancellationToken"/> fired first.
        /// </summary>
        public ValueTask<long> EndAsync(long written, CancellationToken cancellationToken)
        {
            if (written <= 0 || written >= _room)
            {
                throw new ArgumentOutOfRangeException(nameof(written), written, $"not between 0 and the room {_room}");
            }

            return Take(written, last: true, unread: false, cancellationToken);
        }

        /// <summary>The body moved to the array taken last: the one it was in is given back.</summary>
        public void Moved()
        {
            long old = _room;
            _room = _next;
            _next = 0;
            _bytes -= old;
            _owner.Give(old, leaving: false);
        }

        /// <summary>Its waiter for room, if it waits (set under the owner's lock; a granted or cancelled one stays, harmless).</summary>
        internal Waiter? Waiting { private get; set; }

        /// <summary>Stops waiting for room, if it waits: the pending grow then gives 0, nothing taken (unless granted first).</summary>
        public void StopWaiting() => Waiting?.Cancel();

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

        private async ValueTask<long> Take(long needed, bool last, bool unread, CancellationToken cancellationToken)
        {
            long room = await _owner.TakeAsync(this, needed, last, unread, cancellationToken).ConfigureAwait(false);
            _next = room;
            _bytes += room;
            return room;
        }

        /// <summary>
        /// The room of the next array that leaves the budget safe with <paramref name="free"/> bytes free (under the
        /// owner's lock), 0 when none does yet.
        /// </summary>
        internal long Step(long free, long needed, bool last)
        {
            if (last)
            {
                // With this copy the body ends: it holds no more until it is stored.
                return free >= needed ? needed : 0;
            }

            // Twice the array, or twice what came up to the first room: never more than twice what came.
            long doubled = Math.Min(Math.Max(needed, Math.Min(Math.Max(2 * _room, FirstRoom), 2 * needed)), _claim);
            if (_sized)
            {
                // Short of its length, the array must leave room for the array of its whole length (taken while it
                // still holds this one); failing that, the whole length at once, if it fits.
                if (doubled < _claim && free - doubled + _room >= _claim)
                {
                    return doubled;
                }

                return free >= _claim ? _claim : 0;
            }

            // Without a length, the body may end needing the array of its max-body and then, while holding it, a copy
            // of what came: the array must leave room for that, twice the max-body, counting the one given back.
            return free >= doubled && free - doubled + _room >= (doubled < _claim ? 2 * _claim - doubled : _claim) ? doubled : 0;
        }
    }
}
