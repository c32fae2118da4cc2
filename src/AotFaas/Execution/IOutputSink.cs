namespace AotFaas.Execution;

/// <summary>
/// Where the I/O loop puts what a program writes to stdout or stderr: a run's <see cref="OutputBuffer"/>, or a
/// long-lived worker's log. Called on the I/O loop's thread only, one descriptor at a time.
/// </summary>
public interface IOutputSink
{
    /// <summary>
    /// One read(2) from <paramref name="fd"/>: the bytes read, 0 at end of file, or -1 with the error in
    /// <see cref="System.Runtime.InteropServices.Marshal.GetLastPInvokeError"/> (EAGAIN when a non-blocking pipe is empty).
    /// </summary>
    nint ReadFrom(int fd);

    /// <summary>True once it could not take what was read (over its limit, or its file failed).</summary>
    bool Overflowed { get; }
}
