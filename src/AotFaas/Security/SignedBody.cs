using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Invokers;

namespace AotFaas.Security;

/// <summary>
/// Receives the body of a request to a function whose <c>auth</c> signs the body (<c>hmac-sha256</c>, <c>stripe</c>,
/// <c>slack</c>) and checks its signature before anything runs and before a slot is taken: the signature covers the
/// whole body, so the whole body must be in hand first. Signature headers that could never match (missing,
/// repeated, not 64 hex digits) or a timestamp outside the replay window are refused before the body is read. Receiving is bounded like a run: by the function's <c>max-body</c> (counting the
/// body's own bytes), by its deadline, and server-wide by <see cref="UnverifiedBodies"/>: how many bodies are
/// received at once, and what they hold together in memory and in their unnamed temporary files
/// (<c>O_TMPFILE</c>), which vanish when closed.
/// </summary>
public static class SignedBody
{
    /// <summary>
    /// Receives the body of a request to <paramref name="policy"/>'s function (none for GET and HEAD, which run with
    /// an empty stdin) and checks its signature with <paramref name="auth"/>, within <paramref name="timeout"/>. The
    /// body when it is signed; otherwise the refusal to answer with: 401, 413, 429 when the server holds all the
    /// unverified bodies it may, 504, 400, 500 when it cannot be kept, or nothing when the client went away.
    /// </summary>
    public static async Task<(Received? Body, InvokeResult? Refusal)> ReceiveAsync(HttpContext context, FunctionPolicy policy, FunctionAuth auth, UnverifiedBodies budget, TimeSpan timeout, long started)
    {
        FunctionAuth.Signature? signature = auth.ReadSignature(context.Request.Headers, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        if (signature is null)
        {
            return (null, FunctionAuth.Unauthorized(auth));
        }

        bool hasInput = FunctionPolicy.HasInput(context.Request.Method);
        UnverifiedBodies.Reservation? reservation = budget.TryEnter(hasInput ? context.Request.ContentLength ?? 0 : 0);
        if (reservation is null)
        {
            return (null, Busy(budget));
        }

        PipeReader body = hasInput ? context.Request.BodyReader : PipeReader.Create(ReadOnlySequence<byte>.Empty);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(timeout);
        string function = policy.Proc.FuncName;
        var received = new Received(new OutputBuffer(policy.MaxBody, reservation.Memory, policy.TempDirectory), reservation);

        // A read cancelled through its token would leave Kestrel's body reader mid-read, and its drain would fail:
        // the deadline cancels the pending read instead, which then returns and is advanced past as usual.
        using CancellationTokenRegistration stop = deadline.Token.UnsafeRegister(static state => ((PipeReader)state!).CancelPendingRead(), body);
        try
        {
            Failure failure = await ReceiveAsync(body, auth, signature, received, policy.MaxBody).ConfigureAwait(false);
            if (failure == Failure.Stopped)
            {
                throw new OperationCanceledException(deadline.Token);
            }

            if (failure == Failure.None && signature.Matches(received.Hash!))
            {
                return (received, null);
            }

            received.Dispose();
            return (null, failure switch
            {
                Failure.TooLarge => InvokeResult.Refusal(StatusCodes.Status413PayloadTooLarge, InvokeResult.BodyTooLarge(function, policy.MaxBody)),
                Failure.OverBudget => Busy(budget),
                Failure.NotKept => InvokeResult.Refusal(StatusCodes.Status500InternalServerError, $"the request body of '{function}' could not be kept: {received.SpillError}", LogLevel.Error),
                _ => FunctionAuth.Unauthorized(auth),
            });
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            received.Dispose();
            InvokeResult timedOut = InvokeResult.Refusal(StatusCodes.Status504GatewayTimeout, $"'{function}' timed out after {Shared.Quantity.FormatDuration((long)policy.Timeout.TotalMilliseconds)} receiving the request body");
            timedOut.TimedOut = true;
            return (null, timedOut);
        }
        catch (Exception e) when (InvokeResult.ForInputFailure(context, e, function, policy.MaxBody, System.Diagnostics.Stopwatch.GetElapsedTime(started)) is InvokeResult failed)
        {
            received.Dispose();
            return (null, failed);
        }
        catch
        {
            received.Dispose();
            throw;
        }
    }

    private static InvokeResult Busy(UnverifiedBodies budget)
    {
        InvokeResult busy = InvokeResult.Refusal(StatusCodes.Status429TooManyRequests, $"the server is receiving as many unverified request bodies as it may ({budget.MaxReceiving}, {Shared.Quantity.FormatSize(budget.ByteBudget)}): try again later");
        busy.Headers.Add(new("Retry-After", "1"));
        return busy;
    }

    /// <summary>Why a body stopped being received before its end.</summary>
    private enum Failure
    {
        None,
        Stopped,
        TooLarge,
        OverBudget,
        NotKept,
    }

    /// <summary>
    /// Reads the whole body from <paramref name="reader"/> into <paramref name="received"/> while computing its HMAC.
    /// Every read is advanced past before returning, so the server can still drain or close the request cleanly.
    /// </summary>
    private static async Task<Failure> ReceiveAsync(PipeReader reader, FunctionAuth auth, FunctionAuth.Signature signature, Received received, long maxBody)
    {
        received.Hash = auth.BeginBody(signature);
        while (true)
        {
            ReadResult read = await reader.ReadAsync().ConfigureAwait(false);
            if (read.IsCanceled)
            {
                reader.AdvanceTo(read.Buffer.Start);
                return Failure.Stopped;
            }

            Failure failure = Take(read.Buffer, received, maxBody);
            reader.AdvanceTo(read.Buffer.End);
            if (failure != Failure.None)
            {
                return failure;
            }

            if (read.IsCompleted)
            {
                return Failure.None;
            }
        }
    }

    private static Failure Take(ReadOnlySequence<byte> buffer, Received received, long maxBody)
    {
        long total = received.Body.Length + buffer.Length;
        if (total > maxBody)
        {
            return Failure.TooLarge;
        }

        if (!received.Reservation.Cover(total))
        {
            return Failure.OverBudget;
        }

        foreach (ReadOnlyMemory<byte> segment in buffer)
        {
            received.Hash!.AppendData(segment.Span);
            try
            {
                received.Body.Append(segment.Span);
            }
            catch (IOException e)
            {
                received.SpillError = e.Message;
                return Failure.NotKept;
            }
        }

        return Failure.None;
    }

    /// <summary>A body being received, then one whose signature matched; dispose it once the run has read it.</summary>
    public sealed class Received : IDisposable
    {
        internal Received(OutputBuffer body, UnverifiedBodies.Reservation reservation)
        {
            Body = body;
            Reservation = reservation;
        }

        /// <summary>The body's bytes.</summary>
        public OutputBuffer Body { get; }

        internal UnverifiedBodies.Reservation Reservation { get; }

        internal IncrementalHash? Hash { get; set; }

        internal string? SpillError { get; set; }

        public void Dispose()
        {
            Body.Dispose();
            Hash?.Dispose();
            Reservation.Dispose();
        }
    }
}
