namespace AotFaas.Execution;

/// <summary>The outcome of one run: how the program ended and what it wrote. Dispose frees the buffers.</summary>
public sealed class RunResult(ExitStatus status, OutputBuffer stdout, OutputBuffer stderr) : IDisposable
{
    public ExitStatus Status { get; } = status;

    public OutputBuffer Stdout { get; } = stdout;

    public OutputBuffer Stderr { get; } = stderr;

    public void Dispose()
    {
        Stdout.Dispose();
        Stderr.Dispose();
    }
}
