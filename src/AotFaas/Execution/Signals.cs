using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>The signal numbers code outside the process layer sends.</summary>
public static class Signals
{
    public const int SIGTERM = LibC.SIGTERM;
    public const int SIGKILL = LibC.SIGKILL;
}
