using System.Buffers;
using System.Text;

namespace AotFaas.Execution;

/// <summary>
/// A run's stderr in the server's log, line by line, each entry with the function's name and the request id. Written
/// once the program is gone, from the bytes the run kept anyway (the first <see cref="Functions.RunLimits.MaxStderr"/>,
/// for a 500 body), so a run that writes no stderr costs one length check. Bounded per run: the first
/// <see cref="MaxLines"/> lines or <see cref="MaxBytes"/> of log text, whichever comes first; a line is cut at
/// <see cref="MaxLineBytes"/> of text (and says so); then one entry counts the bytes and lines of stderr not logged.
/// The bytes are the program's, untrusted: <see cref="Escape(ReadOnlySpan{byte})"/> makes them text that cannot end an
/// entry, start one, or reach a terminal as a control sequence. The sizes are of that text, in UTF-8: the same as the
/// program's bytes for text, and an escape counts what it takes (<c>\x1b</c> is 4 bytes), so a run of binary output
/// logs no more than a run of text does.
/// </summary>
public static partial class StderrLog
{
    /// <summary>The category of the entries.</summary>
    public const string Category = "AotFaas.Stderr";

    /// <summary>The most lines of one run that are logged (blank lines are skipped and do not count).</summary>
    public const int MaxLines = 64;

    /// <summary>The most text one run logs, in UTF-8 bytes of the escaped lines.</summary>
    public const int MaxBytes = 8 * 1024;

    /// <summary>The most text one line logs, in UTF-8 bytes; a longer line is cut there.</summary>
    public const int MaxLineBytes = 2 * 1024;

    private const string HexDigits = "0123456789abcdef";

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
            string text = Escape(line, room, out int consumed, out int written);
            if (consumed == line.Length && !runsOn)
            {
                Line(log, level, function, requestId, text);
                logged += written;
                position = next;
                continue;
            }

            if (consumed == 0)
            {
                // Not one character of it fits in what is left of the run's budget.
                break;
            }

            LineCut(log, level, function, requestId, consumed, text);
            logged += written;
            linesCut++;
            if (room < MaxLineBytes || runsOn)
            {
                // The run's budget ends in this line, or the line runs on past what was kept: the rest is not logged.
                position += consumed;
                break;
            }

            // What is not logged of the line runs to its end, line ending included, as the tail's bytes do.
            bytesCut += next - (position + consumed);
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
    public static string Escape(ReadOnlySpan<byte> bytes) => Escape(bytes, int.MaxValue, out _, out _);

    /// <summary>
    /// As <see cref="Escape(ReadOnlySpan{byte})"/>, up to <paramref name="maxBytes"/> of text (in UTF-8): it stops before
    /// a character or an escape that would not fit, never inside one. <paramref name="consumed"/> is how many of
    /// <paramref name="bytes"/> the text shows, <paramref name="written"/> its size.
    /// </summary>
    public static string Escape(ReadOnlySpan<byte> bytes, int maxBytes, out int consumed, out int written)
    {
        int plain = bytes.IndexOfAnyExcept(Plain);
        if (plain < 0 || plain >= maxBytes)
        {
            // Printable ASCII up to the end or the limit: the common line.
            consumed = written = Math.Min(plain < 0 ? bytes.Length : plain, maxBytes);
            return Encoding.ASCII.GetString(bytes[..consumed]);
        }

        var text = new StringBuilder(Math.Min(bytes.Length, maxBytes) + 16);
        Span<char> utf16 = stackalloc char[2];
        int i = 0;
        int size = 0;
        while (i < bytes.Length)
        {
            plain = bytes[i..].IndexOfAnyExcept(Plain);
            int run = Math.Min(plain < 0 ? bytes.Length - i : plain, maxBytes - size);
            if (run > 0)
            {
                foreach (byte b in bytes.Slice(i, run))
                {
                    text.Append((char)b);
                }

                i += run;
                size += run;
                continue;
            }

            if (plain != 0)
            {
                // Plain bytes, and no room for them.
                break;
            }

            byte first = bytes[i];
            int length;
            if (first == '\r')
            {
                length = 2;
                if (size + length > maxBytes)
                {
                    break;
                }

                text.Append('\\').Append('r');
                i++;
            }
            else if (first < 0x80 || Rune.DecodeFromUtf8(bytes[i..], out Rune rune, out int sequence) != OperationStatus.Done)
            {
                // A control byte, or a byte that does not start a UTF-8 character (each byte of a bad sequence in turn).
                length = 4;
                if (size + length > maxBytes)
                {
                    break;
                }

                AppendHex(text.Append('\\').Append('x'), first);
                i++;
            }
            else if (IsHidden(rune.Value))
            {
                length = 6;
                if (size + length > maxBytes)
                {
                    break;
                }

                AppendHex(AppendHex(text.Append('\\').Append('u'), (byte)(rune.Value >> 8)), (byte)rune.Value);
                i += sequence;
            }
            else
            {
                length = sequence;
                if (size + length > maxBytes)
                {
                    break;
                }

                text.Append(utf16[..rune.EncodeToUtf16(utf16)]);
                i += sequence;
            }

            size += length;
        }

        consumed = i;
        written = size;
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

    private static StringBuilder AppendHex(StringBuilder text, byte b)
        => text.Append(HexDigits[b >> 4]).Append(HexDigits[b & 0xf]);

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
