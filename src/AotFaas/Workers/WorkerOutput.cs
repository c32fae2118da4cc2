using System.Runtime.InteropServices;
using AotFaas.Execution;
using AotFaas.Execution.Native;

namespace AotFaas.Workers;

/// <summary>
/// A worker's stdout or stderr, to the server's log line by line, with the function's name and the worker's
/// number: escaped as a run's stderr is (<see cref="StderrLog.Escape(ReadOnlySpan{byte})"/>), a line longer than
/// <see cref="StderrLog.MaxLineBytes"/> cut there, and at most <see cref="LinesPerSecond"/> lines a second (bursts of
/// <see cref="Burst"/>): a worker that floods its output cannot push the server's own lines and other functions'
/// out of the log. A line says when lines start to be dropped; what is not logged is counted, and said in one line
/// when lines flow again or the stream ends.
/// Read on the I/O loop's thread; the logger only queues.
/// </summary>
internal sealed partial class WorkerOutput(ILogger log, string function, int worker, string stream) : IOutputSink
{
    /// <summary>Lines a second a worker's stream may log, on average.</summary>
    public const int LinesPerSecond = 100;

    /// <summary>Lines a worker's stream may log at once after a quiet spell.</summary>
    public const int Burst = 1000;

    private readonly byte[] _line = new byte[StderrLog.MaxLineBytes];
    private int _length;
    private bool _cut;
    private double _allowance = Burst;
    private long _refilled = Environment.TickCount64;
    private long _dropped;
    private long _reported = Environment.TickCount64;

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
        else if (read == 0)
        {
            if (_length > 0)
            {
                // The last line had no newline.
                Flush();
            }

            ReportDropped();
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

        long now = Environment.TickCount64;
        _allowance = Math.Min(Burst, _allowance + ((now - _refilled) * LinesPerSecond / 1000.0));
        _refilled = now;
        if (_allowance < 1)
        {
            if (_dropped++ == 0)
            {
                Dropping(log, function, worker, stream, LinesPerSecond);
            }
        }
        else
        {
            _allowance--;
            if (now - _reported >= 1000)
            {
                // At most one count a second, however the rate lets lines through now and then.
                ReportDropped();
            }

            string text = StderrLog.Escape(_line.AsSpan(0, _length));
            Line(log, function, worker, stream, _cut ? text + " [line cut]" : text);
        }

        _length = 0;
        _cut = false;
    }

    private void ReportDropped()
    {
        _reported = Environment.TickCount64;
        if (_dropped > 0)
        {
            NotLogged(log, function, worker, stream, _dropped, LinesPerSecond);
            _dropped = 0;
        }
    }

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Function}[{Worker}] {Stream}: more than {PerSecond} lines a second: lines are counted, not logged, until it slows down")]
    private static partial void Dropping(ILogger logger, string function, int worker, string stream, int perSecond);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "{Function}[{Worker}] {Stream}: {Lines} line(s) not logged (more than {PerSecond} a second)")]
    private static partial void NotLogged(ILogger logger, string function, int worker, string stream, long lines, int perSecond);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Function}[{Worker}] {Stream}: {Line}")]
    private static partial void Line(ILogger logger, string function, int worker, string stream, string line);
}
