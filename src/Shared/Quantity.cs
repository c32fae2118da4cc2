// Shared by the manifest compiler (AotFaas.Generators, netstandard2.0) and the server's command line
// (AotFaas), so that "10s" and "16MiB" mean the same in functions.faas and in --timeout / --max-body.
namespace AotFaas.Shared
{
    /// <summary>Durations (<c>500ms</c>, <c>10s</c>, <c>2m</c>, <c>1h</c>) and sizes (<c>512</c>, <c>64KiB</c>, <c>16MiB</c>, <c>1GiB</c>, <c>10MB</c>).</summary>
    internal static class Quantity
    {
        /// <summary>The longest duration accepted: 7 days.</summary>
        public const long MaxMilliseconds = 7L * 24 * 60 * 60 * 1000;

        /// <summary>The largest size accepted: 1 TiB.</summary>
        public const long MaxBytes = 1L << 40;

        /// <summary>Parses a duration into milliseconds; returns why it is wrong, or null.</summary>
        public static string? ParseDuration(string text, out long milliseconds) => ParseDuration(text, out milliseconds, out _, out _);

        /// <summary>
        /// Parses a duration into milliseconds, and also gives the number and the unit as written
        /// (<c>10s</c> is 10 and <c>s</c>); returns why it is wrong, or null.
        /// </summary>
        public static string? ParseDuration(string text, out long milliseconds, out long number, out string unit)
        {
            milliseconds = 0;
            if (!SplitNumber(text, out number, out unit))
            {
                return "'" + text + "' is not a duration; write a whole number and a unit: 500ms, 10s, 2m or 1h";
            }

            long scale;
            switch (unit)
            {
                case "ms": scale = 1; break;
                case "s": scale = 1000; break;
                case "m": scale = 60 * 1000; break;
                case "h": scale = 60 * 60 * 1000; break;
                case "":
                    return "'" + text + "' has no unit; write 500ms, 10s, 2m or 1h";
                default:
                    return "unknown unit '" + unit + "' in '" + text + "'; use ms, s, m or h";
            }

            if (number <= 0 || number > MaxMilliseconds / scale)
            {
                return "'" + text + "' is out of range: more than 0 and at most 7 days";
            }

            milliseconds = number * scale;
            return null;
        }

        /// <summary>Parses a size into bytes; returns why it is wrong, or null.</summary>
        public static string? ParseSize(string text, out long bytes) => ParseSize(text, out bytes, out _, out _);

        /// <summary>
        /// Parses a size into bytes, and also gives the number and the unit in its usual spelling
        /// (<c>64kib</c> is 64 and <c>KiB</c>; no unit is <c>B</c>); returns why it is wrong, or null.
        /// </summary>
        public static string? ParseSize(string text, out long bytes, out long number, out string unit)
        {
            bytes = 0;
            if (!SplitNumber(text, out number, out unit))
            {
                return "'" + text + "' is not a size; write a whole number and a unit: 512, 64KiB, 16MiB, 1GiB or 10MB";
            }

            long scale;
            string spelled;
            switch (unit.ToUpperInvariant())
            {
                case "":
                case "B": scale = 1; spelled = "B"; break;
                case "KIB": scale = 1L << 10; spelled = "KiB"; break;
                case "MIB": scale = 1L << 20; spelled = "MiB"; break;
                case "GIB": scale = 1L << 30; spelled = "GiB"; break;
                case "KB": scale = 1000; spelled = "KB"; break;
                case "MB": scale = 1000 * 1000; spelled = "MB"; break;
                case "GB": scale = 1000 * 1000 * 1000; spelled = "GB"; break;
                default:
                    return "unknown unit '" + unit + "' in '" + text + "'; use B, KiB, MiB, GiB, KB, MB or GB";
            }

            if (number <= 0 || number > MaxBytes / scale)
            {
                return "'" + text + "' is out of range: more than 0 and at most 1 TiB";
            }

            bytes = number * scale;
            unit = spelled;
            return null;
        }

        /// <summary>Parses a whole number within [<paramref name="min"/>, <paramref name="max"/>]; returns why it is wrong, or null.</summary>
        public static string? ParseCount(string text, int min, int max, out int value)
        {
            value = 0;
            if (!SplitNumber(text, out long number, out string unit) || unit.Length != 0)
            {
                return "'" + text + "' is not a whole number";
            }

            if (number < min || number > max)
            {
                return "'" + text + "' is out of range: " + min + " to " + max;
            }

            value = (int)number;
            return null;
        }

        /// <summary>A size as people read it: the largest binary unit that divides it, else bytes.</summary>
        public static string FormatSize(long bytes)
        {
            if (bytes > 0 && bytes % (1L << 30) == 0)
            {
                return (bytes >> 30) + "GiB";
            }

            if (bytes > 0 && bytes % (1L << 20) == 0)
            {
                return (bytes >> 20) + "MiB";
            }

            return bytes > 0 && bytes % (1L << 10) == 0 ? (bytes >> 10) + "KiB" : bytes + "B";
        }

        /// <summary>A duration as people read it: the largest unit that divides it.</summary>
        public static string FormatDuration(long milliseconds)
        {
            if (milliseconds > 0 && milliseconds % (60 * 60 * 1000) == 0)
            {
                return (milliseconds / (60 * 60 * 1000)) + "h";
            }

            if (milliseconds > 0 && milliseconds % (60 * 1000) == 0)
            {
                return (milliseconds / (60 * 1000)) + "m";
            }

            return milliseconds > 0 && milliseconds % 1000 == 0 ? (milliseconds / 1000) + "s" : milliseconds + "ms";
        }

        private static bool SplitNumber(string text, out long number, out string unit)
        {
            number = 0;
            unit = string.Empty;
            int i = 0;
            while (i < text.Length && text[i] >= '0' && text[i] <= '9')
            {
                if (number > long.MaxValue / 10 - 9)
                {
                    return false;
                }

                number = (number * 10) + (text[i] - '0');
                i++;
            }

            if (i == 0)
            {
                return false;
            }

            unit = text.Substring(i).Trim();
            for (int j = 0; j < unit.Length; j++)
            {
                char c = unit[j];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
