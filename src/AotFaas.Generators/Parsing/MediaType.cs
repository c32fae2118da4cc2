using AotFaas.Shared;

namespace AotFaas.Generators.Parsing
{
    /// <summary>
    /// Checks a media type as RFC 9110 section 8.3.1 defines it: <c>type/subtype</c> followed by
    /// <c>; name=value</c> parameters, where a value is a token or a quoted string.
    /// </summary>
    internal static class MediaType
    {
        /// <summary>Returns why <paramref name="value"/> is not a media type, or null when it is one.</summary>
        public static string? Validate(string value)
        {
            int i = 0;
            int typeEnd = ReadToken(value, i);
            if (typeEnd == i || typeEnd >= value.Length || value[typeEnd] != '/')
            {
                return "'" + value + "' is not a media type; expected type/subtype, for example text/plain or application/json";
            }

            i = typeEnd + 1;
            int subtypeEnd = ReadToken(value, i);
            if (subtypeEnd == i)
            {
                return "'" + value + "' has no subtype after '/'; expected type/subtype, for example text/plain";
            }

            i = subtypeEnd;
            while (true)
            {
                i = SkipBlanks(value, i);
                if (i >= value.Length)
                {
                    return null;
                }

                if (value[i] != ';')
                {
                    return "unexpected '" + value[i] + "' at position " + (i + 1) + " of '" + value + "'; parameters are written '; name=value'";
                }

                i = SkipBlanks(value, i + 1);
                if (i >= value.Length)
                {
                    return null;
                }

                int nameEnd = ReadToken(value, i);
                if (nameEnd == i || nameEnd >= value.Length || value[nameEnd] != '=')
                {
                    return "parameter at position " + (i + 1) + " of '" + value + "' is not written 'name=value'";
                }

                i = nameEnd + 1;
                if (i < value.Length && value[i] == '"')
                {
                    i = ReadQuotedString(value, i + 1);
                    if (i < 0)
                    {
                        return "unterminated quoted parameter value in '" + value + "'";
                    }
                }
                else
                {
                    int valueEnd = ReadToken(value, i);
                    if (valueEnd == i)
                    {
                        return "parameter at position " + (nameEnd + 1) + " of '" + value + "' has no value";
                    }

                    i = valueEnd;
                }
            }
        }

        private static int ReadToken(string s, int i)
        {
            while (i < s.Length && HttpToken.IsTokenChar(s[i]))
            {
                i++;
            }

            return i;
        }

        private static int SkipBlanks(string s, int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t'))
            {
                i++;
            }

            return i;
        }

        /// <summary>Reads a quoted string after its opening quote; returns the index after the closing quote, or -1.</summary>
        private static int ReadQuotedString(string s, int i)
        {
            while (i < s.Length)
            {
                char c = s[i];
                if (c == '"')
                {
                    return i + 1;
                }

                if (c == '\\')
                {
                    i++;
                }
                else if ((c < 0x20 && c != '\t') || c == 0x7F || c > 0xFF)
                {
                    return -1;
                }

                i++;
            }

            return -1;
        }

        /// <summary>Whether <paramref name="s"/> is an HTTP token (RFC 9110), the shape of a header name.</summary>
        public static bool IsToken(string s) => s.Length > 0 && ReadToken(s, 0) == s.Length;
    }
}
