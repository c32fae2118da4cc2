using System.Globalization;

namespace AotFaas.Execution.Native;

/// <summary>What the server reads of another process in <c>/proc/PID/stat</c>, without allocating a string for the file.</summary>
internal static unsafe class ProcStat
{
    /// <summary>Fields 5, 6 and 22 of <c>/proc/PID/stat</c>: process group, session, start time in ticks since boot.</summary>
    public static bool TryRead(int pid, out int group, out int session, out long started)
    {
        group = session = 0;
        started = 0;
        byte* buffer = stackalloc byte[1024];
        int fd = LibC.open(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/stat"), LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            return false;
        }

        int length = (int)LibC.read(fd, buffer, 1024);
        LibC.close(fd);
        if (length <= 0)
        {
            return false;
        }

        // "pid (comm) state ppid pgrp session ...": comm may hold anything, so fields are counted from its last ')'.
        var text = new ReadOnlySpan<byte>(buffer, length);
        int close = text.LastIndexOf((byte)')');
        if (close < 0)
        {
            return false;
        }

        text = text[(close + 2)..];
        for (int field = 3; field <= 22; field++)
        {
            int space = text.IndexOf((byte)' ');
            ReadOnlySpan<byte> token = space < 0 ? text : text[..space];
            switch (field)
            {
                case 5:
                    group = (int)Parse(token);
                    break;
                case 6:
                    session = (int)Parse(token);
                    break;
                case 22:
                    started = Parse(token);
                    return true;
            }

            if (space < 0)
            {
                return false;
            }

            text = text[(space + 1)..];
        }

        return false;
    }

    private static long Parse(ReadOnlySpan<byte> digits)
    {
        long value = 0;
        foreach (byte c in digits)
        {
            value = (value * 10) + (c - '0');
        }

        return value;
    }
}
