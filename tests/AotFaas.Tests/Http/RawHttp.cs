using System.Net.Sockets;
using System.Text;

namespace AotFaas.Tests.Http;

/// <summary>
/// A request written byte for byte on a socket, for what HttpClient would not send as is (dot segments,
/// encoded slashes, odd headers, a body that never comes). The request asks the server to close the
/// connection; the answer is read to its Content-Length, or else to the close.
/// </summary>
public static class RawHttp
{
    public sealed record Response(int Status, string Reason, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
    {
        public string Text => Encoding.UTF8.GetString(Body);

        /// <summary>The values of header <paramref name="name"/>, in order.</summary>
        public string[] All(string name) => Headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).ToArray();

        public string? Header(string name) => All(name).SingleOrDefault();
    }

    /// <summary>
    /// Sends <paramref name="method"/> <paramref name="target"/> with <paramref name="headers"/> (lines without CRLF) and
    /// <paramref name="body"/> with its Content-Length, or <paramref name="chunkedBody"/> after the head as written (its
    /// framing is the caller's: a Transfer-Encoding header among <paramref name="headers"/>).
    /// </summary>
    public static async Task<Response> SendAsync(Uri server, string method, string target, IEnumerable<string>? headers = null, byte[]? body = null, string? chunkedBody = null)
    {
        var head = new StringBuilder($"{method} {target} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\n");
        foreach (string header in headers ?? [])
        {
            head.Append(header).Append("\r\n");
        }

        if (body is not null)
        {
            head.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        }

        head.Append("\r\n");
        return await ExchangeAsync(server, method, [Encoding.UTF8.GetBytes(head.ToString()), body ?? [], chunkedBody is null ? [] : Encoding.Latin1.GetBytes(chunkedBody)]);
    }

    /// <summary>Sends <paramref name="parts"/> exactly as they are, one after the other, and reads the answer to a <paramref name="method"/> request.</summary>
    public static async Task<Response> ExchangeAsync(Uri server, string method, IEnumerable<byte[]> parts)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await socket.ConnectAsync(server.Host, server.Port, timeout.Token);
        foreach (byte[] part in parts)
        {
            await socket.SendAsync(part, timeout.Token);
        }

        var received = new MemoryStream();
        byte[] buffer = new byte[16384];
        int read;
        while (!IsComplete(received.GetBuffer().AsSpan(0, (int)received.Length), method) && (read = await socket.ReceiveAsync(buffer, timeout.Token)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        return Parse(received.ToArray());
    }

    /// <summary>
    /// Whether a response with a Content-Length has arrived whole: the server may keep the connection open
    /// a while after answering early (it drains a body it refused). Other responses end when it closes.
    /// </summary>
    private static bool IsComplete(ReadOnlySpan<byte> received, string method)
    {
        int end = received.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return false;
        }

        string head = Encoding.ASCII.GetString(received[..end]);
        System.Text.RegularExpressions.Match length = System.Text.RegularExpressions.Regex.Match(head, "\r\nContent-Length: *([0-9]+)", System.Text.RegularExpressions.RegexOptions.IgnoreCase);
        return length.Success && (method == "HEAD" || received.Length - end - 4 >= long.Parse(length.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    private static Response Parse(byte[] raw)
    {
        int end = raw.AsSpan().IndexOf("\r\n\r\n"u8);
        Assert.True(end > 0, "no complete response head: " + Encoding.ASCII.GetString(raw));
        string[] lines = Encoding.ASCII.GetString(raw, 0, end).Split("\r\n");
        string[] statusLine = lines[0].Split(' ', 3);
        var headers = new List<KeyValuePair<string, string>>();
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            headers.Add(new(line[..colon], line[(colon + 1)..].Trim()));
        }

        byte[] body = raw[(end + 4)..];
        if (headers.Any(h => h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)))
        {
            body = Unchunk(body);
        }

        return new Response(int.Parse(statusLine[1], System.Globalization.CultureInfo.InvariantCulture), statusLine.Length > 2 ? statusLine[2] : string.Empty, headers, body);
    }

    private static byte[] Unchunk(byte[] chunked)
    {
        var body = new MemoryStream();
        int at = 0;
        while (true)
        {
            int lineEnd = chunked.AsSpan(at).IndexOf("\r\n"u8) + at;
            int size = Convert.ToInt32(Encoding.ASCII.GetString(chunked, at, lineEnd - at).Split(';')[0], 16);
            if (size == 0)
            {
                return body.ToArray();
            }

            body.Write(chunked, lineEnd + 2, size);
            at = lineEnd + 2 + size + 2;
        }
    }
}
