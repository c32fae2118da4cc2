using System.Diagnostics;
using AotFaas.Functions;
using AotFaas.Invokers;
using AotFaas.Shared;

namespace AotFaas.Workers;

/// <summary>
/// The <c>mode: http</c> way to run a function: long-lived workers (<see cref="WorkerPool"/>) that each serve HTTP on
/// a loopback port, and every call proxied to the least busy one (<see cref="ForwardedRequest"/>), its response
/// streamed back (<see cref="WorkerResponse"/>). A call that finds no worker ready (they are starting) waits for one
/// up to the function's start timeout: a cold start is not the call's fault. From then on the function's timeout
/// bounds the wait for the response's head, and then each pause in its body; past it the call to the worker is
/// cancelled and the client gets 504. A worker that cannot be reached, resets the call or answers with a malformed response gives 502.
/// </summary>
public sealed class HttpProxyInvoker : IFunctionInvoker
{
    private readonly FunctionPolicy _policy;
    private readonly WorkerPool _pool;

    /// <param name="policy">The function.</param>
    /// <param name="log">Where the workers' lifecycle and output go.</param>
    public HttpProxyInvoker(FunctionPolicy policy, ILogger log)
    {
        _policy = policy;
        _pool = new WorkerPool(policy, log);
    }

    public IWorkerStatus Workers => _pool;

    public void Start() => _pool.Start();

    public Task StopAsync(TimeSpan killGrace) => _pool.StopAsync(killGrace);

    public async Task<InvokeResult> InvokeAsync(InvokeRequest request)
    {
        Worker? worker;
        InvokeResult? refusal;
        try
        {
            (worker, refusal) = await _pool.AcquireAsync(request.Aborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (request.Aborted.IsCancellationRequested)
        {
            return InvokeResult.ClientGone(Stopwatch.GetElapsedTime(request.Started));
        }

        if (worker is null)
        {
            return refusal!;
        }

        var deadline = CancellationTokenSource.CreateLinkedTokenSource(request.Aborted);
        deadline.CancelAfter(request.Timeout);
        HttpRequestMessage? message = null;
        HttpResponseMessage? response = null;
        try
        {
            message = ForwardedRequest.For(request, _policy.Proc, worker.Port, _policy.MaxBody);
            response = await UpstreamClient.Instance.SendAsync(message, deadline.Token).ConfigureAwait(false);
            if ((int)response.StatusCode < 200)
            {
                // 101 to a request that asked for no upgrade, or another 1xx as the final answer: not a response to pass on.
                throw new HttpRequestException($"answered with status {(int)response.StatusCode}, which cannot end a response");
            }

            return new WorkerResponse(request.Context, response, message, deadline, _policy.Timeout, () => _pool.Release(worker, timedOut: false, failed: false), failed => _pool.Release(worker, failed.TimedOut, failed: true))
            {
                Outcome = $"HTTP {(int)response.StatusCode} from worker {worker.Number}",
            };
        }
        catch (Exception e)
        {
            response?.Dispose();
            var body = message?.Content as ForwardedRequest.StreamedBody;
            bool uploading = body is { Complete: false };
            InvokeResult failed = Failure(request, e, deadline, worker, uploading);
            failed.BytesIn = body?.BytesRead ?? 0;
            message?.Dispose();
            deadline.Dispose();

            // A deadline that passed while the client was still sending its body is the client's doing, not the worker's:
            // it does not count towards the worker's restart (else slow clients could keep restarting it).
            bool workersFault = failed.Status is StatusCodes.Status502BadGateway || (failed.Status is StatusCodes.Status504GatewayTimeout && !uploading);
            _pool.Release(worker, failed.TimedOut && !uploading, failed: workersFault);
            return failed;
        }
    }

    /// <summary>What a call that got no response head comes to.</summary>
    private InvokeResult Failure(InvokeRequest request, Exception e, CancellationTokenSource deadline, Worker worker, bool uploading)
    {
        string function = _policy.Proc.FuncName;
        TimeSpan elapsed = Stopwatch.GetElapsedTime(request.Started);
        if (request.Aborted.IsCancellationRequested)
        {
            return InvokeResult.ClientGone(elapsed);
        }

        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            // The client's body failed (over max-body, malformed): not the worker's doing.
            if (inner is InputTooLargeException or BadHttpRequestException && InvokeResult.ForInputFailure(request.Context, inner, function, _policy.MaxBody, elapsed) is InvokeResult input)
            {
                return input;
            }
        }

        if (deadline.IsCancellationRequested && uploading)
        {
            InvokeResult slow = InvokeResult.Refusal(StatusCodes.Status504GatewayTimeout, $"'{function}' timed out after {Quantity.FormatDuration((long)_policy.Timeout.TotalMilliseconds)} while the request body was still arriving; the call to worker {worker.Number} was cancelled");
            slow.TimedOut = true;
            return slow;
        }

        if (deadline.IsCancellationRequested)
        {
            InvokeResult late = InvokeResult.Refusal(StatusCodes.Status504GatewayTimeout, $"'{function}' did not answer within its timeout of {Quantity.FormatDuration((long)_policy.Timeout.TotalMilliseconds)} (worker {worker.Number}); the call to it was cancelled");
            late.TimedOut = true;
            return late;
        }

        return InvokeResult.Refusal(StatusCodes.Status502BadGateway, $"'{function}' failed: worker {worker.Number} {Describe(e)}");
    }

    /// <summary>What went wrong between the server and a worker, in a few words.</summary>
    internal static string Describe(Exception e)
    {
        Exception innermost = e;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        // Said from the exception's kind, not its message: the trimmed binary's framework messages are bare resource keys.
        HttpRequestError error = HttpRequestError.Unknown;
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is HttpRequestException { HttpRequestError: not HttpRequestError.Unknown } known)
            {
                error = known.HttpRequestError;
                break;
            }
        }

        return innermost switch
        {
            System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused } => "refused the connection (it may have just exited)",
            System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionReset } => "reset the connection",
            System.Net.Sockets.SocketException socket => $"could not be reached: {socket.SocketErrorCode}",
            HttpRequestException { HttpRequestError: HttpRequestError.Unknown } when innermost.Message.StartsWith("answered with status", StringComparison.Ordinal) => innermost.Message,
            _ => error switch
            {
                HttpRequestError.ResponseEnded => "closed the connection before it answered",
                HttpRequestError.InvalidResponse => "sent a malformed response",
                HttpRequestError.ConfigurationLimitExceeded => $"sent a response head over {UpstreamClient.MaxResponseHeadersKiB} KiB",
                HttpRequestError.ConnectionError => "could not be connected to",
                _ => $"could not be called ({innermost.GetType().Name})",
            },
        };
    }
}
