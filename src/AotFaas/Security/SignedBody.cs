using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Invokers;

namespace AotFaas.Security;

/// <summary>
/// Receives the body of a request to an <c>auth: hmac-sha256</c> function and checks its signature before
/// anything runs and before a slot is taken: the signature covers the whole body, so the whole body must be
/// in hand first. Receiving is bounded like a run: by the function's <c>max-body</c> (counting the body's own
/// bytes) and by its deadline. What an unauthenticated caller can make the server hold in memory is small and
/// bounded whatever <c>max-body</c> and the concurrency are: each body keeps at most <see cref="InMemory"/>
/// bytes in memory while all of them together stay under <see cref="MemoryBudget"/>; the rest goes to an
/// unnamed temporary file (<c>O_TMPFILE</c>), which vanishes when closed.
/// </summary>
public static class SignedBody
{
    /// <summary>The most of one body kept in memory.</summary>
    public const int InMemory = 64 * 1024;

    /// <summary>The most memory all bodies being received and checked hold together.</summary>
    public const long MemoryBudget = 4L << 20;

    private static long s_reserved;

    /// <summary>Bytes of memory reserved by bodies now (for tests and metrics).</summary>
    public static long Reserved => Interlocked.Read(ref s_reserved);

    /// <summary>
    /// Receives the body of a request to <paramref name="policy"/>'s function (none for GET and HEAD, which run with
    /// an empty stdin) and checks its signature with <paramref name="auth"/>, within <paramref name="timeout"/>. The
    /// body when it is signed; otherwise the refusal to answer with: 401, 413, 504, 400, 500 when it cannot be kept,
    /// or nothing when the client went away.
    /// </summary>
    public static async Task<(Received? Body, InvokeResult? Refusal)> ReceiveAsync(HttpContext context, FunctionPolicy policy, FunctionAuth auth, TimeSpan timeout, long started)
    {
        PipeReader body = FunctionPolicy.HasInput(context.Request.Method) ? context.Request.BodyReader : PipeReader.Create(ReadOnlySequence<byte>.Empty);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(timeout);
        string function = policy.Proc.FuncName;
        try
        {
            Received? received = await ReceiveAsync(body, auth, context.Request.Headers[auth.Header!], policy.MaxBody, policy.TempDirectory, deadline.Token).ConfigureAwait(false);
            return received is null ? (null, FunctionAuth.Unauthorized(auth)) : (received, null);
        }
        catch (NotKeptException e)
        {
            return (null, InvokeResult.Refusal(StatusCodes.Status500InternalServerError, $"the request body of '{function}' could not be kept: {e.Message}", LogLevel.Error));
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            InvokeResult timedOut = InvokeResult.Refusal(StatusCodes.Status504GatewayTimeout, $"'{function}' timed out after {Shared.Quantity.FormatDuration((long)policy.Timeout.TotalMilliseconds)} receiving the request body");
            timedOut.TimedOut = true;
            return (null, timedOut);
        }
        catch (Exception e) when (InvokeResult.ForInputFailure(context, e, function, policy.MaxBody, System.Diagnostics.Stopwatch.GetElapsedTime(started)) is InvokeResult failed)
        {
            return (null, failed);
        }
    }

    /// <summary>
    /// Reads the whole body from <paramref name="reader"/> into a buffer while computing its HMAC with
    /// <paramref name="auth"/>'s secret. Returns the body when <paramref name="signature"/> matches it, else null
    /// (nothing kept). An empty reader stands for a request without a body (GET, HEAD): the signature must
    /// then be that of no bytes.
    /// </summary>
    /// <exception cref="InputTooLargeException">The body is over <paramref name="maxBody"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired (the deadline, or the client went away).</exception>
    /// <exception cref="NotKeptException">The temporary file could not take the body (a full disk).</exception>
    public static async Task<Received?> ReceiveAsync(
        PipeReader reader, FunctionAuth auth, Microsoft.Extensions.Primitives.StringValues signature, long maxBody, string? tempFolder, CancellationToken cancellationToken)
    {
        long reserved = Interlocked.Add(ref s_reserved, InMemory) <= MemoryBudget ? InMemory : 0;
        if (reserved == 0)
        {
            Interlocked.Add(ref s_reserved, -InMemory);
        }

        var received = new Received(new OutputBuffer(maxBody, reserved, tempFolder), reserved);
        try
        {
            using IncrementalHash hash = auth.BeginBody();
            while (true)
            {
                ReadResult read = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                foreach (ReadOnlyMemory<byte> segment in read.Buffer)
                {
                    if (received.Body.Length + segment.Length > maxBody)
                    {
                        throw new InputTooLargeException(maxBody);
                    }

                    hash.AppendData(segment.Span);
                    try
                    {
                        received.Body.Append(segment.Span);
                    }
                    catch (IOException e)
                    {
                        throw new NotKeptException(e.Message);
                    }
                }

                reader.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }

            if (FunctionAuth.CheckSignature(signature, hash))
            {
                return received;
            }

            received.Dispose();
            return null;
        }
        catch
        {
            received.Dispose();
            throw;
        }
    }

    /// <summary>A body whose signature matched; dispose it once the run has read it.</summary>
    public sealed class Received : IDisposable
    {
        private long _reserved;

        internal Received(OutputBuffer body, long reserved)
        {
            Body = body;
            _reserved = reserved;
        }

        /// <summary>The body's bytes.</summary>
        public OutputBuffer Body { get; }

        public void Dispose()
        {
            Body.Dispose();
            Interlocked.Add(ref s_reserved, -Interlocked.Exchange(ref _reserved, 0));
        }
    }

    /// <summary>The body could not be kept while it was checked (its temporary file failed, e.g. a full disk).</summary>
    public sealed class NotKeptException(string reason) : Exception(reason);
}
