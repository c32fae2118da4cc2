using System.Globalization;
using AotFaas.Invokers;
using System.Net.Http.Headers;

namespace AotFaas.Async;

/// <summary>
/// Delivers the results of ended calls to their <c>X-Callback-Url</c>: a POST whose body is the call's output (stdout,
/// or stderr on failure, or the server's one line), with <c>X-Call-Id</c>, <c>X-Function-Name</c>,
/// <c>X-Function-Status</c> (the status a synchronous call would have had), <c>X-Duration-Seconds</c>,
/// <c>X-Exit-Code</c> and the output's Content-Type. A delivery that gets no 2xx is tried again after 1 s, 2 s, 4 s ...
/// (at most 5 minutes apart), and given up after <see cref="MaxAttempts"/> attempts or <see cref="GiveUpAfter"/>,
/// whichever comes first; the store keeps where each one is, so a restart goes on where it was. Redirects are not
/// followed (they could lead anywhere <c>--callback-allow</c> does not list).
/// </summary>
public sealed partial class CallbackSender(ICallStore store, ILogger log, CancellationToken stopping)
{
    /// <summary>Attempts before a delivery is given up.</summary>
    public const int MaxAttempts = 10;

    /// <summary>How long after the call ended a delivery is still tried.</summary>
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromHours(1);

    /// <summary>How long one attempt may take.</summary>
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(10);

    private static readonly HttpMessageInvoker Client = OutboundHttp.Create(idle: TimeSpan.FromSeconds(30));

    private readonly Signal _wake = new();
    private readonly FailureThrottle _storeFailures = new();
    private long _delivered;
    private long _retried;
    private long _givenUp;

    /// <summary>Deliveries that got a 2xx.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>Attempts that failed and were scheduled again.</summary>
    public long Retried => Interlocked.Read(ref _retried);

    /// <summary>Deliveries given up.</summary>
    public long GivenUp => Interlocked.Read(ref _givenUp);

    /// <summary>A call with a callback ended: look for due deliveries now.</summary>
    public void Wake() => _wake.Set();

    public async Task RunAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            IReadOnlyList<StoredCall> due;
            try
            {
                due = await store.DueCallbacksAsync(SqliteCallStore.Now(), 16).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                if (_storeFailures.Next(e.Message) is string line)
                {
                    LogStoreFailed(log, line);
                }
                due = [];
            }

            if (due.Count == 0)
            {
                try
                {
                    await _wake.WaitAsync(TimeSpan.FromSeconds(1), stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            await Task.WhenAll(due.Select(DeliverAsync)).ConfigureAwait(false);
        }
    }

    private async Task DeliverAsync(StoredCall call)
    {
        call.CallbackAttempts++;
        string? failure = null;
        try
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            attempt.CancelAfter(AttemptTimeout);
            using var request = new HttpRequestMessage(HttpMethod.Post, call.CallbackUrl) { Content = new ByteArrayContent(call.Output ?? []) };
            if (call.ContentType is not null && MediaTypeHeaderValue.TryParse(call.ContentType, out MediaTypeHeaderValue? type))
            {
                request.Content.Headers.ContentType = type;
            }

            request.Headers.TryAddWithoutValidation("X-Call-Id", call.Id);
            request.Headers.TryAddWithoutValidation("X-Function-Name", call.Function);
            request.Headers.TryAddWithoutValidation("X-Function-Status", (call.Status ?? 0).ToString(CultureInfo.InvariantCulture));
            request.Headers.TryAddWithoutValidation("X-Exit-Code", call.Exit ?? "-");
            if (call.StartedAt is long started && call.EndedAt is long ended)
            {
                request.Headers.TryAddWithoutValidation("X-Duration-Seconds", ((ended - started) / 1000.0).ToString("F3", CultureInfo.InvariantCulture));
            }

            using HttpResponseMessage response = await Client.SendAsync(request, attempt.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                failure = $"it answered {(int)response.StatusCode}";
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The server stops: this attempt does not count; the next start tries again.
            call.CallbackAttempts--;
            return;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
        {
            failure = e is OperationCanceledException ? $"no answer within {AttemptTimeout.TotalSeconds:F0} s" : $"{e.GetType().Name} ({(e as HttpRequestException)?.HttpRequestError})";
        }

        long now = SqliteCallStore.Now();
        if (failure is null)
        {
            call.Callback = CallbackState.Delivered;
            Interlocked.Increment(ref _delivered);
            LogDelivered(log, call.Function, call.Id, call.CallbackAttempts);
        }
        else if (call.CallbackAttempts >= MaxAttempts || now - (call.EndedAt ?? now) >= (long)GiveUpAfter.TotalMilliseconds)
        {
            call.Callback = CallbackState.GivenUp;
            Interlocked.Increment(ref _givenUp);
            LogGivenUp(log, call.Function, call.Id, call.CallbackAttempts, failure);
        }
        else
        {
            long pause = Math.Min(1000L << Math.Min(call.CallbackAttempts - 1, 20), 300_000);
            call.CallbackDueAt = now + pause;
            Interlocked.Increment(ref _retried);
            LogRetry(log, call.Function, call.Id, call.CallbackAttempts, failure, pause);
        }

        try
        {
            await store.UpdateCallbackAsync(call).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            if (_storeFailures.Next(e.Message) is string line)
            {
                LogStoreFailed(log, line);
            }
        }
    }

    [LoggerMessage(EventId = 50, Level = LogLevel.Information, Message = "{Function} call {CallId}: callback delivered (attempt {Attempt})")]
    private static partial void LogDelivered(ILogger logger, string function, string callId, int attempt);

    [LoggerMessage(EventId = 51, Level = LogLevel.Warning, Message = "{Function} call {CallId}: callback attempt {Attempt} failed: {Reason}; next in {Milliseconds} ms")]
    private static partial void LogRetry(ILogger logger, string function, string callId, int attempt, string reason, long milliseconds);

    [LoggerMessage(EventId = 52, Level = LogLevel.Error, Message = "{Function} call {CallId}: callback given up after {Attempts} attempts: {Reason}")]
    private static partial void LogGivenUp(ILogger logger, string function, string callId, int attempts, string reason);

    [LoggerMessage(EventId = 53, Level = LogLevel.Error, Message = "Callbacks: the store failed: {Reason}")]
    private static partial void LogStoreFailed(ILogger logger, string reason);
}
