using System.Runtime.InteropServices;
using AotFaas.Execution;
using AotFaas.Execution.Native;

namespace AotFaas.Workers;

/// <summary>
/// A worker's stdout or stderr, to the server's log line by line, with the function's name and the worker's
/// number: escaped as a run's stderr is (<see cref="StderrLog.Escape(ReadOnlySpan{byte})"/>), a line longer than
/// <see cref="StderrLog.MaxLineBytes"/> cut there. Read on the I/O loop's thread; the logger only queues.
/// </summary>
internal sealed partial class WorkerOutput(ILogger log, string function, int worker, string stream) : IOutputSink
{
    private readonly byte[] _line = new byte[StderrLog.MaxLineBytes];
    private int _length;
    private bool _cut;

    public bool Overflowed => false;

    public unsafe nint ReadFrom(int fd)
    {
        byte* buffer = stackalloc byte[4096];
        nint read;
        do
        {
            read = LibC.read(fd, buffer, 4096);
        }
        while (read < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR);

        if (read > 0)
        {
            Take(new ReadOnlySpan<byte>(buffer, (int)read));
        }
        else if (read == 0 && _length > 0)
        {
            // The last line had no newline.
            Flush();
        }

        return read;
    }

    private void Take(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            int newline = bytes.IndexOf((byte)'\n');
            ReadOnlySpan<byte> part = newline < 0 ? bytes : bytes[..newline];
            int room = _line.Length - _length;
            if (part.Length > room)
            {
                _cut = true;
            }

            part[..Math.Min(part.Length, room)].CopyTo(_line.AsSpan(_length));
            _length += Math.Min(part.Length, room);
            if (newline < 0)
            {
                return;
            }

            Flush();
            bytes = bytes[(newline + 1)..];
        }
    }

    private void Flush()
    {
        if (_length > 0 && _line[_length - 1] == '\r')
        {
            _length--;
        }

        string text = StderrLog.Escape(_line.AsSpan(0, _length));
        Line(log, function, worker, stream, _cut ? text + " [line cut]" : text);
        _length = 0;
        _cut = false;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Function}[{Worker}] {Stream}: {Line}")]
    private static partial void Line(ILogger logger, string function, int worker, string stream, string line);
}
