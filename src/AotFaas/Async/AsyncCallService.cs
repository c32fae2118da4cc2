// Longer than the ~300 lines a file here is held to: accepting, dispatching, running and draining share the
// service's state (the store, the wake-ups, the calls running), and reading them side by side is the point.
using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Security.Cryptography;
using AotFaas.Functions;
using AotFaas.Http;
using AotFaas.Invokers;
using AotFaas.Shared;

namespace AotFaas.Async;

/// <summary>
/// Asynchronous calls: accepts them into the <see cref="ICallStore"/> (202 once stored), runs each stored call like a
/// synchronous one when its function has a slot free and no synchronous request waits for one (a busy function delays
/// its asynchronous calls, it never refuses its synchronous ones for them), records what it came to, and hands it to
/// the <see cref="CallbackSender"/>. Calls a stopping server did not finish stay queued for the next start.
/// </summary>
public sealed partial class AsyncCallService : IAsyncCalls, IAsyncDisposable
{
    private readonly ICallStore _store;
    private readonly AsyncSettings _settings;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _abortRuns = new();
    private readonly ConcurrentDictionary<string, Signal> _wake = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);
    private readonly List<Task> _loops = [];
    private readonly HashSet<string> _dispatched = new(StringComparer.Ordinal);

    // Bodies being read to be stored are held whole (SQLite takes a blob at once): what they hold together is bounded,
    // whatever the number of callers; each holds about what it was sent, not what it announced, and a body that started
    // can always end (BodyBudget).
    private readonly BodyBudget _bodies = new();
    private readonly StatusReads _statusReads;
    private Func<string, FunctionRoute?> _find = static _ => null;
    private CallbackSender? _callbacks;
    private long _completed;
    private readonly FailureThrottle _storeFailures = new();

    public AsyncCallService(ICallStore store, AsyncSettings settings, ILogger log)
        : this(store, settings, log, StatusReadBytes)
    {
    }

    /// <summary>The service with <paramref name="statusReadBytes"/> for the status reads' outputs (the tests set a small one).</summary>
    internal AsyncCallService(ICallStore store, AsyncSettings settings, ILogger log, long statusReadBytes)
    {
        _store = store;
        _settings = settings;
        _log = log;
        _statusReads = new StatusReads(statusReadBytes);
    }

    /// <summary>The service over the store <paramref name="settings"/> name (<see cref="CallStores"/>).</summary>
    /// <exception cref="IOException">The store cannot be opened or reached.</exception>
    public static async Task<AsyncCallService> OpenAsync(AsyncSettings settings, Func<string, string?> environment, ILogger log) =>
        new(await CallStores.OpenAsync(settings, environment, log).ConfigureAwait(false), settings, log);

    /// <summary>
    /// The memory the request bodies of asynchronous calls being read and stored may hold together, server-wide, in
    /// bodies of the largest <c>max-body</c> of the functions called so far: as many bodies as fit are read at once,
    /// each holding about what has arrived of it, as long as what is left lets each of them end; a body that finds no
    /// room waits for some within its timeout (<see cref="BodyBudget"/>). At least 2: a body without a length may need
    /// twice its max-body to end.
    /// </summary>
    public const int MaxBodiesInBudget = 4;

    /// <summary>Request bodies being read or stored now.</summary>
    internal int BodiesBeingRead => _bodies.Bodies;

    /// <summary>Those bodies waiting for room in the budget now.</summary>
    internal int BodiesWaiting => _bodies.Waiting;

    /// <summary>Bytes those bodies hold now.</summary>
    internal long BodyBytesHeld => _bodies.Taken;

    /// <summary>The most bytes those bodies may hold together (<see cref="MaxBodiesInBudget"/> of the largest <c>max-body</c> called so far).</summary>
    internal long BodyByteBudget => _bodies.Limit;

    /// <summary>Calls accepted and stored so far (this process).</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    private long _accepted;

    /// <summary>Calls run to their end so far (this process).</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>The deliveries (null before <see cref="StartAsync"/>).</summary>
    public CallbackSender? Callbacks => _callbacks;

    /// <summary>The store the calls are kept in.</summary>
    public ICallStore Store => _store;

    /// <summary>
    /// Adds the instruments of asynchronous calls to the server's <paramref name="meter"/> (none with <c>--no-metrics</c>):
    /// calls queued and the age of the oldest, per function (read from the store at each scrape); calls accepted and
    /// ended; callbacks delivered, retried and given up.
    /// </summary>
    public void AttachMetrics(System.Diagnostics.Metrics.Meter? meter)
    {
        if (meter is null)
        {
            return;
        }

        meter.CreateObservableUpDownCounter("aotfaas.async.queued", () => QueueMeasurements(static (stats, _) => stats.Queued), description: "Asynchronous calls stored and waiting to run, by function.");
        meter.CreateObservableUpDownCounter("aotfaas.async.oldest_age", () => QueueMeasurements(static (stats, now) => (now - stats.OldestAcceptedAt) / 1000.0), "s", "Age of the oldest asynchronous call waiting to run, by function.");
        meter.CreateObservableCounter("aotfaas.async.accepted", () => Accepted, description: "Asynchronous calls accepted (202) by this process.");
        meter.CreateObservableCounter("aotfaas.async.completed", () => Completed, description: "Asynchronous calls run to their end by this process.");
        meter.CreateObservableCounter("aotfaas.async.callbacks.delivered", () => _callbacks?.Delivered ?? 0, description: "Callbacks delivered (2xx).");
        meter.CreateObservableCounter("aotfaas.async.callbacks.retried", () => _callbacks?.Retried ?? 0, description: "Callback attempts that failed and were scheduled again.");
        meter.CreateObservableCounter("aotfaas.async.callbacks.given_up", () => _callbacks?.GivenUp ?? 0, description: "Callbacks given up after their attempts.");
    }

    private IEnumerable<System.Diagnostics.Metrics.Measurement<double>> QueueMeasurements(Func<(int Queued, long OldestAcceptedAt), long, double> value)
    {
        string[] served;
        lock (_loops)
        {
            served = [.. _dispatched];
        }

        IReadOnlyDictionary<string, (int Queued, long OldestAcceptedAt)> stats;
        try
        {
            Task<IReadOnlyDictionary<string, (int Queued, long OldestAcceptedAt)>> reading = _store.QueueStatsAsync(served);
            stats = reading.Wait(TimeSpan.FromSeconds(2)) ? reading.Result : new Dictionary<string, (int, long)>();
        }
        catch (AggregateException)
        {
            stats = new Dictionary<string, (int, long)>();
        }

        long now = SqliteCallStore.Now();

        // Every function that takes asynchronous calls, those with none waiting at 0.
        string[] functions = [.. served.Union(stats.Keys)];
        foreach (string function in functions)
        {
            yield return new(value(stats.TryGetValue(function, out (int Queued, long OldestAcceptedAt) queue) ? queue : (0, now), now), new KeyValuePair<string, object?>("function", function));
        }
    }

    /// <summary>
    /// Queues again the calls a server that died left running, then runs the stored calls of <paramref name="functions"/>
    /// (those with <c>async: true</c>), finding each function's current route with <paramref name="find"/>.
    /// </summary>
    /// <param name="meter">The server's meter, for <see cref="AttachMetrics"/> (null without metrics).</param>
    public async Task StartAsync(IEnumerable<Proc> functions, Func<string, FunctionRoute?> find, System.Diagnostics.Metrics.Meter? meter = null)
    {
        AttachMetrics(meter);
        _find = find;
        int recovered = await _store.RecoverAsync(CallOwner.IsAlive).ConfigureAwait(false);
        if (recovered > 0)
        {
            LogRecovered(_log, recovered);
        }

        _callbacks = new CallbackSender(_store, _log, _stopping.Token);
        _loops.Add(_callbacks.RunAsync());
        _loops.Add(PurgeAsync());
        _loops.Add(_store.WatchAsync(function =>
        {
            // Only functions this server runs (another server sharing the store may have others).
            if (_wake.TryGetValue(function, out Signal? signal))
            {
                signal.Set();
            }
        }, _stopping.Token));
        Serve(functions);
    }

    /// <summary>Runs the stored calls of the functions of <paramref name="functions"/> that take them and were not served yet (a reload may add some).</summary>
    public void Serve(IEnumerable<Proc> functions)
    {
        lock (_loops)
        {
            foreach (Proc proc in functions)
            {
                if (proc.TakesAsync && _dispatched.Add(proc.FuncName))
                {
                    _loops.Add(DispatchAsync(proc.FuncName));
                }
            }
        }
    }

    public async Task<InvokeResult> AcceptAsync(InvokeRequest request, FunctionPolicy policy)
    {
        string function = policy.Proc.FuncName;
        if (_stopping.IsCancellationRequested)
        {
            return InvokeResult.Refusal(StatusCodes.Status503ServiceUnavailable, "the server is stopping: try again later");
        }

        HttpContext context = request.Context;
        string? callback = null;
        Microsoft.Extensions.Primitives.StringValues urls = context.Request.Headers["X-Callback-Url"];
        if (urls.Count > 1)
        {
            return InvokeResult.Refusal(StatusCodes.Status400BadRequest, "more than one X-Callback-Url");
        }

        if (urls.Count == 1)
        {
            if (_settings.Callbacks.Check(urls[0]!, out string? reason) is not Uri uri)
            {
                return InvokeResult.Refusal(StatusCodes.Status400BadRequest, $"X-Callback-Url refused: {reason}");
            }

            callback = uri.AbsoluteUri;
        }

        // The budget covers the largest body of any function called (a reload may add a larger max-body).
        _bodies.AtLeast(policy.MaxBody <= long.MaxValue / MaxBodiesInBudget ? policy.MaxBody * MaxBodiesInBudget : long.MaxValue);

        // Held until the body is stored or refused.
        using BodyBudget.Share share = _bodies.Enter(request.InputLength, policy.MaxBody);
        byte[]? body;
        try
        {
            // Bounded as a synchronous call's body is: a body still arriving at the deadline gets 504. One deadline
            // covers the wait for room in the budget and the read.
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(request.Aborted);
            deadline.CancelAfter(request.Timeout);
            try
            {
                body = await ReadAllAsync(request.Input, policy.MaxBody, share, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!request.Aborted.IsCancellationRequested)
            {
                InvokeResult late = InvokeResult.Refusal(StatusCodes.Status504GatewayTimeout, $"'{function}' timed out after {Quantity.FormatDuration((long)policy.Timeout.TotalMilliseconds)} while the request body was still arriving");
                late.TimedOut = true;
                late.Headers.Add(new("Connection", "close"));
                return late;
            }
        }
        catch (OperationCanceledException) when (request.Aborted.IsCancellationRequested)
        {
            return Gone(context, request);
        }
        catch (Exception e) when (InvokeResult.ForInputFailure(context, e, function, policy.MaxBody, Stopwatch.GetElapsedTime(request.Started)) is InvokeResult failed)
        {
            if (InvokeResult.ClientWentAway(context, e))
            {
                return Gone(context, request);
            }

            return failed;
        }

        if (body is null)
        {
            if (request.Aborted.IsCancellationRequested)
            {
                return Gone(context, request);
            }

            // The budget had no room for it before its deadline, or as many bodies wait for room as may: the rest of
            // the body is not read, nor the connection kept.
            InvokeResult busy = InvokeResult.Refusal(StatusCodes.Status503ServiceUnavailable, "the server is busy storing other calls: try again later");
            busy.Headers.Add(new("Retry-After", "1"));
            busy.Headers.Add(new("Connection", "close"));
            return busy;
        }

        string pathInfo = request.PathInfo;
        string target = RequestTarget.After(context, pathInfo);
        var call = new StoredCall
        {
            // The request id (the caller's X-Request-Id when it sent a valid one), unless it holds a '/', which no path
            // segment of its Location could carry: then an id of its own.
            Id = request.RequestId.Contains('/', StringComparison.Ordinal) || request.RequestId is "." or ".." ? RandomId() : request.RequestId,
            Function = function,
            AcceptedAt = SqliteCallStore.Now(),
            Request = CallRequest.From(context, pathInfo, target, policy.Proc).ToBytes(),
            Body = body,
            CallbackUrl = callback,
        };

        EnqueueResult stored;
        try
        {
            stored = await _store.EnqueueAsync(call, policy.Proc.AsyncQueue ?? AsyncSettings.DefaultQueue).ConfigureAwait(false);
            if (stored == EnqueueResult.DuplicateId)
            {
                // The caller's X-Request-Id names a call stored already: this one gets an id of its own.
                call = CopyWithId(call, RandomId());
                stored = await _store.EnqueueAsync(call, policy.Proc.AsyncQueue ?? AsyncSettings.DefaultQueue).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            return InvokeResult.Refusal(StatusCodes.Status503ServiceUnavailable, $"the call could not be stored: {e.Message}", LogLevel.Error);
        }

        if (stored == EnqueueResult.TooLarge)
        {
            InvokeResult large = InvokeResult.Refusal(StatusCodes.Status413PayloadTooLarge, $"the asynchronous call with its body ({body.Length} bytes) is larger than the store takes in one message ({_store}); send a smaller body");
            large.Headers.Add(new("Connection", "close"));
            return large;
        }

        if (stored == EnqueueResult.QueueFull)
        {
            InvokeResult busy = InvokeResult.Refusal(StatusCodes.Status429TooManyRequests, $"'{function}' has {policy.Proc.AsyncQueue ?? AsyncSettings.DefaultQueue} asynchronous calls waiting already; try again later");
            busy.Headers.Add(new("Retry-After", "1"));
            return busy;
        }

        Interlocked.Increment(ref _accepted);
        Wake(function);
        InvokeResult accepted = InvokeResult.Refusal(StatusCodes.Status202Accepted, $"accepted: call {call.Id} of '{function}'", LogLevel.Information);
        accepted.Outcome = $"accepted as call {call.Id}";
        accepted.BytesIn = body.Length;
        accepted.Headers.Add(new("X-Call-Id", call.Id));
        accepted.Headers.Add(new("Location", $"{FunctionEndpoint.AsyncPrefix}{function}{CallsSegment}{Uri.EscapeDataString(call.Id)}"));
        return accepted;
    }

    /// <summary>
    /// The client went away mid-body (a reset reaches the body read as an error, not a cancellation, and leaves Kestrel's
    /// reader mid-read): the connection is aborted, so that Kestrel does not try to drain the body and log its failure.
    /// </summary>
    private static InvokeResult Gone(HttpContext context, InvokeRequest request)
    {
        context.Abort();
        return InvokeResult.ClientGone(Stopwatch.GetElapsedTime(request.Started));
    }

    /// <summary>Where a call's state is read, after <c>/async-function/NAME</c>: <c>GET /async-function/NAME/calls/ID</c>.</summary>
    public const string CallsSegment = "/calls/";

    /// <summary>
    /// A call's state: behind the function's header check (bearer, token); a function whose callers sign their bodies
    /// cannot sign a GET, and its call ids (random, 122 bits, unless the caller chose its own) are what grants the read.
    /// </summary>
    public Task<InvokeResult>? TryReadStatus(HttpContext context, FunctionRoute route, string pathInfo)
    {
        if (!HttpMethods.IsGet(context.Request.Method) || !pathInfo.StartsWith(CallsSegment, StringComparison.Ordinal))
        {
            return null;
        }

        string id = pathInfo[CallsSegment.Length..];
        if (id.Length == 0 || id.Contains('/', StringComparison.Ordinal))
        {
            return null;
        }

        if (route.AuthError is not null)
        {
            return Task.FromResult(InvokeResult.Refusal(StatusCodes.Status500InternalServerError, $"'{route.Policy.Proc.FuncName}' cannot check its callers: its auth secret is not set", LogLevel.Error));
        }

        return route.Auth is { SignsBody: false } auth && !auth.CheckHeaders(context.Request.Headers)
            ? Task.FromResult(Security.FunctionAuth.Unauthorized(auth))
            : StatusAsync(context, route.Policy, id);
    }

    /// <summary>The most bytes of stored output the status reads being answered hold together (<see cref="StatusReads"/>).</summary>
    public const long StatusReadBytes = 128L << 20;

    /// <summary>How long a status read waits for room among the others before it is refused with 503.</summary>
    internal static readonly TimeSpan StatusReadPatience = TimeSpan.FromSeconds(5);

    /// <summary>Status reads being answered: what they hold (internal: the tests read it).</summary>
    internal StatusReads StatusReadsHeld => _statusReads;

    private async Task<InvokeResult> StatusAsync(HttpContext context, FunctionPolicy policy, string callId)
    {
        // Room for the output the store says the call has (or may have), before the call is read; given back when the
        // answer is sent (or the request ends), less what was not found. A call that ended between the two reads has
        // more output than was weighed: it is weighed again (twice at most; the third time its output is kept as read).
        // An output larger than all the reads may hold takes all of it, and is not weighed again.
        StatusReads.Lease? lease;
        StoredCall? call;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                lease = await _statusReads.TakeAsync(await _store.OutputSizeAsync(policy.Proc.FuncName, callId).ConfigureAwait(false), StatusReadPatience, context.RequestAborted).ConfigureAwait(false);
                if (lease is null)
                {
                    if (context.RequestAborted.IsCancellationRequested)
                    {
                        return InvokeResult.ClientGone(TimeSpan.Zero);
                    }

                    InvokeResult busy = InvokeResult.Refusal(StatusCodes.Status503ServiceUnavailable, "the server is busy answering other status reads: try again later");
                    busy.Headers.Add(new("Retry-After", "1"));
                    return busy;
                }

                try
                {
                    call = await _store.FindAsync(policy.Proc.FuncName, callId).ConfigureAwait(false);
                }
                catch
                {
                    lease.Dispose();
                    throw;
                }
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                return InvokeResult.Refusal(StatusCodes.Status503ServiceUnavailable, $"the call could not be read: {e.Message}", LogLevel.Error);
            }

            if ((call?.Output?.Length ?? 0) <= lease.Bytes || lease.Bytes >= _statusReads.Limit || attempt == 3)
            {
                break;
            }

            lease.Dispose();
        }

        context.Response.RegisterForDispose(lease);
        lease.Keep(call?.Output?.Length ?? 0);
        if (call is null)
        {
            return InvokeResult.Refusal(StatusCodes.Status404NotFound, $"no call {callId} of '{policy.Proc.FuncName}' (never accepted, or past its retention)", LogLevel.Information);
        }

        return new InvokeResult
        {
            Status = StatusCodes.Status200OK,
            ContentType = "application/json",
            Body = new CallStatus(call),
            Outcome = $"call {call.Id}: {call.State.ToString().ToLowerInvariant()}",
        };
    }

    /// <summary>
    /// Stops taking stored calls; calls running get until <paramref name="drainTimeout"/> to end, then are stopped and
    /// queued again for the next start; the deliveries stop (due ones are retried at the next start).
    /// </summary>
    public async Task StopAsync(TimeSpan drainTimeout)
    {
        _stopping.Cancel();
        foreach (Signal signal in _wake.Values)
        {
            signal.Set();
        }

        Task running = Task.WhenAll(_running.Values);
        if (await Task.WhenAny(running, Task.Delay(drainTimeout)).ConfigureAwait(false) != running)
        {
            LogDrainCut(_log, _running.Count);
            _abortRuns.Cancel();
            await running.ConfigureAwait(false);
        }

        try
        {
            Task[] loops;
            lock (_loops)
            {
                loops = [.. _loops];
            }

            // Each loop ends at its next store operation, which a store that does not answer fails within seconds; the
            // bound is for a store that hangs all the same.
            await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (TimeoutException)
        {
            LogStoreFailed(_log, "-", "the store did not let the dispatchers stop within 15 s");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested)
        {
            await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        }

        await _store.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _abortRuns.Dispose();
    }

    private void Wake(string function) => _wake.GetOrAdd(function, static _ => new Signal()).Set();

    /// <summary>
    /// Runs the stored calls of <paramref name="function"/>, oldest first, each when the function has a slot to spare: it
    /// takes a free slot when no synchronous request waits for one and starts a run there (<see cref="RunAsync"/>), which
    /// keeps its slot for the next call while nobody waits for it. A claim takes a few calls at once (one per slot of the
    /// function): the one to run now, and the others ahead, for the next slots, so that a slot seldom waits for the store.
    /// Calls taken ahead and not started when the server stops go back to the queue.
    /// </summary>
    private async Task DispatchAsync(string function)
    {
        Signal wake = _wake.GetOrAdd(function, static _ => new Signal());
        var ahead = new Ahead();
        CancellationToken stopping = _stopping.Token;
        TimeSpan poll = TimeSpan.FromSeconds(1);
        bool maybeQueued = true;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    if (!maybeQueued)
                    {
                        await wake.WaitAsync(poll, stopping).ConfigureAwait(false);
                        maybeQueued = true;
                        continue;
                    }

                    if (_find(function) is not FunctionRoute route || !route.Policy.Proc.TakesAsync)
                    {
                        // Replaced by a reload without asynchronous calls: what is queued waits, what was taken ahead with it.
                        await GiveBackAsync(ahead.TakeAll()).ConfigureAwait(false);
                        maybeQueued = false;
                        continue;
                    }

                    RunGate gate = route.Policy.Gate;
                    if (!gate.TryEnterIdle())
                    {
                        await gate.WhenFreedAsync(poll, stopping).ConfigureAwait(false);
                        continue;
                    }

                    StoredCall? call;
                    try
                    {
                        call = await NextAsync(function, gate, ahead).ConfigureAwait(false);
                    }
                    catch
                    {
                        gate.Exit();
                        throw;
                    }

                    if (call is null)
                    {
                        gate.Exit();
                        maybeQueued = !ahead.IsEmpty && !stopping.IsCancellationRequested;
                        continue;
                    }

                    Task run = RunAsync(route.Policy, call, ahead);
                    _running[call.Id] = run;
                    _ = run.ContinueWith(_ => _running.TryRemove(call.Id, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e) when (e is IOException or InvalidOperationException)
                {
                    StoreFailed(function, e.Message);
                    await Task.Delay(poll, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            // The runs take no call ahead once the server stops: what is left ahead is no one's but the queue's.
            await AheadSettledAsync(ahead).ConfigureAwait(false);
            await GiveBackAsync(ahead.TakeAll()).ConfigureAwait(false);
        }
    }

    /// <summary>Calls taken per claim at most (twice the function's <c>max-inflight</c> below that).</summary>
    private const int MaxClaim = 16;

    /// <summary>
    /// The call to run in the slot of <paramref name="gate"/> just taken: the oldest taken ahead, claimed (with the next
    /// ones, for the next slots) when none is. When fewer calls are ahead than the function has slots, the next claim is
    /// made meanwhile, so that a slot seldom waits for the store. Null when none is queued, or when a synchronous request
    /// came for the slot meanwhile (the call waits ahead), or the server stops (the calls claimed go back to the queue).
    /// </summary>
    private async Task<StoredCall?> NextAsync(string function, RunGate gate, Ahead ahead)
    {
        int batch = Math.Clamp(gate.MaxInflight * 2, 2, MaxClaim);
        StoredCall? next;
        int left;
        while ((next = ahead.TryTake(out left)) is null)
        {
            if (!await ClaimAheadAsync(function, batch, ahead).ConfigureAwait(false))
            {
                return null;
            }
        }

        if (left < gate.MaxInflight && ahead.MoreQueued)
        {
            _ = ClaimAheadAsync(function, batch, ahead);
        }

        // Synchronous requests first: one that came while the call was claimed takes the slot, the call waits ahead.
        if (gate.Waiting > 0 || _stopping.IsCancellationRequested)
        {
            if (!ahead.TryPutBack(next, _stopping.Token))
            {
                await GiveBackAsync([next]).ConfigureAwait(false);
            }

            return null;
        }

        return next;
    }

    /// <summary>
    /// Claims the next <paramref name="batch"/> queued calls into <paramref name="ahead"/>, unless a claim is under way
    /// already (then that one is waited for); false when it found none. Never throws: a store failure is logged.
    /// </summary>
    private Task<bool> ClaimAheadAsync(string function, int batch, Ahead ahead)
    {
        lock (ahead)
        {
            if (ahead.Claiming is not { IsCompleted: false } claiming)
            {
                claiming = ahead.Claiming = ClaimAsync();
            }

            return claiming;
        }

        async Task<bool> ClaimAsync()
        {
            try
            {
                IReadOnlyList<StoredCall> claimed = await _store.ClaimAsync(function, CallOwner.Self, batch).ConfigureAwait(false);
                ahead.MoreQueued = claimed.Count == batch;
                if (claimed.Count == 0)
                {
                    return false;
                }

                if (!ahead.TryAdd(claimed, _stopping.Token))
                {
                    await GiveBackAsync(claimed).ConfigureAwait(false);
                    return false;
                }

                return true;
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                StoreFailed(function, e.Message);
                return false;
            }
        }
    }

    private static Task AheadSettledAsync(Ahead ahead)
    {
        lock (ahead)
        {
            return ahead.Claiming ?? Task.CompletedTask;
        }
    }

    /// <summary>Puts calls taken ahead and never started back in the queue, as they were (their run not counted).</summary>
    private async Task GiveBackAsync(IReadOnlyList<StoredCall> calls)
    {
        foreach (StoredCall call in calls)
        {
            call.Runs--;
            call.State = CallState.Queued;
            try
            {
                await _store.RequeueAsync(call).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                // Left running in the store: the next start queues it again (its run counted once more).
                StoreFailed(call.Function, e.Message);
            }
        }
    }

    /// <summary>
    /// Stored calls run like synchronous ones in the slot taken by the dispatcher, one after the other: at each call's
    /// end its outcome goes to the store, and the slot runs the next call when no synchronous request waits for it (the
    /// gate hands it to one that does), the function was not reloaded and the server does not stop; else it is given back.
    /// </summary>
    private async Task RunAsync(FunctionPolicy policy, StoredCall call, Ahead ahead)
    {
        await Task.Yield();
        RunGate gate = policy.Gate;
        Task ending = Task.CompletedTask;
        try
        {
            while (true)
            {
                bool requeue = await RunOneAsync(policy, call).ConfigureAwait(false);

                // Its end is written while the next call runs (the store commits the ends and the next claim together).
                Task ended = ending;
                ending = EndAsync(call, requeue);
                await ended.ConfigureAwait(false);

                StoredCall? next = null;
                if (!requeue && !_stopping.IsCancellationRequested && gate.Waiting == 0 && ReferenceEquals(_find(call.Function)?.Policy, policy))
                {
                    try
                    {
                        next = await NextAsync(call.Function, gate, ahead).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is IOException or InvalidOperationException)
                    {
                        StoreFailed(call.Function, e.Message);
                    }
                }

                if (next is null)
                {
                    gate.Exit();
                    break;
                }

                call = next;
            }
        }
        finally
        {
            await ending.ConfigureAwait(false);

            // A claim this run started meanwhile ends before the run does (the server stopping waits for the runs).
            await AheadSettledAsync(ahead).ConfigureAwait(false);

            // The dispatcher may have stopped waiting for a slot of this function.
            Wake(call.Function);
        }
    }

    /// <summary>One stored call, run like a synchronous one, its outcome set on <paramref name="call"/>; true when it is to be queued again (cut by the drain).</summary>
    private async Task<bool> RunOneAsync(FunctionPolicy policy, StoredCall call)
    {
        long started = Stopwatch.GetTimestamp();
        try
        {
            CallRequest stored = CallRequest.FromBytes(call.Request);
            HttpContext context = StoredContext.For(call.Function, stored, _abortRuns.Token);
            bool hasInput = FunctionPolicy.HasInput(stored.Method);
            PipeReader input = PipeReader.Create(hasInput ? new ReadOnlySequence<byte>(call.Body) : ReadOnlySequence<byte>.Empty);
            var request = new InvokeRequest(context, stored.PathInfo, input, hasInput ? call.Body.Length : null, call.Id, policy.Timeout, started);
            await using (InvokeResult result = await policy.Invoker.InvokeAsync(request).ConfigureAwait(false))
            {
                if (result.NoResponse && _abortRuns.IsCancellationRequested)
                {
                    return true;
                }

                (call.Output, call.ContentType) = await OutputAsync(result, policy).ConfigureAwait(false);
                await result.Ended.ConfigureAwait(false);
                result.Conclude();
                call.Status = result.Status;
                call.Exit = result.Exit;
                LogEnded(_log, call.Function, call.Id, result.Status, Stopwatch.GetElapsedTime(started).TotalMilliseconds, result.Outcome);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !_abortRuns.IsCancellationRequested)
        {
            // A call that cannot run (its stored request is unreadable, the invoker failed) ends as the server's 500.
            call.Status = StatusCodes.Status500InternalServerError;
            call.Exit = "-";
            call.ContentType = ResponseWriter.TextContentType;
            call.Output = System.Text.Encoding.UTF8.GetBytes($"the call could not be run: {e.Message.ReplaceLineEndings(" ")}\n");
            LogEnded(_log, call.Function, call.Id, 500, Stopwatch.GetElapsedTime(started).TotalMilliseconds, "could not be run: " + e.GetType().Name);
        }
        catch (OperationCanceledException)
        {
            return true;
        }

        return false;
    }

    /// <summary>Records the end of <paramref name="call"/> (or queues it again, cut by the drain); never throws.</summary>
    private async Task EndAsync(StoredCall call, bool requeue)
    {
        try
        {
            if (requeue)
            {
                await _store.RequeueAsync(call).ConfigureAwait(false);
                return;
            }

            call.State = CallState.Done;
            call.EndedAt = SqliteCallStore.Now();
            await _store.CompleteAsync(call).ConfigureAwait(false);
            Interlocked.Increment(ref _completed);
            if (call.CallbackUrl is not null)
            {
                _callbacks?.Wake();
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // Left running in the store: the next start queues it again (at least once).
            StoreFailed(call.Function, e.Message);
        }
    }

    /// <summary>The body a synchronous call would have answered with, up to <c>max-output</c>, and its Content-Type.</summary>
    private static async Task<(byte[] Output, string? ContentType)> OutputAsync(InvokeResult result, FunctionPolicy policy)
    {
        if (result.Body is not IResponseBody body)
        {
            return (System.Text.Encoding.UTF8.GetBytes((result.Message ?? string.Empty).ReplaceLineEndings(" ") + "\n"), ResponseWriter.TextContentType);
        }

        using var kept = new BoundedStream(policy.MaxOutput);
        using var deadline = new CancellationTokenSource(policy.Timeout);
        try
        {
            await body.CopyToAsync(kept, deadline.Token, result.BodyOffset).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            result.Outcome += "; its output was cut: " + e.Message;
        }

        return (kept.ToArray(), result.ContentType);
    }

    private async Task PurgeAsync()
    {
        TimeSpan every = TimeSpan.FromMilliseconds(Math.Clamp(_settings.Retention.TotalMilliseconds / 10, 1000, 60_000));
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(every, _stopping.Token).ConfigureAwait(false);
                await _store.PurgeAsync(SqliteCallStore.Now() - (long)_settings.Retention.TotalMilliseconds).ConfigureAwait(false);

                // A server that shared the store (the one this one replaced) and died since leaves its calls to be run here.
                if (await _store.RecoverAsync(CallOwner.IsAlive).ConfigureAwait(false) is int recovered and > 0)
                {
                    LogRecovered(_log, recovered);
                    foreach (Signal signal in _wake.Values)
                    {
                        signal.Set();
                    }
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                StoreFailed("-", e.Message);
            }
        }
    }

    /// <summary>
    /// Reads the whole body (at most <paramref name="limit"/> bytes) into one array, taking its room from
    /// <paramref name="share"/> as the bytes arrive: the room doubles as they come, never past the announced length, or
    /// is taken whole when the budget would otherwise have too little left for the body to end (<see cref="BodyBudget"/>);
    /// the room taken is what the arrays hold. Null when the budget had no room for the bytes that came before
    /// <paramref name="cancellationToken"/> fired; those bytes are left unread.
    /// </summary>
    /// <exception cref="InputTooLargeException">More than <paramref name="limit"/> bytes arrived.</exception>
    private static async Task<byte[]?> ReadAllAsync(PipeReader input, long limit, BodyBudget.Share share, CancellationToken cancellationToken)
    {
        byte[] buffer = [];
        long written = 0;

        // A read cancelled through its token would leave Kestrel's body reader mid-read, and its drain after the answer
        // would fail (an error logged per call): the deadline cancels the pending read instead (SignedBody does the same).
        using CancellationTokenRegistration stop = cancellationToken.UnsafeRegister(static state => ((PipeReader)state!).CancelPendingRead(), input);
        ReadResult read = await ReadOrStopAsync(input, cancellationToken).ConfigureAwait(false);
        while (true)
        {
            long needed = written + read.Buffer.Length;
            if (needed > limit)
            {
                input.AdvanceTo(read.Buffer.End);
                throw new InputTooLargeException(limit);
            }

            if (needed > buffer.Length)
            {
                // The new array is taken before the old one is given back: both are held while it is copied. A body
                // that has all come takes just its size, and ends.
                ValueTask<long> growing = share.GrowAsync(needed, cancellationToken, whole: read.IsCompleted);
                long room;
                ReadResult? more = null;
                if (growing.IsCompleted || read.IsCompleted)
                {
                    room = await growing.ConfigureAwait(false);
                }
                else
                {
                    // No room yet: the rest may come while it waits, and a body that has all come needs room for its
                    // size alone (a small body without a length, its last chunk just behind its first, would otherwise
                    // wait for twice its max-body). So it reads on, keeping what came, until one or the other.
                    input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                    Task<long> grow = growing.AsTask();
                    Task<ReadResult> reading = ReadOrStopAsync(input, cancellationToken).AsTask();
                    if (await Task.WhenAny(grow, reading).ConfigureAwait(false) == reading)
                    {
                        share.StopWaiting();
                    }

                    room = await grow.ConfigureAwait(false);
                    try
                    {
                        more = await reading.ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (room == 0)
                    {
                        // The deadline came while it waited for room.
                        return null;
                    }
                }

                if (room > 0)
                {
                    byte[] grown = GC.AllocateUninitializedArray<byte>((int)room);
                    buffer.AsSpan(0, (int)written).CopyTo(grown);
                    buffer = grown;
                    share.Moved();
                }
                else if (more is null)
                {
                    // Refused at once (as many bodies wait for room as may). A body in chunks is handed over chunk by
                    // chunk, before its end is parsed, so a small one that came whole with its head looks unfinished:
                    // what the connection holds already is read once more, and a body found whole is weighed again.
                    input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                    if (!share.Sized && !read.IsCompleted && input.TryRead(out ReadResult whole))
                    {
                        if (whole.IsCompleted && !whole.IsCanceled)
                        {
                            read = whole;
                            continue;
                        }

                        input.AdvanceTo(whole.Buffer.Start);
                    }

                    return null;
                }

                if (more is ReadResult next)
                {
                    // What came before and after, from the same start: weighed again.
                    read = next;
                    continue;
                }
            }

            read.Buffer.CopyTo(buffer.AsSpan((int)written));
            written = needed;
            input.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted)
            {
                break;
            }

            read = await ReadOrStopAsync(input, cancellationToken).ConfigureAwait(false);
        }

        if (written == buffer.Length)
        {
            return buffer;
        }

        // A body without a length ends short of its room: the store is given an array of its size.
        if (await share.EndAsync(written, cancellationToken).ConfigureAwait(false) == 0)
        {
            return null;
        }

        byte[] body = buffer.AsSpan(0, (int)written).ToArray();
        share.Moved();
        return body;
    }

    /// <summary>The next read of <paramref name="input"/>; a read cancelled by <paramref name="stopped"/>'s registration throws, its bytes left unread.</summary>
    private static async ValueTask<ReadResult> ReadOrStopAsync(PipeReader input, CancellationToken stopped)
    {
        ReadResult read = await input.ReadAsync(CancellationToken.None).ConfigureAwait(false);
        if (read.IsCanceled)
        {
            input.AdvanceTo(read.Buffer.Start);
            throw new OperationCanceledException(stopped);
        }

        return read;
    }

    /// <summary>
    /// Calls of one function claimed (marked running by this server) ahead of a free slot, oldest first: at most a
    /// claim's worth. Nothing is added once the server stops: the dispatcher gives back what is left when it ends.
    /// </summary>
    private sealed class Ahead
    {
        private readonly LinkedList<StoredCall> _calls = new();

        /// <summary>The claim under way (or the last one), under the lock of this.</summary>
        public Task<bool>? Claiming { get; set; }

        /// <summary>Whether the last claim found as many calls as it asked for: more may be queued.</summary>
        public bool MoreQueued { get; set; }

        public bool IsEmpty
        {
            get
            {
                lock (_calls)
                {
                    return _calls.Count == 0;
                }
            }
        }

        /// <summary>The oldest call ahead, and how many are left after it.</summary>
        public StoredCall? TryTake(out int left)
        {
            lock (_calls)
            {
                if (_calls.First is not LinkedListNode<StoredCall> first)
                {
                    left = 0;
                    return null;
                }

                _calls.RemoveFirst();
                left = _calls.Count;
                return first.Value;
            }
        }

        /// <summary>Keeps <paramref name="calls"/> (claimed after those kept, so younger) unless the server stops.</summary>
        public bool TryAdd(IReadOnlyList<StoredCall> calls, CancellationToken stopping)
        {
            lock (_calls)
            {
                if (stopping.IsCancellationRequested)
                {
                    return false;
                }

                foreach (StoredCall call in calls)
                {
                    _calls.AddLast(call);
                }

                return true;
            }
        }

        /// <summary>Puts back a call taken and not started, first in line, unless the server stops.</summary>
        public bool TryPutBack(StoredCall call, CancellationToken stopping)
        {
            lock (_calls)
            {
                if (stopping.IsCancellationRequested)
                {
                    return false;
                }

                _calls.AddFirst(call);
                return true;
            }
        }

        public List<StoredCall> TakeAll()
        {
            lock (_calls)
            {
                List<StoredCall> all = [.. _calls];
                _calls.Clear();
                return all;
            }
        }
    }

    private void StoreFailed(string function, string reason)
    {
        if (_storeFailures.Next(reason) is string line)
        {
            LogStoreFailed(_log, function, line);
        }
    }

    private static StoredCall CopyWithId(StoredCall call, string id) => new()
    {
        Id = id,
        Function = call.Function,
        AcceptedAt = call.AcceptedAt,
        Request = call.Request,
        Body = call.Body,
        CallbackUrl = call.CallbackUrl,
    };

    private static string RandomId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "Asynchronous calls: {Count} left running by a server that stopped are queued again")]
    private static partial void LogRecovered(ILogger logger, int count);

    [LoggerMessage(EventId = 41, Level = LogLevel.Information, Message = "{Function} call {CallId} ended: {Status} in {Milliseconds:F1} ms ({Outcome})")]
    private static partial void LogEnded(ILogger logger, string function, string callId, int status, double milliseconds, string outcome);

    [LoggerMessage(EventId = 42, Level = LogLevel.Error, Message = "Asynchronous calls of {Function}: the store failed: {Reason}")]
    private static partial void LogStoreFailed(ILogger logger, string function, string reason);

    [LoggerMessage(EventId = 43, Level = LogLevel.Warning, Message = "Asynchronous calls: {Count} still running at the drain timeout are stopped and queued again")]
    private static partial void LogDrainCut(ILogger logger, int count);
}
