namespace AotFaas.Async;

/// <summary>What accepting a call came to.</summary>
public enum EnqueueResult
{
    /// <summary>Stored durably: the call will run.</summary>
    Accepted,

    /// <summary>The function's <c>async-queue</c> is full: 429.</summary>
    QueueFull,

    /// <summary>A call with this id exists already.</summary>
    DuplicateId,

    /// <summary>The call with its body is larger than the store takes in one piece (a NATS server's max_payload): 413.</summary>
    TooLarge,
}

/// <summary>
/// Where asynchronous calls are kept from their 202 to the end of their retention: SQLite on one machine
/// (<see cref="SqliteCallStore"/>), NATS JetStream past it (<see cref="NatsCallStore"/>). A call answered 202 is stored durably before the answer; a call taken to run is
/// marked running, and queued again at the next start if its server died (at least once).
/// </summary>
public interface ICallStore : IAsyncDisposable
{
    /// <summary>Stores <paramref name="call"/> queued, unless <paramref name="queueLimit"/> calls of its function wait already.</summary>
    Task<EnqueueResult> EnqueueAsync(StoredCall call, int queueLimit);

    /// <summary>Takes the oldest queued call of <paramref name="function"/> to run (it is marked running by <paramref name="owner"/>), or null.</summary>
    Task<StoredCall?> ClaimNextAsync(string function, string owner);

    /// <summary>
    /// Takes the <paramref name="max"/> oldest queued calls of <paramref name="function"/> (or fewer: those there are),
    /// oldest first, each marked running by <paramref name="owner"/> as <see cref="ClaimNextAsync"/> marks one, in one go.
    /// The dispatcher takes a few ahead of its free slots; those it does not start it gives back with <see cref="RequeueAsync"/>.
    /// The default takes them one at a time.
    /// </summary>
    async Task<IReadOnlyList<StoredCall>> ClaimAsync(string function, string owner, int max)
    {
        var calls = new List<StoredCall>();
        while (calls.Count < max && await ClaimNextAsync(function, owner).ConfigureAwait(false) is StoredCall call)
        {
            calls.Add(call);
        }

        return calls;
    }

    /// <summary>Records the end of <paramref name="call"/> (its outcome fields set) and, when it has a callback, makes it due now.</summary>
    Task CompleteAsync(StoredCall call);

    /// <summary>
    /// Puts a call taken to run back in the queue (the server stops before it ran, or before it ended), its run count
    /// set to <see cref="StoredCall.Runs"/>: a call taken ahead and never started comes back with it lowered by one.
    /// </summary>
    Task RequeueAsync(StoredCall call);

    /// <summary>
    /// The call <paramref name="id"/> of <paramref name="function"/> as its status shows it, or null (never stored, or
    /// past its retention). A store that keeps a call's request and body apart leaves them out (empty).
    /// </summary>
    Task<StoredCall?> FindAsync(string function, string id);

    /// <summary>
    /// The most bytes of output <see cref="FindAsync"/> can bring for the call <paramref name="id"/> of
    /// <paramref name="function"/> now, read without reading the output: its length where the store can tell (0 for a
    /// call without output, or no call), otherwise the most one of the store's records holds. A status read takes this
    /// much of its budget before it reads the call.
    /// </summary>
    Task<long> OutputSizeAsync(string function, string id);

    /// <summary>
    /// Calls left running by a server that is gone (<paramref name="ownerAlive"/> says no for its owner) are queued again;
    /// returns how many. Calls of a server still running (the one this one replaces on SIGHUP, sharing the file) stay its.
    /// </summary>
    Task<int> RecoverAsync(Func<string?, bool> ownerAlive);

    /// <summary>Queued calls of <paramref name="functions"/> (and of any other function the store knows), and when the oldest of each was accepted (Unix milliseconds).</summary>
    Task<IReadOnlyDictionary<string, (int Queued, long OldestAcceptedAt)>> QueueStatsAsync(IReadOnlyCollection<string> functions);

    /// <summary>
    /// Until <paramref name="stopping"/>, calls <paramref name="queued"/> with a function's name when another server
    /// sharing the store queued a call of it (a call this one stored wakes its dispatcher itself). A store that cannot
    /// tell returns at once: the dispatchers' poll finds those calls.
    /// </summary>
    Task WatchAsync(Action<string> queued, CancellationToken stopping);

    /// <summary>Ended calls whose callback is due at <paramref name="now"/> (Unix milliseconds), at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<StoredCall>> DueCallbacksAsync(long now, int limit);

    /// <summary>Records a delivery attempt's outcome: its state, attempts and next due time.</summary>
    Task UpdateCallbackAsync(StoredCall call);

    /// <summary>Forgets ended calls that ended before <paramref name="before"/> (Unix milliseconds) and whose callback is settled.</summary>
    Task<int> PurgeAsync(long before);
}
