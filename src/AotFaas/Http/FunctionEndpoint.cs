using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using AotFaas.Functions;
using AotFaas.Invokers;
using AotFaas.Operations;
using AotFaas.Security;
using Microsoft.Extensions.Primitives;

namespace AotFaas.Http;

/// <summary>
/// <c>POST /function/{name}</c>, the seed's contract: the request body goes to the function, and what it
/// comes to is the response; an unknown name gives 404 with an empty body. Each request to a known function
/// goes admit -> invoke -> respond: <see cref="AdmissionChecks"/> (method, path, auth, body limit, a signed body
/// received and verified, a slot of the function's gate), then the function's <see cref="IFunctionInvoker"/>,
/// then <see cref="ResponseWriter"/>. Each is one <see cref="Invocation"/>: one log line and one metrics record.
/// </summary>
public sealed class FunctionEndpoint(FunctionRoutes routes, ILogger logger, FaasMetrics? metrics = null, IAsyncCalls? asyncCalls = null)
{
    /// <summary>Where the endpoint's lines go; the dispatcher logs an unhandled exception there too.</summary>
    internal ILogger Logger => logger;

    /// <summary>The endpoint's log category (this class's full name, written out rather than read by reflection).</summary>
    public const string LogCategory = "AotFaas.Http.FunctionEndpoint";

    /// <summary>The path prefix of asynchronous calls: <c>/async-function/NAME</c>.</summary>
    public const string AsyncPrefix = RequestTarget.AsyncPathPrefix;

    /// <summary>
    /// Runs the function <paramref name="name"/> for this request; <paramref name="pathInfo"/> is the
    /// decoded path after its name, empty or starting with '/'. With <paramref name="async"/> (<c>/async-function/</c>),
    /// the call is admitted alike, then stored and answered 202 (or its state read, for <c>GET .../calls/ID</c>);
    /// a function that takes no asynchronous calls is unknown there (404).
    /// </summary>
    public async Task HandleAsync(HttpContext context, string name, string pathInfo, bool async = false)
    {
        long started = Stopwatch.GetTimestamp();
        StringValues offered = context.Request.Headers[RequestId.Header];
        string requestId = RequestId.For(offered.Count == 1 ? offered[0] : null);
        context.Response.Headers[RequestId.Header] = requestId;
        FunctionRoute? route = routes.Find(name);
        if (route is null || (async && (asyncCalls is null || !route.Policy.Proc.TakesAsync)))
        {
            // Not an invocation: no function, no log line, and no metric labelled with a name anyone can make up.
            metrics?.UnknownFunction();
            ResponseWriter.Stamp(context, started);
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        route.Policy.CountInvocation();
        var invocation = new Invocation(route.Policy.Proc.FuncName, context.Request.Method, requestId, started);
        try
        {
            if (async && asyncCalls!.TryReadStatus(context, route, pathInfo) is Task<InvokeResult> reading)
            {
                await using InvokeResult status = await reading;
                await RespondAsync(context, status, invocation, route.Policy);
            }
            else
            {
                await InvokeAsync(context, route, pathInfo, invocation, async ? asyncCalls : null);
            }
        }
        catch (Exception e) when (InvokeResult.ClientWentAway(context, e))
        {
            // Not a bug: a read or write of ours met a closed connection. The client got what was under way, or nothing.
            if (!context.Response.HasStarted)
            {
                invocation.Record(InvokeResult.ClientGone(invocation.Elapsed));
            }
        }
        catch (Exception e)
        {
            // The dispatcher answers it (HandlerFailure); the invocation records what the client gets.
            invocation.Unhandled = true;
            invocation.Status = HandlerFailure.StatusFor(context);
            invocation.Refuse($"unhandled {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}", LogLevel.Error);
            throw;
        }
        finally
        {
            Complete(context, invocation);
        }
    }

    /// <summary>Admit, invoke (or, for an asynchronous call, store), respond.</summary>
    private static async Task InvokeAsync(HttpContext context, FunctionRoute route, string pathInfo, Invocation invocation, IAsyncCalls? store)
    {
        FunctionPolicy policy = route.Policy;
        if (AdmissionChecks.Check(context, route, pathInfo) is InvokeResult refused)
        {
            await RespondAsync(context, refused, invocation, policy);
            return;
        }

        SignedBody.Received? signedBody = null;
        PipeReader? signedInput = null;
        try
        {
            if (route.Auth is { SignsBody: true } signer)
            {
                // Before a slot is taken, and within the deadline: an unsigned body must not hold what signed ones need.
                (signedBody, InvokeResult? unsigned) = await SignedBody.ReceiveAsync(context, policy, signer, route.Unverified, Remaining(policy, invocation), invocation.Started);
                if (unsigned is not null)
                {
                    await RespondAsync(context, unsigned, invocation, policy);
                    return;
                }
            }

            if (store is not null)
            {
                // Accepted, not run: the call takes a slot when it runs, later.
                (PipeReader body, long? bodyLength) = Input(context, signedBody);
                signedInput = signedBody is null ? null : body;
                await using InvokeResult accepted = await store.AcceptAsync(new InvokeRequest(context, pathInfo, body, bodyLength, invocation.RequestId, Remaining(policy, invocation), invocation.Started), policy);
                await RespondAsync(context, accepted, invocation, policy);
                return;
            }

            (Slot? slot, InvokeResult? turnedAway) = await AdmissionChecks.EnterAsync(context, policy, Remaining(policy, invocation), invocation.Elapsed);
            if (turnedAway is not null)
            {
                await RespondAsync(context, turnedAway, invocation, policy);
                return;
            }

            try
            {
                (PipeReader input, long? length) = Input(context, signedBody);
                signedInput = signedBody is null ? null : input;
                var request = new InvokeRequest(context, pathInfo, input, length, invocation.RequestId, Remaining(policy, invocation), invocation.Started);
                await using InvokeResult result = await policy.Invoker.InvokeAsync(request);
                if (result.Ended.IsCompleted && !result.StreamsBody)
                {
                    // The run is over: writing the response holds no slot.
                    slot!.Release();
                }

                await RespondAsync(context, result, invocation, policy);

                // A result answered before its end (a timed-out run) holds the slot until the run is gone.
                await result.Ended;
                slot!.Release();
                result.Conclude();
                invocation.Record(result);
            }
            finally
            {
                slot!.Release();
            }
        }
        finally
        {
            signedBody?.Dispose();
            if (signedInput is not null)
            {
                await signedInput.CompleteAsync();
            }
        }
    }

    /// <summary>What the function reads: nothing for GET and HEAD, a verified signed body, or the request's body.</summary>
    private static (PipeReader Input, long? Length) Input(HttpContext context, SignedBody.Received? signedBody)
    {
        if (!FunctionPolicy.HasInput(context.Request.Method))
        {
            return (PipeReader.Create(ReadOnlySequence<byte>.Empty), null);
        }

        return signedBody is not null
            ? (PipeReader.Create(signedBody.Body.OpenRead()), signedBody.Body.Length)
            : (context.Request.BodyReader, context.Request.ContentLength);
    }

    private static async Task RespondAsync(HttpContext context, InvokeResult result, Invocation invocation, FunctionPolicy policy)
    {
        await ResponseWriter.WriteAsync(context, result, invocation.Started, policy);
        invocation.Record(result);
    }

    /// <summary>What is left of the function's timeout since the request arrived (at least a millisecond).</summary>
    private static TimeSpan Remaining(FunctionPolicy policy, Invocation invocation)
    {
        TimeSpan left = policy.Timeout - invocation.Elapsed;
        return left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1);
    }

    /// <summary>The one log line and metrics record of <paramref name="invocation"/>.</summary>
    private void Complete(HttpContext context, Invocation invocation)
    {
        if (invocation.Status == 0)
        {
            invocation.Status = context.Response.HasStarted || context.Response.StatusCode != StatusCodes.Status200OK || !context.RequestAborted.IsCancellationRequested
                ? context.Response.StatusCode
                : Invocation.ClientClosedRequest;
        }

        invocation.BytesOut = invocation.Unhandled ? HandlerFailure.BytesFor(context)
            : HttpMethods.IsHead(invocation.Method) ? 0
            : context.Response.ContentLength ?? 0;
        Log.Invocation(
            logger, invocation.Level, invocation.Function, invocation.Method, invocation.Status, invocation.Elapsed.TotalMilliseconds,
            invocation.Outcome, invocation.Exit, invocation.BytesIn, invocation.BytesOut, invocation.RequestId);
        metrics?.Record(invocation);
    }
}
