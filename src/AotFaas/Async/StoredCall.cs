namespace AotFaas.Async;

/// <summary>Where an asynchronous call is in its life.</summary>
public enum CallState
{
    /// <summary>Accepted and stored, waiting for a free slot of its function.</summary>
    Queued = 0,

    /// <summary>Taken by a server that runs it now (or ran it when it died: it is queued again at the next start).</summary>
    Running = 1,

    /// <summary>Over: its status, exit and output are kept until the retention ends.</summary>
    Done = 2,
}

/// <summary>What became of a callback delivery.</summary>
public enum CallbackState
{
    /// <summary>The call has no callback, or it has not ended yet.</summary>
    None = 0,

    /// <summary>To deliver, at its next attempt.</summary>
    Pending = 1,

    /// <summary>Delivered (the callback answered 2xx).</summary>
    Delivered = 2,

    /// <summary>Given up after its attempts.</summary>
    GivenUp = 3,
}

/// <summary>One asynchronous call as the store keeps it: the request to run, and once it ran, what it came to.</summary>
public sealed class StoredCall
{
    public required string Id { get; init; }

    public required string Function { get; init; }

    public CallState State { get; set; }

    /// <summary>When it was accepted, in Unix milliseconds.</summary>
    public long AcceptedAt { get; init; }

    public long? StartedAt { get; set; }

    public long? EndedAt { get; set; }

    /// <summary>How many times a server took it to run (more than 1 after a server died while running it).</summary>
    public int Runs { get; set; }

    /// <summary>The request, without its body (<see cref="CallRequest"/>).</summary>
    public required byte[] Request { get; init; }

    public required byte[] Body { get; init; }

    /// <summary>The <c>X-Callback-Url</c> it was accepted with, or null.</summary>
    public string? CallbackUrl { get; init; }

    /// <summary>The status a synchronous call would have had.</summary>
    public int? Status { get; set; }

    /// <summary>The program's exit code or signal (<c>-</c> when no program ran).</summary>
    public string? Exit { get; set; }

    public string? ContentType { get; set; }

    /// <summary>The response's body (stdout, stderr on failure, the server's line), up to <c>max-output</c>.</summary>
    public byte[]? Output { get; set; }

    public CallbackState Callback { get; set; }

    public int CallbackAttempts { get; set; }

    /// <summary>When the next delivery is due, in Unix milliseconds.</summary>
    public long? CallbackDueAt { get; set; }
}
