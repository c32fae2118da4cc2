using System.Buffers;
using System.Globalization;
using System.Text;

namespace AotFaas.Execution;

/// <summary>
/// A run's stderr in the server's log, line by line, each entry with the function's name and the request id. Written
/// once the program is gone, from the bytes the run kept anyway (the first <see cref="Functions.RunLimits.MaxStderr"/>,
/// for a 500 body), so a run that writes no stderr costs one length check. Bounded per run: the first
/// <see cref="MaxLines"/> lines or <see cref="MaxBytes"/> of stderr, whichever comes first; a line longer than
/// <see cref="MaxLineBytes"/> is cut there (and says so); then one entry counts the bytes and lines not logged.
/// The bytes are the program's, untrusted: <see cref="Escape"/> makes them text that cannot end an entry, start one,
/// or reach a terminal as a control sequence.
/// </summary>
public static partial class StderrLog
{
    /// <summary>The category of the entries.</summary>
    public const string Category = "AotFaas.Stderr";

    /// <summary>The most lines of one run that are logged (blank lines are skipped and do not count).</summary>
    public const int MaxLines = 64;

    /// <summary>The most bytes of one run's stderr that are logged, line endings aside.</summary>
    public const int MaxBytes = 8 * 1024;

    /// <summary>The most bytes of one line that are logged; a longer line is cut there.</summary>
    public const int MaxLineBytes = 2 * 1024;

    // Printable ASCII and tab: the bytes a line passes through as they are.
    private static readonly SearchValues<byte> Plain = SearchValues.Create(PlainBytes());

    /// <summary>
    /// Logs what <paramref name="stderr"/> holds at <paramref name="level"/>: nothing when it is empty or the level is off.
    /// </summary>
    public static void Write(ILogger log, LogLevel level, string function, string requestId, OutputBuffer stderr)
    {
        if (stderr.Length == 0 || !log.IsEnabled(level))
        {
            return;
        }

        // At most RunLimits.MaxStderr (64 KiB): the lines after a cut one are looked for past the first MaxBytes.
        byte[] rented = ArrayPool<byte>.Shared.Rent((int)stderr.Length);
        try
        {
            ReadOnlySpan<byte> kept = rented.AsSpan(0, stderr.CopyHead(rented.AsSpan(0, (int)stderr.Length)));
            Write(log, level, function, requestId, kept, stderr);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static void Write(ILogger log, LogLevel level, string function, string requestId, ReadOnlySpan<byte> kept, OutputBuffer stderr)
    {
        int position = 0;
        int lines = 0;
        int logged = 0;
        int linesCut = 0;
        long bytesCut = 0;
        while (position < kept.Length && lines < MaxLines && logged < MaxBytes)
        {
            ReadOnlySpan<byte> rest = kept[position..];
            int newline = rest.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = newline >= 0 ? rest[..newline] : rest;
            int next = newline >= 0 ? position + newline + 1 : kept.Length;
            if (newline >= 0 && line.EndsWith((byte)'\r'))
            {
                // CRLF ends the line as LF does.
                line = line[..^1];
            }

            if (line.IsEmpty)
            {
                position = next;
                continue;
            }

            lines++;
            int room = Math.Min(MaxLineBytes, MaxBytes - logged);

            // A last line without its line feed in what was kept, when more was written: it runs on past the kept bytes.
            bool runsOn = newline < 0 && stderr.Overflowed;
            if (line.Length <= room && !runsOn)
            {
                Line(log, level, function, requestId, Escape(line));
                logged += line.Length;
                position = next;
                continue;
            }

            // Cut where a character starts, not inside its UTF-8 sequence.
            int cut = Math.Min(room, line.Length);
            while (cut < line.Length && cut > 0 && cut > room - 3 && (line[cut] & 0xC0) == 0x80)
            {
                cut--;
            }

            if (cut == 0)
            {
                // Not one character of it fits in what is left of the run's budget.
                break;
            }

            LineCut(log, level, function, requestId, cut, Escape(line[..cut]));
            logged += cut;
            linesCut++;
            if (room < MaxLineBytes || runsOn)
            {
                // The run's budget ends in this line, or the line runs on past what was kept: the rest is not logged.
                position += cut;
                break;
            }

            // What is not logged of the line runs to its end, line ending included, as the tail's bytes do.
            bytesCut += next - (position + cut);
            position = next;
        }

        long tail = kept.Length - position + stderr.Dropped;
        if (tail == 0 && linesCut == 0)
        {
            return;
        }

        NotLogged(log, level, function, requestId, tail + bytesCut, linesCut + LineStarts(kept, position, stderr));
    }

    /// <summary>How many lines start in stderr from <paramref name="position"/> of the kept bytes on, to the end of the stream.</summary>
    private static long LineStarts(ReadOnlySpan<byte> kept, int position, OutputBuffer stderr)
    {
        if (kept.Length - position + stderr.Dropped == 0)
        {
            return 0;
        }

        long newlines = kept[position..].Count((byte)'\n') + stderr.DroppedLines;
        byte last = stderr.Overflowed ? stderr.LastDropped : kept[^1];

        // Every line feed starts a line but the one that ends the stream; the position starts one unless it is mid-line.
        return (position == 0 || kept[position - 1] == '\n' ? 1 : 0) + newlines - (last == '\n' ? 1 : 0);
    }

    /// <summary>
    /// <paramref name="bytes"/> as text that is safe in a log line and on a terminal: printable ASCII, tab and valid
    /// UTF-8 as they are; CR as <c>\r</c>; other C0 controls, DEL and bytes that are not valid UTF-8 as <c>\xNN</c>; C1
    /// controls, the Unicode line and paragraph separators and the bidirectional controls as <c>\uNNNN</c>. A backslash
    /// stays as it is, so the escapes are for reading, not for decoding.
    /// </summary>
    public static string Escape(ReadOnlySpan<byte> bytes)
    {
        int first = bytes.IndexOfAnyExcept(Plain);
        if (first < 0)
        {
            return Encoding.ASCII.GetString(bytes);
        }

        var text = new StringBuilder(bytes.Length + 16);
        Span<char> utf16 = stackalloc char[2];
        int i = 0;
        while (i < bytes.Length)
        {
            int plain = bytes[i..].IndexOfAnyExcept(Plain);
            int run = plain < 0 ? bytes.Length - i : plain;
            if (run > 0)
            {
                foreach (byte b in bytes.Slice(i, run))
                {
                    text.Append((char)b);
                }

                i += run;
                continue;
            }

            byte control = bytes[i];
            if (control == '\r')
            {
                text.Append("\\r");
                i++;
                continue;
            }

            if (control < 0x80)
            {
                Hex(text, control);
                i++;
                continue;
            }

            if (Rune.DecodeFromUtf8(bytes[i..], out Rune rune, out int consumed) != OperationStatus.Done)
            {
                // Not UTF-8 (or cut short): each byte of the sequence as it is.
                foreach (byte b in bytes.Slice(i, consumed))
                {
                    Hex(text, b);
                }
            }
            else if (IsHidden(rune.Value))
            {
                text.Append("\\u").Append(rune.Value.ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append(utf16[..rune.EncodeToUtf16(utf16)]);
            }

            i += consumed;
        }

        return text.ToString();
    }

    /// <summary>C1 controls (U+0085 ends a line for some readers), U+2028 and U+2029, and the controls that reorder text on screen.</summary>
    private static bool IsHidden(int c)
        => c is (>= 0x80 and <= 0x9f) or 0x2028 or 0x2029 or 0x061c or 0x200e or 0x200f or (>= 0x202a and <= 0x202e) or (>= 0x2066 and <= 0x2069);

    private static byte[] PlainBytes()
    {
        var bytes = new List<byte> { (byte)'\t' };
        for (int b = 0x20; b < 0x7f; b++)
        {
            bytes.Add((byte)b);
        }

        return [.. bytes];
    }

    private static StringBuilder Hex(StringBuilder text, byte b)
        => text.Append("\\x").Append(b.ToString("x2", CultureInfo.InvariantCulture));

    /// <summary>One line of a function's stderr.</summary>
    [LoggerMessage(EventId = 3, EventName = "Stderr", Message = "{Function} request_id={RequestId}: {Line}")]
    private static partial void Line(ILogger logger, LogLevel level, string function, string requestId, string line);

    /// <summary>The first bytes of a longer line.</summary>
    [LoggerMessage(EventId = 4, EventName = "StderrLineCut", Message = "{Function} request_id={RequestId}, a line cut after {LineBytesLogged} bytes: {Line}")]
    private static partial void LineCut(ILogger logger, LogLevel level, string function, string requestId, int lineBytesLogged, string line);

    /// <summary>What of a run's stderr was not logged.</summary>
    [LoggerMessage(EventId = 5, EventName = "StderrNotLogged", Message = "{Function} request_id={RequestId}: {BytesNotLogged} bytes of stderr in {LinesNotLogged} line(s) not logged (a run logs its first 64 lines or 8 KiB, a line its first 2 KiB)")]
    private static partial void NotLogged(ILogger logger, LogLevel level, string function, string requestId, long bytesNotLogged, long linesNotLogged);
}
