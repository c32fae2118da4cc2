using System.Buffers;
using System.Globalization;
using AotFaas.Functions;
using AotFaas.Invokers;
using AotFaas.Shared;

namespace AotFaas.Execution;

/// <summary>
/// The exec-per-request way to run a function, the seed's contract: a new process for each request, the body on
/// its stdin, the request in its environment (<see cref="RequestVariables"/>); exit 0 gives 200 with stdout (or
/// the CGI response it wrote), any other end 500 with stderr. Around it, the run's limits: 504 at the deadline,
/// 502 for stdout over <c>max-output</c>, 500 when the program cannot start or its output cannot be kept, 431
/// when the request cannot be passed in an environment.
/// </summary>
public sealed class ExecInvoker : IFunctionInvoker
{
    /// <summary>Content-Type of stdout when neither the function nor the request names one.</summary>
    public const string DefaultContentType = "application/octet-stream";

    /// <summary>Content-Type of stderr.</summary>
    public const string TextContentType = "text/plain; charset=utf-8";

    private readonly FunctionPolicy _policy;
    private readonly ProcessEnvironment _environment;
    private readonly ExecutablePath _executable;

    public ExecInvoker(FunctionPolicy policy)
    {
        _policy = policy;
        _environment = ProcessEnvironment.ForFunction(policy.Proc, policy.ServerEnvironment);
        _executable = new ExecutablePath(policy.Proc.Executable, policy.ServerEnvironment("PATH"));

        // Found now, on the warm-up thread or the first request, rather than by the child before every exec.
        _ = _executable.Resolved;
    }

    public async Task<InvokeResult> InvokeAsync(InvokeRequest request)
    {
        List<KeyValuePair<string, string>> variables = RequestVariables.For(request.Context, _policy.Proc, request.PathInfo, request.InputLength, request.RequestId);
        ProcessEnvironment? environment = null;
        if (variables.Count > 0 && !_environment.TryWith(variables, out environment, out string? tooLong))
        {
            return InvokeResult.Refusal(StatusCodes.Status431RequestHeaderFieldsTooLarge, $"the request's headers are too large to pass to '{_policy.Proc.FuncName}': {tooLong}");
        }

        RunResult run;
        try
        {
            run = await FunctionRunner.RunAsync(_policy, _executable, environment ?? _environment, request.Input, request.Timeout, request.RequestId, request.Aborted);
        }
        catch (SpawnException e)
        {
            environment?.Dispose();
            InvokeResult failed = InvokeResult.Refusal(StatusCodes.Status500InternalServerError, e.Message, LogLevel.Error);
            failed.SpawnFailed = true;
            return failed;
        }
        catch (Exception e) when (InvokeResult.ForInputFailure(request.Context, e, _policy.Proc.FuncName, _policy.MaxBody, System.Diagnostics.Stopwatch.GetElapsedTime(request.Started)) is InvokeResult failed)
        {
            environment?.Dispose();
            failed.Killed = true;
            return failed;
        }

        try
        {
            return new ExecResult(AnswerTo(run, request), run, environment);
        }
        catch
        {
            await run.DisposeAsync();
            environment?.Dispose();
            throw;
        }
    }

    /// <summary>What <paramref name="run"/> comes to, as far as it is known now.</summary>
    private Answer AnswerTo(RunResult run, InvokeRequest request)
    {
        string function = _policy.Proc.FuncName;
        switch (run.Outcome)
        {
            case RunOutcome.TimedOut:
                // Answered at the deadline; the program is being stopped, and the log line says how it ended.
                return new Answer(InvokeResult.Refusal(StatusCodes.Status504GatewayTimeout, $"'{function}' timed out after {Quantity.FormatDuration((long)_policy.Timeout.TotalMilliseconds)} and was stopped"), killed: true, timedOut: true, statusInOutcome: true);
            case RunOutcome.OutputTooLarge:
                return new Answer(InvokeResult.Refusal(StatusCodes.Status502BadGateway, $"'{function}' wrote more than {Quantity.FormatSize(_policy.MaxOutput)} to stdout and was stopped"), killed: true, statusInOutcome: true);
            case RunOutcome.SpillFailed:
                return new Answer(InvokeResult.Refusal(StatusCodes.Status500InternalServerError, $"the output of '{function}' could not be kept: {run.Stdout.SpillError}", LogLevel.Error), killed: true);
        }

        if (run.Stdout.SpillError is string spillError)
        {
            return new Answer(InvokeResult.Refusal(StatusCodes.Status500InternalServerError, $"the output of '{function}' could not be kept: {spillError}", LogLevel.Error));
        }

        string outcome = run.Status.ToString();
        if (run.IsSuccess)
        {
            string contentType = _policy.Proc.ContentType ?? request.Context.Request.ContentType ?? DefaultContentType;
            if (_policy.Proc.Response != ResponseMode.Cgi)
            {
                return new Answer(new InvokeResult { Status = StatusCodes.Status200OK, ContentType = contentType, Body = run.Stdout, Outcome = outcome });
            }

            CgiResponse? cgi = ReadCgiHead(run.Stdout, out string? malformed);
            if (cgi is null)
            {
                return new Answer(InvokeResult.Refusal(StatusCodes.Status502BadGateway, $"'{function}' wrote a malformed CGI response: {malformed}"));
            }

            var answer = new InvokeResult
            {
                Status = cgi.Status,
                ReasonPhrase = cgi.Reason,
                ContentType = cgi.ContentType ?? contentType,
                Body = run.Stdout,
                BodyOffset = cgi.BodyOffset,
                Outcome = outcome,
            };
            answer.Headers.AddRange(cgi.Headers);
            return new Answer(answer);
        }

        // Failed: stderr, and how it ended in a header.
        InvokeResult failed = run.Stderr.Length == 0 && run.Status.Signal != 0
            ? new InvokeResult { Status = StatusCodes.Status500InternalServerError, Message = $"'{function}' was {run.Status}", Outcome = outcome }
            : new InvokeResult { Status = StatusCodes.Status500InternalServerError, ContentType = TextContentType, Body = run.Stderr, Outcome = outcome };
        failed.Headers.Add(run.Status.Signal != 0
            ? new("X-Exit-Signal", SignalNames.Name(run.Status.Signal))
            : new("X-Exit-Code", run.Status.ExitCode.ToString(CultureInfo.InvariantCulture)));
        if (run.Stderr.Overflowed)
        {
            failed.Headers.Add(new("X-Stderr-Dropped", run.Stderr.Dropped.ToString(CultureInfo.InvariantCulture)));
        }

        return new Answer(failed);
    }

    /// <summary>The CGI header block at the start of <paramref name="stdout"/>, or null with the reason it is malformed.</summary>
    private static CgiResponse? ReadCgiHead(OutputBuffer stdout, out string? malformed)
    {
        int length = (int)Math.Min(stdout.Length, CgiResponse.MaxHeadBytes);
        byte[] head = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            int copied = stdout.CopyHead(head.AsSpan(0, length));
            return CgiResponse.Parse(head.AsSpan(0, copied), complete: stdout.Length <= CgiResponse.MaxHeadBytes, out malformed);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(head);
        }
    }

    /// <summary>The answer to a run, and what its log line adds once the program is gone.</summary>
    private readonly record struct Answer(InvokeResult Result, bool killed = false, bool timedOut = false, bool statusInOutcome = false);

    /// <summary>A run's answer, holding the run (its buffers, its process handle) until it is disposed.</summary>
    private sealed class ExecResult : InvokeResult
    {
        private readonly RunResult _run;
        private readonly ProcessEnvironment? _environment;
        private readonly bool _statusInOutcome;

        public ExecResult(Answer answer, RunResult run, ProcessEnvironment? environment)
        {
            InvokeResult a = answer.Result;
            Status = a.Status;
            ReasonPhrase = a.ReasonPhrase;
            ContentType = a.ContentType;
            Body = a.Body;
            BodyOffset = a.BodyOffset;
            Message = a.Message;
            Headers.AddRange(a.Headers);
            Outcome = a.Outcome;
            Level = a.Level;
            Killed = answer.killed;
            TimedOut = answer.timedOut;
            BytesIn = run.InputBytes;
            _run = run;
            _environment = environment;
            _statusInOutcome = answer.statusInOutcome;
        }

        public override Task Ended => _run.Ended;

        public override async ValueTask DisposeAsync()
        {
            await _run.DisposeAsync().ConfigureAwait(false);
            _environment?.Dispose();
            await base.DisposeAsync().ConfigureAwait(false);
        }

        /// <summary>The exit status in the log line, once the program is gone.</summary>
        public override void Conclude()
        {
            ExitStatus status = _run.Status;
            Exit = status.Signal != 0 ? SignalNames.Name(status.Signal) : status.IsLost ? "-" : status.ExitCode.ToString(CultureInfo.InvariantCulture);
            if (_statusInOutcome)
            {
                Outcome += ", " + status;
            }

            if (_run.OutputAbandoned)
            {
                Outcome += "; its output was held open by a process that left its group, closed after the grace";
            }
        }
    }
}
