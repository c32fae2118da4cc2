using System.Diagnostics;
using AotFaas.Invokers;

namespace AotFaas.Operations;

/// <summary>
/// What one request to a function came to, filled in while it is handled and reported once at its
/// end: one log line and one set of metric updates per invocation, whatever path it took.
/// </summary>
public sealed class Invocation(string function, string method, string requestId, long started)
{
    /// <summary>The status of a request whose client went away before the response (nginx's convention).</summary>
    public const int ClientClosedRequest = InvokeResult.ClientClosedRequest;

    public string Function { get; } = function;

    public string Method { get; } = method;

    public string RequestId { get; } = requestId;

    /// <summary>When the endpoint received the request (a <see cref="Stopwatch"/> timestamp).</summary>
    public long Started { get; } = started;

    /// <summary>The response's status, or <see cref="ClientClosedRequest"/>.</summary>
    public int Status { get; set; }

    /// <summary>How it ended, in a few words: <c>exit code 0</c>, <c>timed out, killed by SIGTERM</c>, <c>'cat' is busy ...</c>.</summary>
    public string Outcome { get; set; } = string.Empty;

    /// <summary>The program's exit code, or the signal's name (<c>SIGKILL</c>), or <c>-</c> when no program ran.</summary>
    public string Exit { get; set; } = "-";

    /// <summary>Request body bytes that reached the program's stdin.</summary>
    public long BytesIn { get; set; }

    /// <summary>Response body bytes.</summary>
    public long BytesOut { get; set; }

    /// <summary>The level of its log line: warnings for refusals, errors for what the operator must fix.</summary>
    public LogLevel Level { get; set; } = LogLevel.Information;

    /// <summary>The run was stopped by the server (deadline, output limit, client gone), its process group killed.</summary>
    public bool Killed { get; set; }

    /// <summary>The deadline passed, waiting or running.</summary>
    public bool TimedOut { get; set; }

    /// <summary>An exception escaped its handler; the dispatcher answered it.</summary>
    public bool Unhandled { get; set; }

    /// <summary>The program could not be started.</summary>
    public bool SpawnFailed { get; set; }

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(Started);

    /// <summary>Records a refusal: no program ran.</summary>
    public void Refuse(string outcome, LogLevel level = LogLevel.Warning)
    {
        Outcome = outcome;
        Level = level;
    }

    /// <summary>Takes what <paramref name="result"/> says of the invocation (the status is the response's, set when it is known).</summary>
    public void Record(InvokeResult result)
    {
        Outcome = result.Outcome;
        Exit = result.Exit;
        Level = result.Level;
        BytesIn = result.BytesIn;
        Killed |= result.Killed;
        TimedOut |= result.TimedOut;
        SpawnFailed |= result.SpawnFailed;
        if (result.NoResponse)
        {
            Status = result.Status;
        }
    }
}
