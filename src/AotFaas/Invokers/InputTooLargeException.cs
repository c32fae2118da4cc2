namespace AotFaas.Invokers;

/// <summary>More input arrived than the function's <c>max-body</c> allows; the run was killed.</summary>
public sealed class InputTooLargeException(long limit) : IOException($"the input is over its limit of {limit} bytes")
{
    /// <summary>The limit, in bytes.</summary>
    public long Limit { get; } = limit;
}
