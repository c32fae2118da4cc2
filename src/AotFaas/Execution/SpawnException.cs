using System.Runtime.InteropServices;

namespace AotFaas.Execution;

/// <summary>A function's program could not be started: not found, not executable, or out of resources.</summary>
public sealed class SpawnException : Exception
{
    public SpawnException(string executable, int errno)
        : base($"cannot run '{executable}': {Marshal.GetPInvokeErrorMessage(errno)}")
    {
        Executable = executable;
        Errno = errno;
    }

    public SpawnException(string executable, int errno, string message)
        : base(message)
    {
        Executable = executable;
        Errno = errno;
    }

    /// <summary>The program that failed to start.</summary>
    public string Executable { get; }

    /// <summary>The <c>errno</c> value posix_spawn reported.</summary>
    public int Errno { get; }
}
