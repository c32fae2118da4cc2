using System.Globalization;
using System.Text;
using AotFaas.Shared;

namespace AotFaas.Execution;

/// <summary>
/// The header block a <c>response: cgi</c> function writes at the start of its stdout (RFC 3875
/// section 6): header lines (<c>Status: 201 Created</c>, <c>Content-Type: ...</c>, <c>Location: ...</c>,
/// any other header), each ending in LF or CRLF, then a blank line, then the body. A <c>Location</c>
/// without a <c>Status</c> is a 302 redirect. The block is the function's to get right: anything
/// malformed is a reason for a 502, never a guess. Headers that belong to the connection or to the
/// framing of the message (<c>Connection</c>, <c>Content-Length</c>, <c>Transfer-Encoding</c>, ...) are
/// the server's and are refused.
/// </summary>
public sealed class CgiResponse
{
    /// <summary>The longest header block read; a blank line must come within it.</summary>
    public const int MaxHeadBytes = 64 * 1024;

    /// <summary>The most header lines in a block.</summary>
    public const int MaxHeaderLines = 100;

    private static readonly string[] Refused =
    [
        "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "TE", "Trailer", "Upgrade",
        "Content-Length", "Proxy-Authenticate", "Proxy-Authorization",
    ];

    private CgiResponse(int status, string? reason, string? contentType, List<KeyValuePair<string, string>> headers, int bodyOffset)
    {
        Status = status;
        Reason = reason;
        ContentType = contentType;
        Headers = headers;
        BodyOffset = bodyOffset;
    }

    /// <summary>The status code: the <c>Status</c> line's, 302 for a bare <c>Location</c>, else 200.</summary>
    public int Status { get; }

    /// <summary>The reason phrase of the <c>Status</c> line, or null.</summary>
    public string? Reason { get; }

    /// <summary>The <c>Content-Type</c> line's value, or null.</summary>
    public string? ContentType { get; }

    /// <summary>Every other header, in order; a name may repeat (<c>Set-Cookie</c>).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    /// <summary>Where the body starts in stdout: just after the blank line.</summary>
    public int BodyOffset { get; }

    /// <summary>
    /// Reads the header block at the start of <paramref name="head"/>, which holds the first bytes of
    /// stdout (all of them when <paramref name="complete"/>). Returns null with the reason when it is malformed.
    /// </summary>
    public static CgiResponse? Parse(ReadOnlySpan<byte> head, bool complete, out string? error)
    {
        int? status = null;
        string? reason = null;
        string? contentType = null;
        string? location = null;
        var headers = new List<KeyValuePair<string, string>>();
        int position = 0;
        int lines = 0;
        while (true)
        {
            int newline = head[position..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                error = complete
                    ? "its output ended before the blank line that ends the CGI headers"
                    : $"no blank line ends the CGI headers in the first {MaxHeadBytes / 1024} KiB of its output";
                return null;
            }

            ReadOnlySpan<byte> line = head.Slice(position, newline);
            if (line.Length > 0 && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            position += newline + 1;
            if (line.IsEmpty)
            {
                break;
            }

            if (++lines > MaxHeaderLines)
            {
                error = $"it wrote more than {MaxHeaderLines} CGI header lines";
                return null;
            }

            if (!TryReadField(line, out string name, out string value, out error))
            {
                return null;
            }

            if (IsRefused(name))
            {
                error = $"CGI header '{name}' is the server's to set";
                return null;
            }

            if (name.Equals("Status", StringComparison.OrdinalIgnoreCase))
            {
                if (status is not null)
                {
                    error = "CGI header 'Status' appears twice";
                    return null;
                }

                if (!TryReadStatus(value, out int code, out reason))
                {
                    error = $"CGI header 'Status: {value}' is not a status: write a code from 200 to 599 and an optional reason, e.g. 'Status: 404 Not Found'";
                    return null;
                }

                status = code;
            }
            else if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
            {
                if (contentType is not null)
                {
                    error = "CGI header 'Content-Type' appears twice";
                    return null;
                }

                contentType = value;
            }
            else
            {
                if (name.Equals("Location", StringComparison.OrdinalIgnoreCase))
                {
                    if (location is not null)
                    {
                        error = "CGI header 'Location' appears twice";
                        return null;
                    }

                    location = value;
                }

                headers.Add(new KeyValuePair<string, string>(name, value));
            }
        }

        if (lines == 0)
        {
            error = "its output starts with a blank line: a CGI response needs at least one header (Content-Type, Status or Location) before it";
            return null;
        }

        error = null;
        return new CgiResponse(status ?? (location is not null ? 302 : 200), reason, contentType, headers, position);
    }

    private static bool TryReadField(ReadOnlySpan<byte> line, out string name, out string value, out string? error)
    {
        name = value = string.Empty;
        error = null;
        if (line[0] is (byte)' ' or (byte)'\t')
        {
            error = "a CGI header line starts with a blank (folded header lines are not allowed)";
            return false;
        }

        int colon = line.IndexOf((byte)':');
        if (colon <= 0 || !IsToken(line[..colon]))
        {
            error = $"'{Printable(line)}' is not a CGI header line: write 'Name: value'";
            return false;
        }

        ReadOnlySpan<byte> raw = line[(colon + 1)..].Trim(" \t"u8);
        foreach (byte b in raw)
        {
            if ((b < 0x20 && b != (byte)'\t') || b >= 0x7F)
            {
                error = $"CGI header '{Encoding.ASCII.GetString(line[..colon])}' holds a control or non-ASCII byte";
                return false;
            }
        }

        name = Encoding.ASCII.GetString(line[..colon]);
        value = Encoding.ASCII.GetString(raw);
        if (value.Length == 0)
        {
            error = $"CGI header '{name}' has no value";
            return false;
        }

        return true;
    }

    private static bool TryReadStatus(string value, out int code, out string? reason)
    {
        code = 0;
        reason = null;
        if (value.Length < 3 || !int.TryParse(value.AsSpan(0, 3), NumberStyles.None, CultureInfo.InvariantCulture, out code)
            || code is < 200 or > 599 || (value.Length > 3 && value[3] != ' '))
        {
            return false;
        }

        string rest = value[3..].Trim();
        reason = rest.Length > 0 ? rest : null;
        return true;
    }

    private static bool IsRefused(string name)
    {
        foreach (string refused in Refused)
        {
            if (name.Equals(refused, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsToken(ReadOnlySpan<byte> name)
    {
        foreach (byte b in name)
        {
            if (!HttpToken.IsTokenChar((char)b))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A line for a message: printable ASCII kept, the rest as '?', at most 60 characters.</summary>
    private static string Printable(ReadOnlySpan<byte> line)
    {
        var text = new StringBuilder();
        foreach (byte b in line[..Math.Min(line.Length, 60)])
        {
            text.Append(b is >= 0x20 and < 0x7F ? (char)b : '?');
        }

        return line.Length > 60 ? text.Append("...").ToString() : text.ToString();
    }
}
