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

    // Every acknowledgement waits for the server's answer: one only written to the socket may be lost with a
    // connection closed right after (a stopping server's nak), and the call would wait the whole ack wait.
    private static readonly AckOpts Confirmed = new() { DoubleAck = true };

    private readonly NatsConnection _nats;
    private readonly NatsJSContext _js;
    private readonly INatsKVStore _statuses;
    private readonly NatsAddress _address;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, Task<INatsJSConsumer>> _consumers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<StoredCall, NatsJSMsg<byte[]>> _held = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentDictionary<string, QueueLength> _queues = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _closing = new();
    private readonly TimeSpan _ackWait;
    private readonly Task _heartbeats;
    private INatsJSConsumer? _callbacks;

    private NatsCallStore(NatsConnection nats, NatsJSContext js, INatsKVStore statuses, NatsAddress address, TimeSpan ackWait, ILogger log)
    {
        _nats = nats;
        _js = js;
        _statuses = statuses;
        _address = address;
        _ackWait = ackWait;
        _log = log;
        _heartbeats = HeartbeatsAsync();
    }

    /// <summary>How often a server says it still works on the calls it holds: three times per ack wait.</summary>
    private TimeSpan Heartbeat => _ackWait / 3;

    /// <summary>The stream's name.</summary>
    public string Stream => _address.Stream;

    /// <summary>The largest message the server takes (its <c>max_payload</c>): a call with its body must fit in one.</summary>
    public long MaxPayload => _nats.ServerInfo?.MaxPayload ?? 1024 * 1024;

    public override string ToString() => _address.ToString();

    /// <summary>Connects to the server of <paramref name="address"/>, and makes its stream, consumers and bucket when missing.</summary>
    /// <exception cref="IOException">The server cannot be reached, has no JetStream, or has a stream of that name that is not one of ours.</exception>
    /// <param name="ackWait">How long a call held by a server that stopped answering waits before another takes it (<see cref="DefaultAckWait"/> when null).</param>
    public static async Task<NatsCallStore> OpenAsync(NatsAddress address, TimeSpan retention, Func<string, string?> environment, ILogger log, TimeSpan? ackWait = null)
    {
        TimeSpan wait = ackWait ?? DefaultAckWait;
        var options = NatsOpts.Default with
        {
            Url = address.Server,
            Name = "aotfaas",
            ConnectTimeout = TimeSpan.FromSeconds(5),
            RequestTimeout = TimeSpan.FromSeconds(5),
            AuthOpts = NatsAuthOpts.Default with
            {
                Username = environment("NATS_USER"),
                Password = environment("NATS_PASSWORD"),
                Token = environment("NATS_TOKEN"),
            },
        };
        var nats = new NatsConnection(options);
        try
        {
            await nats.ConnectAsync().ConfigureAwait(false);
            var js = new NatsJSContext(nats);
            await EnsureStreamAsync(js, address.Stream).ConfigureAwait(false);
            var kv = new NatsKVContext(js);
            INatsKVStore statuses = await kv.CreateOrUpdateStoreAsync(new NatsKVConfig(address.Stream + "-calls")
            {
                MaxAge = retention,
                History = 1,
                Storage = NatsKVStorageType.File,
                Description = "AotFaas: the status of each asynchronous call taken to run, kept for the retention",
            }).ConfigureAwait(false);
            var store = new NatsCallStore(nats, js, statuses, address, wait, log);
            store._callbacks = await js.CreateOrUpdateConsumerAsync(address.Stream, new ConsumerConfig("callbacks")
            {
                FilterSubject = $"{address.Stream}.callbacks.>",
                AckPolicy = ConsumerConfigAckPolicy.Explicit,
                AckWait = wait,
                MaxDeliver = -1,
            }).ConfigureAwait(false);
            return store;
        }
        catch (Exception e) when (e is NatsException or TimeoutException or OperationCanceledException)
        {
            await nats.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"cannot use the NATS store {address}: {Reason(e)}", e);
        }
        catch
        {
            await nats.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task EnsureStreamAsync(NatsJSContext js, string name)
    {
        string[] subjects = [$"{name}.calls.>", $"{name}.callbacks.>"];
        INatsJSStream stream;
        try
        {
            stream = await js.GetStreamAsync(name).ConfigureAwait(false);
        }
        catch (NatsJSApiException e) when (e.Error.Code == 404)
        {
            // Made by the first server; one made by another meanwhile with the same configuration is taken as it is.
            stream = await js.CreateOrUpdateStreamAsync(new StreamConfig(name, subjects)
            {
                Retention = StreamConfigRetention.Workqueue,
                Storage = StreamConfigStorage.File,
                DuplicateWindow = DuplicateWindow,
                Description = "AotFaas: asynchronous calls waiting to run, and callbacks waiting to be delivered",
            }).ConfigureAwait(false);
        }

        // An operator may make the stream (with replicas, limits): it must still be a work queue over our subjects.
        StreamConfig config = stream.Info.Config;
        if (config.Retention != StreamConfigRetention.Workqueue || config.Subjects is not { } have || !subjects.All(have.Contains))
        {
            throw new IOException($"the stream {name} exists but is not a work queue over {string.Join(" and ", subjects)}");
        }
    }

    public async Task<EnqueueResult> EnqueueAsync(StoredCall call, int queueLimit)
    {
        byte[] message = CallRecord.Encode(call, withRequest: true);
        if (message.Length > MaxPayload - 4096)
        {
            return EnqueueResult.TooLarge;
        }

        try
        {
            // An id taken by a call whose status is kept (JetStream's own check below covers the last hour's ids).
            if ((await _statuses.TryGetEntryAsync(Key(call.Function, call.Id), serializer: Raw).ConfigureAwait(false)).Success)
            {
                return EnqueueResult.DuplicateId;
            }
        }
        catch (Exception e) when (IsFailure(e))
        {
            throw Failed(e);
        }

        // One accept at a time per function, from the queue's length to the stored message: the bound holds exactly
        // for this server's callers (servers sharing the stream check it each on its own, so together they may pass
        // it by as many calls as accept at once elsewhere). The length is JetStream's count of the consumer's pending
        // messages, asked again when it is older than a quarter of a second or the bound seems reached, plus the
        // calls this server stored since.
        QueueLength queue = _queues.GetOrAdd(call.Function, static _ => new QueueLength());
        await queue.Turn.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Environment.TickCount64 - queue.CountedAt > 250 || queue.Pending + queue.StoredSince >= (ulong)queueLimit)
            {
                INatsJSConsumer consumer = await ConsumerAsync(call.Function).ConfigureAwait(false);
                await consumer.RefreshAsync().ConfigureAwait(false);
                (queue.Pending, queue.StoredSince, queue.CountedAt) = (consumer.Info.NumPending, 0, Environment.TickCount64);
            }

            if (queue.Pending + queue.StoredSince >= (ulong)queueLimit)
            {
                return EnqueueResult.QueueFull;
            }

            PubAckResponse ack = await _js.PublishAsync(CallSubject(call.Function, call.Id), message, Raw, new NatsJSPubOpts { MsgId = Key(call.Function, call.Id) }).ConfigureAwait(false);
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
        catch (Exception e) when (IsFailure(e))
        {
            throw Failed(e);
        }
        finally
        {
            queue.Turn.Release();
        }

        try
        {
            await _nats.PublishAsync($"{Stream}.queued", Encoding.UTF8.GetBytes(call.Function), serializer: Raw).ConfigureAwait(false);
        }
        catch (Exception e) when (IsFailure(e))
        {
            // Stored: the other servers' poll finds it.
        }

        return EnqueueResult.Accepted;
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
    /// one's run count is its status's (kept by the server that ran it before, or given it back) plus one.
    /// </summary>
    public async Task<IReadOnlyList<StoredCall>> ClaimAsync(string function, string owner, int max)
    {
        try
        {
            INatsJSConsumer consumer = await ConsumerAsync(function).ConfigureAwait(false);
            var claimed = new List<(StoredCall Call, NatsJSMsg<byte[]> Message)>();
            for (bool setAside = true; setAside && claimed.Count == 0;)
            {
                setAside = false;
                await foreach (NatsJSMsg<byte[]> message in consumer.FetchNoWaitAsync(new NatsJSFetchOpts { MaxMsgs = max }, Raw).ConfigureAwait(false))
                {
                    try
                    {
                        claimed.Add((CallRecord.Decode(message.Data), message));
                    }
                    catch (InvalidDataException e)
                    {
                        // Not a call this server can read (written by hand, or by another version): set aside, not
                        // retried; the fetch is made again when it was all there was.
                        LogUnreadable(_log, message.Subject, e.Message);
                        await message.AckTerminateAsync(Confirmed).ConfigureAwait(false);
                        setAside = true;
                    }
                }
            }

            NatsResult<NatsKVEntry<byte[]>>[] before = await Task.WhenAll(claimed.Select(c => _statuses.TryGetEntryAsync(Key(c.Call.Function, c.Call.Id), serializer: Raw).AsTask())).ConfigureAwait(false);
            long now = SqliteCallStore.Now();
            for (int i = 0; i < claimed.Count; i++)
            {
                StoredCall call = claimed[i].Call;
                call.State = CallState.Running;
                call.StartedAt = now;
                call.Runs = (before[i].Success && before[i].Value.Value is byte[] status ? RunsIn(status) : 0) + 1;
                _held[call] = claimed[i].Message;
            }

            await Task.WhenAll(claimed.Select(c => _statuses.PutAsync(Key(c.Call.Function, c.Call.Id), CallRecord.Encode(c.Call, withRequest: false), Raw).AsTask())).ConfigureAwait(false);
            return [.. claimed.Select(c => c.Call)];
        }
        catch (Exception e) when (IsFailure(e))
        {
            throw Failed(e);
        }
    }

    private static int RunsIn(byte[] status)
    {
        try
        {
            return CallRecord.Decode(status).Runs;
        }
        catch (InvalidDataException)
        {
            return 0;
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
            // The status first, then the callback, then the acknowledgement: a server that dies in between leaves the
            // call to run again (at least once), never a call acknowledged without its end recorded.
            byte[] record = Fitted(call);
            await _statuses.PutAsync(Key(call.Function, call.Id), record, Raw).ConfigureAwait(false);
            if (call.CallbackUrl is not null)
            {
                PubAckResponse ack = await _js.PublishAsync($"{Stream}.callbacks.{Token(call.Function)}.{Token(call.Id)}", record, Raw,
                    new NatsJSPubOpts { MsgId = "callback." + Key(call.Function, call.Id) + "." + call.Runs }).ConfigureAwait(false);
                ack.EnsureSuccess();
            }

            if (_held.TryRemove(call, out NatsJSMsg<byte[]> held))
            {
                await held.AckAsync(Confirmed).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (IsFailure(e))
        {
            throw Failed(e);
        }
    }

    public async Task RequeueAsync(StoredCall call)
    {
        try
        {
            // Its status says queued again, with the runs it had (one less for a call taken ahead and never started),
            // until a server takes it; then the message goes back to the queue at once.
            var queued = CallRecord.Decode(CallRecord.Encode(call, withRequest: false));
            queued.State = CallState.Queued;
            queued.StartedAt = null;
            await _statuses.PutAsync(Key(call.Function, call.Id), CallRecord.Encode(queued, withRequest: false), Raw).ConfigureAwait(false);
            if (_held.TryRemove(call, out NatsJSMsg<byte[]> held))
            {
                await held.NakAsync(Confirmed).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (IsFailure(e))
        {
            throw Failed(e);
        }
    }

    public async Task<StoredCall?> FindAsync(string function, string id)
    {
        try
        {
            NatsResult<NatsKVEntry<byte[]>> status = await _statuses.TryGetEntryAsync(Key(function, id), serializer: Raw).ConfigureAwait(false);
            if (status.Success && status.Value.Value is byte[] record)
            {
                return CallRecord.Decode(record);
            }

            // Not taken yet: the message of the queued call, if there is one.
            try
            {
                StreamMsgGetResponse queued = await _js.JSRequestResponseAsync<StreamMsgGetRequest, StreamMsgGetResponse>(
                    $"$JS.API.STREAM.MSG.GET.{Stream}", new StreamMsgGetRequest { LastBySubj = CallSubject(function, id) }).ConfigureAwait(false);
                if (queued.Message?.Data is not { Length: > 0 } data)
                {
                    return null;
                }

                StoredCall call = CallRecord.Decode(data);
                return call.Function == function && call.Id == id ? call : null;
            }
            catch (NatsJSApiException e) when (e.Error.Code == 404)
            {
                return null;
            }
        }
        catch (InvalidDataException)
        {
            return null;
        }
        catch (Exception e) when (IsFailure(e))
        {
            throw Failed(e);
        }
    }

    /// <summary>JetStream gives a dead server's calls to another by itself (after the ack wait): nothing to do.</summary>
    public Task<int> RecoverAsync(Func<string?, bool> ownerAlive) => Task.FromResult(0);

    public async Task<IReadOnlyDictionary<string, (int Queued, long OldestAcceptedAt)>> QueueStatsAsync(IReadOnlyCollection<string> functions)
    {
        var stats = new Dictionary<string, (int, long)>(StringComparer.Ordinal);
        try
        {
            foreach (string function in functions.Union(_consumers.Keys))
            {
                INatsJSConsumer consumer = await ConsumerAsync(function).ConfigureAwait(false);
                await consumer.RefreshAsync().ConfigureAwait(false);
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
                        $"$JS.API.STREAM.MSG.GET.{Stream}", new StreamMsgGetRequest { Seq = info.Delivered.StreamSeq + 1, NextBySubj = CallSubject(function, "*") }).ConfigureAwait(false);
                    if (first.Message?.Data is { Length: > 0 } data)
                    {
                        oldest = CallRecord.Decode(data).AcceptedAt;
                    }
                }
                catch (Exception e) when (e is NatsJSApiException or InvalidDataException)
                {
                }

                stats[function] = ((int)Math.Min(info.NumPending, int.MaxValue), oldest);
            }
        }
        catch (Exception e) when (IsFailure(e))
        {
            throw Failed(e);
        }

        return stats;
    }

    public async Task WatchAsync(Action<string> queued, CancellationToken stopping)
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
        }
    }

    /// <summary>Deliveries due now, given to this server (JetStream holds back those whose pause has not passed).</summary>
    public async Task<IReadOnlyList<StoredCall>> DueCallbacksAsync(long now, int limit)
    {
        var due = new List<StoredCall>();
        try
        {
            await foreach (NatsJSMsg<byte[]> message in _callbacks!.FetchNoWaitAsync(new NatsJSFetchOpts { MaxMsgs = limit }, Raw).ConfigureAwait(false))
            {
                StoredCall call;
                try
                {
                    call = CallRecord.Decode(message.Data);
                }
                catch (InvalidDataException e)
                {
                    LogUnreadable(_log, message.Subject, e.Message);
                    await message.AckTerminateAsync(Confirmed).ConfigureAwait(false);
                    continue;
                }

                // Every earlier delivery of the message was an attempt (or its server died during one).
                call.CallbackAttempts = Math.Max(call.CallbackAttempts, (int)(message.Metadata?.NumDelivered ?? 1) - 1);
                _held[call] = message;
                due.Add(call);
            }
        }
        catch (Exception e) when (IsFailure(e))
        {
            throw Failed(e);
        }

        return due;
    }

    public async Task UpdateCallbackAsync(StoredCall call)
    {
        try
        {
            await _statuses.PutAsync(Key(call.Function, call.Id), Fitted(call), Raw).ConfigureAwait(false);
            if (!_held.TryRemove(call, out NatsJSMsg<byte[]> held))
            {
                return;
            }

            switch (call.Callback)
            {
                case CallbackState.Pending:
                    TimeSpan pause = TimeSpan.FromMilliseconds(Math.Max(0, (call.CallbackDueAt ?? 0) - SqliteCallStore.Now()));
                    await held.NakAsync(new AckOpts { NakDelay = pause, DoubleAck = true }).ConfigureAwait(false);
                    break;
                case CallbackState.GivenUp:
                    await held.AckTerminateAsync(Confirmed).ConfigureAwait(false);
                    break;
                default:
                    await held.AckAsync(Confirmed).ConfigureAwait(false);
                    break;
            }
        }
        catch (Exception e) when (IsFailure(e))
        {
            throw Failed(e);
        }
    }

    /// <summary>The bucket's max age forgets ended calls by itself: nothing to do.</summary>
    public Task<int> PurgeAsync(long before) => Task.FromResult(0);

    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync().ConfigureAwait(false);
        try
        {
            await _heartbeats.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        // What this server still holds goes to another (or to its next start) now, not after the ack wait.
        foreach (NatsJSMsg<byte[]> held in _held.Values)
        {
            try
            {
                await held.NakAsync(Confirmed).ConfigureAwait(false);
            }
            catch (Exception e) when (IsFailure(e))
            {
            }
        }

        _held.Clear();
        await _nats.DisposeAsync().ConfigureAwait(false);
        _closing.Dispose();
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

    private string CallSubject(string function, string id) => $"{Stream}.calls.{Token(function)}.{(id == "*" ? "*" : Token(id))}";

    private Task<INatsJSConsumer> ConsumerAsync(string function) => _consumers.GetOrAdd(function, name =>
    {
        Task<INatsJSConsumer> created = _js.CreateOrUpdateConsumerAsync(Stream, new ConsumerConfig("calls-" + Token(name))
        {
            FilterSubject = CallSubject(name, "*"),
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            AckWait = _ackWait,
            MaxDeliver = -1,
        }).AsTask();

        // A failure is not kept: the next call tries again.
        _ = created.ContinueWith(t => _consumers.TryRemove(new KeyValuePair<string, Task<INatsJSConsumer>>(name, t)), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return created;
    });

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

    [LoggerMessage(EventId = 44, Level = LogLevel.Error, Message = "Asynchronous calls: {Subject} cannot be read ({Reason}); it is set aside")]
    private static partial void LogUnreadable(ILogger logger, string subject, string reason);

    [LoggerMessage(EventId = 45, Level = LogLevel.Warning, Message = "Asynchronous calls: the progress of {Subject} could not be told to NATS: {Reason}")]
    private static partial void LogHeartbeatFailed(ILogger logger, string subject, string reason);
}
