// Longer than the ~300 lines a file here is held to: every operation of the store is a few JetStream calls, and how
// they fit together (which message holds what, who acknowledges it when) is only clear read side by side.
using System.Collections.Concurrent;
using System.Text;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;

namespace AotFaas.Async;

/// <summary>
/// Calls kept in NATS JetStream, shared by every server that names the same stream (<c>--async-store
/// nats://HOST:4222/STREAM</c>):
/// <list type="bullet">
/// <item>the stream STREAM is a work queue over <c>STREAM.calls.FUNCTION.ID</c> (one message per queued call: the
/// request and its body) and <c>STREAM.callbacks.FUNCTION.ID</c> (one per callback to deliver);</item>
/// <item>each function has a durable pull consumer, <c>calls-FUNCTION</c>, shared by all servers: a message is given to
/// one server at a time, which holds it while the call runs (acknowledging progress three times per ack wait) and
/// acknowledges it once the call's end is recorded. A server that dies stops acknowledging: the message is given to
/// another after <see cref="AckWait"/> (at least once). A stopping server gives its calls back at once (nak);</item>
/// <item>the key-value bucket <c>STREAM-calls</c> holds each taken call's status, kept for the retention (the bucket's
/// max age, counted from the call's last change);</item>
/// <item>deliveries are the consumer <c>callbacks</c>: a failed attempt is given back with the pause before the next
/// one (nak with delay), so the retries survive any server;</item>
/// <item><c>STREAM.queued</c> (plain NATS, not stored) tells every server that a call was queued, so the one with a
/// free slot runs it without waiting for its poll.</item>
/// </list>
/// Names in subjects, consumer names and keys are written with <see cref="Token"/>.
/// </summary>
public sealed partial class NatsCallStore : ICallStore
{
    /// <summary>How long a server may go without acknowledging a call it holds before the call is given to another.</summary>
    public static readonly TimeSpan DefaultAckWait = TimeSpan.FromSeconds(30);

    /// <summary>How long JetStream remembers a call's id to refuse a second call with it.</summary>
    public static readonly TimeSpan DuplicateWindow = TimeSpan.FromHours(1);

    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    /// <summary>How long one store operation may take: a NATS that does not answer (stalled, or its network) fails it then.</summary>
    private static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(5);

    // Every acknowledgement waits for the server's answer: one only written to the socket may be lost with a
    // connection closed right after (a stopping server's nak), and the call would wait the whole ack wait.
    private static readonly AckOpts Confirmed = new() { DoubleAck = true };

    private readonly NatsConnection _nats;
    private readonly NatsJSContext _js;
    private readonly NatsAddress _address;
    private readonly TimeSpan _retention;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, Task<INatsJSConsumer>> _consumers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<StoredCall, NatsJSMsg<byte[]>> _held = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentDictionary<string, QueueLength> _queues = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _closing = new();
    private readonly TimeSpan _ackWait;
    private readonly Task _heartbeats;
    private INatsKVStore? _statuses;
    private INatsJSConsumer? _callbacks;
    private long _repairedAt = long.MinValue / 2;
    private int _repairing;

    private NatsCallStore(NatsConnection nats, NatsAddress address, TimeSpan retention, TimeSpan ackWait, ILogger log)
    {
        _nats = nats;
        _js = new NatsJSContext(nats);
        _address = address;
        _retention = retention;
        _ackWait = ackWait;
        _log = log;
        _heartbeats = HeartbeatsAsync();
    }

    /// <summary>How often a server says it still works on the calls it holds: three times per ack wait.</summary>
    private TimeSpan Heartbeat => _ackWait / 3;

    private INatsKVStore Statuses => _statuses ?? throw new IOException("NATS: the status bucket is not there");

    /// <summary>The stream's name.</summary>
    public string Stream => _address.Stream;

    /// <summary>The largest message the server takes (its <c>max_payload</c>): a call with its body must fit in one.</summary>
    public long MaxPayload => _nats.ServerInfo?.MaxPayload ?? 1024 * 1024;

    public override string ToString() => _address.ToString();

    /// <summary>Connects to the server of <paramref name="address"/>, and makes its stream, consumers and bucket when missing.</summary>
    /// <exception cref="IOException">The server cannot be reached, has no JetStream, or has a stream of that name that does not fit (see <see cref="EnsureAsync"/>).</exception>
    /// <param name="ackWait">How long a call held by a server that stopped answering waits before another takes it (<see cref="DefaultAckWait"/> when null).</param>
    public static async Task<NatsCallStore> OpenAsync(NatsAddress address, TimeSpan retention, Func<string, string?> environment, ILogger log, TimeSpan? ackWait = null)
    {
        var options = NatsOpts.Default with
        {
            Url = address.Server,
            Name = "aotfaas",
            ConnectTimeout = OperationTimeout,
            RequestTimeout = OperationTimeout,
            AuthOpts = NatsAuthOpts.Default with
            {
                Username = environment("NATS_USER"),
                Password = environment("NATS_PASSWORD"),
                Token = environment("NATS_TOKEN"),
            },
        };
        var nats = new NatsConnection(options);
        var store = new NatsCallStore(nats, address, retention, ackWait ?? DefaultAckWait, log);
        try
        {
            using var deadline = new CancellationTokenSource(OperationTimeout * 2);
            await nats.ConnectAsync().AsTask().WaitAsync(deadline.Token).ConfigureAwait(false);
            await store.EnsureAsync(deadline.Token).ConfigureAwait(false);
            return store;
        }
        catch (Exception e) when (IsFailure(e))
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"cannot use the NATS store {address}: {Reason(e)}", e);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Makes what is missing (the stream, the status bucket, the callbacks' consumer), and checks a stream an operator
    /// made: a work queue over our subjects, without limits that would drop accepted calls unsaid (a max age, count or
    /// size with "discard old"), and without <c>STREAM.queued</c> (the wake-ups are not to be stored).
    /// </summary>
    private async Task EnsureAsync(CancellationToken cancellationToken)
    {
        string name = Stream;
        string[] subjects = [$"{name}.calls.>", $"{name}.callbacks.>"];
        INatsJSStream stream;
        try
        {
            stream = await _js.GetStreamAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException e) when (e.Error.Code == 404)
        {
            // Made by the first server; one made by another meanwhile with the same configuration is taken as it is.
            stream = await _js.CreateOrUpdateStreamAsync(new StreamConfig(name, subjects)
            {
                Retention = StreamConfigRetention.Workqueue,
                Storage = StreamConfigStorage.File,
                DuplicateWindow = DuplicateWindow,
                Description = "AotFaas: asynchronous calls waiting to run, and callbacks waiting to be delivered",
            }, cancellationToken).ConfigureAwait(false);
        }

        StreamConfig config = stream.Info.Config;
        if (config.Retention != StreamConfigRetention.Workqueue || config.Subjects is not { } have || !subjects.All(have.Contains))
        {
            throw new IOException($"the stream {name} exists but is not a work queue over {string.Join(" and ", subjects)}");
        }

        if (have.Any(subject => subject is ">" || subject == $"{name}.>" || subject == $"{name}.queued" || subject == $"{name}.*"))
        {
            throw new IOException($"the stream {name} takes {name}.queued, the servers' wake-ups, which are not to be stored: list {string.Join(" and ", subjects)} alone");
        }

        bool limited = config.MaxAge > TimeSpan.Zero || config.MaxMsgs > 0 || config.MaxBytes > 0 || config.MaxMsgsPerSubject > 0;
        if (limited && config.Discard != StreamConfigDiscard.New)
        {
            throw new IOException($"the stream {name} has a limit (max age, messages or bytes) that drops old messages: accepted calls would be lost unsaid; remove the limit or set discard to new");
        }

        if (config.Storage == StreamConfigStorage.Memory)
        {
            LogMemoryStream(_log, name);
        }

        _statuses = await new NatsKVContext(_js).CreateOrUpdateStoreAsync(new NatsKVConfig(name + "-calls")
        {
            MaxAge = _retention,
            History = 1,
            Storage = NatsKVStorageType.File,
            Description = "AotFaas: the status of each asynchronous call taken to run, kept for the retention",
        }, cancellationToken).ConfigureAwait(false);
        _callbacks = await _js.CreateOrUpdateConsumerAsync(name, new ConsumerConfig("callbacks")
        {
            FilterSubject = $"{name}.callbacks.>",
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            AckWait = _ackWait,
            MaxDeliver = -1,
        }, cancellationToken).ConfigureAwait(false);
    }

    public async Task<EnqueueResult> EnqueueAsync(StoredCall call, int queueLimit)
    {
        byte[] message = CallRecord.Encode(call, withRequest: true);
        if (message.Length > MaxPayload - 4096)
        {
            return EnqueueResult.TooLarge;
        }

        return await RunAsync(async cancellationToken =>
        {
            // An id taken by a call that ran and whose status is kept; one queued or running is refused by JetStream
            // itself below (its message is still there).
            if ((await Statuses.TryGetEntryAsync(Key(call.Function, call.Id), serializer: Raw, cancellationToken: cancellationToken).ConfigureAwait(false)).Success)
            {
                return EnqueueResult.DuplicateId;
            }

            // One accept at a time per function, from the queue's length to the stored message: the bound holds exactly
            // for this server's callers (servers sharing the stream check it each on its own, so together they may pass
            // it by as many calls as accept at once elsewhere). The length is JetStream's count of the consumer's pending
            // messages, asked again when it is older than a quarter of a second or the bound seems reached, plus the
            // calls this server stored since.
            QueueLength queue = _queues.GetOrAdd(call.Function, static _ => new QueueLength());
            await queue.Turn.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (Environment.TickCount64 - queue.CountedAt > 250 || queue.Pending + queue.StoredSince >= (ulong)queueLimit)
                {
                    INatsJSConsumer consumer = await ConsumerAsync(call.Function).WaitAsync(cancellationToken).ConfigureAwait(false);
                    await consumer.RefreshAsync(cancellationToken).ConfigureAwait(false);
                    (queue.Pending, queue.StoredSince, queue.CountedAt) = (consumer.Info.NumPending, 0, Environment.TickCount64);
                }

                if (queue.Pending + queue.StoredSince >= (ulong)queueLimit)
                {
                    return EnqueueResult.QueueFull;
                }

                // Stored only if no message is on the call's subject: two servers accepting one id at once, or an id
                // whose call still waits (past JetStream's duplicate window), cannot both be stored.
                PubAckResponse ack = await _js.PublishAsync(CallSubject(call.Function, call.Id), message, Raw,
                    new NatsJSPubOpts { MsgId = Key(call.Function, call.Id), ExpectedLastSubjectSequence = 0 }, cancellationToken: cancellationToken).ConfigureAwait(false);
                ack.EnsureSuccess();
                if (ack.Duplicate)
                {
                    return EnqueueResult.DuplicateId;
                }

                queue.StoredSince++;
            }
            catch (NatsJSDuplicateMessageException)
            {
                return EnqueueResult.DuplicateId;
            }
            catch (NatsJSApiException e) when (e.Error.ErrCode == 10071)
            {
                // Wrong last sequence: a message of that id is there.
                return EnqueueResult.DuplicateId;
            }
            finally
            {
                queue.Turn.Release();
            }

            try
            {
                await _nats.PublishAsync($"{Stream}.queued", Encoding.UTF8.GetBytes(call.Function), serializer: Raw, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsFailure(e))
            {
                // Stored: the other servers' poll finds it.
            }

            return EnqueueResult.Accepted;
        }).ConfigureAwait(false);
    }

    /// <summary>Test seam: the server dies holding its calls (no nak, no acknowledgement): only the ack wait gives them to another.</summary>
    internal async Task AbandonAsync()
    {
        _held.Clear();
        await DisposeAsync().ConfigureAwait(false);
    }

    public async Task<StoredCall?> ClaimNextAsync(string function, string owner) =>
        (await ClaimAsync(function, owner, 1).ConfigureAwait(false)) is [StoredCall call] ? call : null;

    /// <summary>
    /// Up to <paramref name="max"/> queued calls of <paramref name="function"/>, given to this server in one fetch; each
    /// one's run count is its status's (kept by the server that ran it before, or given it back) plus one. A call whose
    /// status says it ended (its server recorded the end, then failed to acknowledge it) is acknowledged, not run again.
    /// </summary>
    public async Task<IReadOnlyList<StoredCall>> ClaimAsync(string function, string owner, int max)
    {
        var claimed = new List<(StoredCall Call, NatsJSMsg<byte[]> Message)>();
        try
        {
            return await RunAsync<IReadOnlyList<StoredCall>>(async cancellationToken =>
            {
                INatsJSConsumer consumer = await ConsumerAsync(function).WaitAsync(cancellationToken).ConfigureAwait(false);
                for (bool setAside = true; setAside && claimed.Count == 0;)
                {
                    setAside = false;
                    await foreach (NatsJSMsg<byte[]> message in consumer.FetchNoWaitAsync(new NatsJSFetchOpts { MaxMsgs = max }, Raw, cancellationToken).ConfigureAwait(false))
                    {
                        StoredCall call;
                        try
                        {
                            call = CallRecord.Decode(message.Data);
                        }
                        catch (InvalidDataException e)
                        {
                            // Not a call this server can read (written by hand, or by another version): set aside, not
                            // retried; the fetch is made again when it was all there was.
                            LogUnreadable(_log, message.Subject, e.Message);
                            await message.AckTerminateAsync(Confirmed, cancellationToken).ConfigureAwait(false);
                            setAside = true;
                            continue;
                        }

                        claimed.Add((call, message));
                        _held[call] = message;
                    }
                }

                NatsResult<NatsKVEntry<byte[]>>[] before = await Task.WhenAll(claimed.Select(c => Statuses.TryGetEntryAsync(Key(c.Call.Function, c.Call.Id), serializer: Raw, cancellationToken: cancellationToken).AsTask())).ConfigureAwait(false);
                long now = SqliteCallStore.Now();
                var run = new List<StoredCall>(claimed.Count);
                for (int i = 0; i < claimed.Count; i++)
                {
                    StoredCall call = claimed[i].Call;
                    StoredCall? previous = before[i].Success && before[i].Value.Value is byte[] status ? TryDecode(status) : null;
                    if (previous is { State: CallState.Done })
                    {
                        await SettleEndedAsync(previous, claimed[i].Message, cancellationToken).ConfigureAwait(false);
                        _held.TryRemove(call, out _);
                        continue;
                    }

                    call.State = CallState.Running;
                    call.StartedAt = now;
                    call.Runs = (previous?.Runs ?? 0) + 1;
                    run.Add(call);
                }

                await Task.WhenAll(run.Select(c => Statuses.PutAsync(Key(c.Function, c.Id), CallRecord.Encode(c, withRequest: false), Raw, cancellationToken).AsTask())).ConfigureAwait(false);
                return run;
            }).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // What was fetched is no longer heartbeated: JetStream gives it out again after the ack wait.
            foreach ((StoredCall call, _) in claimed)
            {
                _held.TryRemove(call, out _);
            }

            throw;
        }
    }

    /// <summary>A call found ended by an earlier run: its callback (if any) is published again (JetStream drops it as a duplicate when it was), and its message acknowledged.</summary>
    private async Task SettleEndedAsync(StoredCall ended, NatsJSMsg<byte[]> message, CancellationToken cancellationToken)
    {
        if (ended.CallbackUrl is not null && ended.Callback == CallbackState.Pending)
        {
            await PublishCallbackAsync(CallRecord.Encode(ended, withRequest: false), ended, cancellationToken).ConfigureAwait(false);
        }

        await message.AckAsync(Confirmed, cancellationToken).ConfigureAwait(false);
    }

    private async Task PublishCallbackAsync(byte[] record, StoredCall call, CancellationToken cancellationToken)
    {
        PubAckResponse ack = await _js.PublishAsync($"{Stream}.callbacks.{Token(call.Function)}.{Token(call.Id)}", record, Raw,
            new NatsJSPubOpts { MsgId = "callback." + Key(call.Function, call.Id) + "." + call.Runs }, cancellationToken: cancellationToken).ConfigureAwait(false);
        ack.EnsureSuccess();
    }

    private static StoredCall? TryDecode(ReadOnlyMemory<byte> status)
    {
        try
        {
            return CallRecord.Decode(status);
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    public async Task CompleteAsync(StoredCall call)
    {
        if (call.CallbackUrl is not null)
        {
            call.Callback = CallbackState.Pending;
            call.CallbackDueAt = call.EndedAt;
        }

        try
        {
            await RunAsync(async cancellationToken =>
            {
                // The status first, then the callback, then the acknowledgement: a server that fails in between leaves
                // the message to be given out again, and the next server finds the end recorded (ClaimAsync).
                byte[] record = Fitted(call);
                await Statuses.PutAsync(Key(call.Function, call.Id), record, Raw, cancellationToken).ConfigureAwait(false);
                if (call.CallbackUrl is not null)
                {
                    await PublishCallbackAsync(record, call, cancellationToken).ConfigureAwait(false);
                }

                if (_held.TryGetValue(call, out NatsJSMsg<byte[]> held))
                {
                    await held.AckAsync(Confirmed, cancellationToken).ConfigureAwait(false);
                }

                return true;
            }).ConfigureAwait(false);
        }
        finally
        {
            // Acknowledged, or left to JetStream's ack wait (no more heartbeats): either way no longer held here.
            _held.TryRemove(call, out _);
        }
    }

    public async Task RequeueAsync(StoredCall call)
    {
        try
        {
            await RunAsync(async cancellationToken =>
            {
                // Its status says queued again, with the runs it had (one less for a call taken ahead and never started),
                // until a server takes it; then the message goes back to the queue at once.
                StoredCall queued = CallRecord.Decode(CallRecord.Encode(call, withRequest: false));
                queued.State = CallState.Queued;
                queued.StartedAt = null;
                await Statuses.PutAsync(Key(call.Function, call.Id), CallRecord.Encode(queued, withRequest: false), Raw, cancellationToken).ConfigureAwait(false);
                if (_held.TryGetValue(call, out NatsJSMsg<byte[]> held))
                {
                    await held.NakAsync(Confirmed, cancellationToken).ConfigureAwait(false);
                }

                return true;
            }).ConfigureAwait(false);
        }
        finally
        {
            _held.TryRemove(call, out _);
        }
    }

    public async Task<StoredCall?> FindAsync(string function, string id) => await RunAsync(async cancellationToken =>
    {
        NatsResult<NatsKVEntry<byte[]>> status = await Statuses.TryGetEntryAsync(Key(function, id), serializer: Raw, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (status.Success && status.Value.Value is byte[] record)
        {
            return TryDecode(record);
        }

        // Not taken yet: the message of the queued call, if there is one.
        try
        {
            StreamMsgGetResponse queued = await _js.JSRequestResponseAsync<StreamMsgGetRequest, StreamMsgGetResponse>(
                $"$JS.API.STREAM.MSG.GET.{Stream}", new StreamMsgGetRequest { LastBySubj = CallSubject(function, id) }, cancellationToken).ConfigureAwait(false);
            StoredCall? call = queued.Message?.Data is { Length: > 0 } data ? TryDecode(data) : null;
            return call is not null && call.Function == function && call.Id == id ? call : null;
        }
        catch (NatsJSApiException e) when (e.Error.Code == 404 && e.Error.ErrCode == 10037)
        {
            // No message (10037); a missing stream (another 404) is a failure, and repaired.
            return null;
        }
    }).ConfigureAwait(false);

    /// <summary>A record is one message: at most the server's max_payload, outputs cut to fit (<see cref="Fitted"/>).</summary>
    public Task<long> OutputSizeAsync(string function, string id) => Task.FromResult(MaxPayload);

    /// <summary>JetStream gives a dead server's calls to another by itself (after the ack wait): nothing to do.</summary>
    public Task<int> RecoverAsync(Func<string?, bool> ownerAlive) => Task.FromResult(0);

    public async Task<IReadOnlyDictionary<string, (int Queued, long OldestAcceptedAt)>> QueueStatsAsync(IReadOnlyCollection<string> functions) =>
        await RunAsync<IReadOnlyDictionary<string, (int Queued, long OldestAcceptedAt)>>(async cancellationToken =>
        {
            var stats = new Dictionary<string, (int, long)>(StringComparer.Ordinal);
            foreach (string function in functions.Union(_consumers.Keys))
            {
                INatsJSConsumer consumer = await ConsumerAsync(function).WaitAsync(cancellationToken).ConfigureAwait(false);
                await consumer.RefreshAsync(cancellationToken).ConfigureAwait(false);
                ConsumerInfo info = consumer.Info;
                if (info.NumPending == 0)
                {
                    continue;
                }

                // The oldest not yet given to a server: the first of the function's messages after the last one given.
                long oldest = SqliteCallStore.Now();
                try
                {
                    StreamMsgGetResponse first = await _js.JSRequestResponseAsync<StreamMsgGetRequest, StreamMsgGetResponse>(
                        $"$JS.API.STREAM.MSG.GET.{Stream}", new StreamMsgGetRequest { Seq = info.Delivered.StreamSeq + 1, NextBySubj = QueueSubjects(function) }, cancellationToken).ConfigureAwait(false);
                    if (first.Message?.Data is { Length: > 0 } data && TryDecode(data) is StoredCall call)
                    {
                        oldest = call.AcceptedAt;
                    }
                }
                catch (NatsJSApiException)
                {
                }

                stats[function] = ((int)Math.Min(info.NumPending, int.MaxValue), oldest);
            }

            return stats;
        }).ConfigureAwait(false);

    public async Task WatchAsync(Action<string> queued, CancellationToken stopping)
    {
        // The client subscribes again by itself after a reconnect; a subscription that fails all the same is made
        // again a second later (the dispatchers' poll covers the gap).
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await foreach (NatsMsg<byte[]> message in _nats.SubscribeAsync($"{Stream}.queued", serializer: Raw, cancellationToken: stopping).ConfigureAwait(false))
                {
                    if (message.Data is { Length: > 0 and <= 256 } name)
                    {
                        queued(Encoding.UTF8.GetString(name));
                    }
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (IsFailure(e) || e is ObjectDisposedException)
            {
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Deliveries due now, given to this server (JetStream holds back those whose pause has not passed).</summary>
    public async Task<IReadOnlyList<StoredCall>> DueCallbacksAsync(long now, int limit) => await RunAsync<IReadOnlyList<StoredCall>>(async cancellationToken =>
    {
        var due = new List<StoredCall>();
        INatsJSConsumer callbacks = _callbacks ?? throw new IOException("NATS: the callbacks' consumer is not there");
        await foreach (NatsJSMsg<byte[]> message in callbacks.FetchNoWaitAsync(new NatsJSFetchOpts { MaxMsgs = limit }, Raw, cancellationToken).ConfigureAwait(false))
        {
            if (TryDecode(message.Data ?? []) is not StoredCall call)
            {
                LogUnreadable(_log, message.Subject, "not a stored call");
                await message.AckTerminateAsync(Confirmed, cancellationToken).ConfigureAwait(false);
                continue;
            }

            // Every earlier delivery of the message was an attempt (or its server died during one).
            call.CallbackAttempts = Math.Max(call.CallbackAttempts, (int)(message.Metadata?.NumDelivered ?? 1) - 1);
            _held[call] = message;
            due.Add(call);
        }

        return due;
    }).ConfigureAwait(false);

    public async Task UpdateCallbackAsync(StoredCall call)
    {
        try
        {
            await RunAsync(async cancellationToken =>
            {
                await Statuses.PutAsync(Key(call.Function, call.Id), Fitted(call), Raw, cancellationToken).ConfigureAwait(false);
                if (!_held.TryGetValue(call, out NatsJSMsg<byte[]> held))
                {
                    return true;
                }

                switch (call.Callback)
                {
                    case CallbackState.Pending:
                        TimeSpan pause = TimeSpan.FromMilliseconds(Math.Max(0, (call.CallbackDueAt ?? 0) - SqliteCallStore.Now()));
                        await held.NakAsync(new AckOpts { NakDelay = pause, DoubleAck = true }, cancellationToken).ConfigureAwait(false);
                        break;
                    case CallbackState.GivenUp:
                        await held.AckTerminateAsync(Confirmed, cancellationToken).ConfigureAwait(false);
                        break;
                    default:
                        await held.AckAsync(Confirmed, cancellationToken).ConfigureAwait(false);
                        break;
                }

                return true;
            }).ConfigureAwait(false);
        }
        finally
        {
            _held.TryRemove(call, out _);
        }
    }

    /// <summary>The bucket's max age forgets ended calls by itself: nothing to do.</summary>
    public Task<int> PurgeAsync(long before) => Task.FromResult(0);

    public async ValueTask DisposeAsync()
    {
        if (_closing.IsCancellationRequested)
        {
            return;
        }

        await _closing.CancelAsync().ConfigureAwait(false);
        try
        {
            await _heartbeats.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        // What this server still holds goes to another (or to its next start) now, not after the ack wait; a NATS that
        // does not answer within the operation timeout leaves it to the ack wait.
        using (var deadline = new CancellationTokenSource(OperationTimeout))
        {
            foreach (NatsJSMsg<byte[]> held in _held.Values)
            {
                try
                {
                    await held.NakAsync(Confirmed, deadline.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (IsFailure(e))
                {
                }
            }
        }

        _held.Clear();
        await _nats.DisposeAsync().ConfigureAwait(false);
        _closing.Dispose();
    }

    /// <summary>
    /// Runs one store operation within <see cref="OperationTimeout"/>: at once an IOException when the connection is
    /// down (the client reconnects by itself meanwhile), and any NATS failure as an IOException (a 503 for an accept).
    /// A stream, consumer or bucket found missing (a NATS that lost its state) is made again, at most every 5 s.
    /// </summary>
    private async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> operation)
    {
        if (_nats.ConnectionState != NatsConnectionState.Open)
        {
            throw new IOException($"NATS: not connected to {_address.Server} (reconnecting)");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        deadline.CancelAfter(OperationTimeout);
        try
        {
            return await operation(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (IsFailure(e))
        {
            if (e is NatsJSApiException { Error.Code: 404 } or NatsKVException)
            {
                Repair();
            }

            throw Failed(e);
        }
    }

    private void Repair()
    {
        _consumers.Clear();
        if (Environment.TickCount64 - Interlocked.Read(ref _repairedAt) < 5000 || Interlocked.Exchange(ref _repairing, 1) == 1)
        {
            return;
        }

        Interlocked.Exchange(ref _repairedAt, Environment.TickCount64);
        _ = Task.Run(async () =>
        {
            try
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
                deadline.CancelAfter(OperationTimeout * 2);
                await EnsureAsync(deadline.Token).ConfigureAwait(false);
                LogRepaired(_log, Stream);
            }
            catch (Exception e) when (IsFailure(e) || e is IOException)
            {
                LogRepairFailed(_log, Stream, e is IOException ? e.Message : Reason(e));
            }
            finally
            {
                Interlocked.Exchange(ref _repairing, 0);
            }
        });
    }

    /// <summary>
    /// A name as a subject token, a consumer name's part and a key's part: letters, digits, '-' and '_' stay; any other
    /// character (including '=') is '=' and its UTF-8 bytes in hex, so two names never meet.
    /// </summary>
    public static string Token(string name)
    {
        if (name.All(static c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            return name;
        }

        var token = new StringBuilder(name.Length * 2);
        Span<byte> bytes = stackalloc byte[4];
        foreach (Rune rune in name.EnumerateRunes())
        {
            if (rune.IsAscii && (char.IsAsciiLetterOrDigit((char)rune.Value) || rune.Value is '-' or '_'))
            {
                token.Append((char)rune.Value);
                continue;
            }

            int length = rune.EncodeToUtf8(bytes);
            foreach (byte b in bytes[..length])
            {
                token.Append('=').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return token.ToString();
    }

    private static string Key(string function, string id) => Token(function) + "." + Token(id);

    private string CallSubject(string function, string id) => $"{Stream}.calls.{Token(function)}.{Token(id)}";

    /// <summary>The subjects of a function's queued calls: its consumer's filter.</summary>
    private string QueueSubjects(string function) => $"{Stream}.calls.{Token(function)}.*";

    private Task<INatsJSConsumer> ConsumerAsync(string function) => _consumers.GetOrAdd(function, name =>
    {
        Task<INatsJSConsumer> created = CreateConsumerAsync(name);

        // A failure is not kept: the next call tries again.
        _ = created.ContinueWith(t => _consumers.TryRemove(new KeyValuePair<string, Task<INatsJSConsumer>>(name, t)), CancellationToken.None, TaskContinuationOptions.NotOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return created;
    });

    private async Task<INatsJSConsumer> CreateConsumerAsync(string function)
    {
        using var deadline = new CancellationTokenSource(OperationTimeout);
        return await _js.CreateOrUpdateConsumerAsync(Stream, new ConsumerConfig("calls-" + Token(function))
        {
            FilterSubject = QueueSubjects(function),
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            AckWait = _ackWait,
            MaxDeliver = -1,
        }, deadline.Token).ConfigureAwait(false);
    }

    /// <summary>The record of an ended call, its output cut to what one message can hold (the server's max_payload).</summary>
    private byte[] Fitted(StoredCall call)
    {
        byte[] record = CallRecord.Encode(call, withRequest: false);
        long room = MaxPayload - 4096;
        if (record.Length <= room || call.Output is not { } output)
        {
            return record;
        }

        call.Output = output[..(int)Math.Max(0, output.Length - (record.Length - room))];
        return CallRecord.Encode(call, withRequest: false);
    }

    private async Task HeartbeatsAsync()
    {
        using var timer = new PeriodicTimer(Heartbeat);
        while (await timer.WaitForNextTickAsync(_closing.Token).ConfigureAwait(false))
        {
            foreach (NatsJSMsg<byte[]> held in _held.Values)
            {
                try
                {
                    await held.AckProgressAsync(cancellationToken: _closing.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (IsFailure(e))
                {
                    LogHeartbeatFailed(_log, held.Subject, Reason(e));
                }
            }
        }
    }

    private static bool IsFailure(Exception e) => e is NatsException or TimeoutException or OperationCanceledException;

    private static IOException Failed(Exception e) => new($"NATS: {Reason(e)}", e);

    private static string Reason(Exception e) => e switch
    {
        NatsJSApiException api => $"{api.Error.Description} ({api.Error.Code})",
        TimeoutException or OperationCanceledException => "no answer in time",
        _ when e.InnerException is { } inner && inner.Message != e.Message => $"{e.Message}: {Reason(inner)}",
        _ => e.Message,
    };

    /// <summary>What this server knows of a function's queue length, and the turn its accepts take.</summary>
    private sealed class QueueLength
    {
        public SemaphoreSlim Turn { get; } = new(1, 1);

        /// <summary>The consumer's pending messages when last asked.</summary>
        public ulong Pending { get; set; }

        /// <summary>Calls this server stored since.</summary>
        public ulong StoredSince { get; set; }

        public long CountedAt { get; set; } = long.MinValue / 2;
    }

    [LoggerMessage(EventId = 46, Level = LogLevel.Warning, Message = "Asynchronous calls: the stream {Stream} keeps its messages in memory: accepted calls are lost if NATS restarts")]
    private static partial void LogMemoryStream(ILogger logger, string stream);

    [LoggerMessage(EventId = 47, Level = LogLevel.Warning, Message = "Asynchronous calls: NATS had lost the stream {Stream}, a consumer or the status bucket: made again")]
    private static partial void LogRepaired(ILogger logger, string stream);

    [LoggerMessage(EventId = 48, Level = LogLevel.Error, Message = "Asynchronous calls: the stream {Stream}, its consumers or its bucket could not be made again: {Reason}")]
    private static partial void LogRepairFailed(ILogger logger, string stream, string reason);

    [LoggerMessage(EventId = 44, Level = LogLevel.Error, Message = "Asynchronous calls: {Subject} cannot be read ({Reason}); it is set aside")]
    private static partial void LogUnreadable(ILogger logger, string subject, string reason);

    [LoggerMessage(EventId = 45, Level = LogLevel.Warning, Message = "Asynchronous calls: the progress of {Subject} could not be told to NATS: {Reason}")]
    private static partial void LogHeartbeatFailed(ILogger logger, string subject, string reason);
}
