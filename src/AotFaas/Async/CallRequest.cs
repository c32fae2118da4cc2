using System.Net;
using System.Text;

namespace AotFaas.Async;

/// <summary>
/// The request of an asynchronous call as it arrived, without its body: what the run sees of it later (method,
/// path, query, headers, the client's address), kept in the store as a few length-prefixed strings.
/// </summary>
public sealed record CallRequest(string Method, string Scheme, string Host, string PathInfo, string Target, string Query, string? RemoteAddress, int RemotePort, IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    /// <summary>The request of <paramref name="context"/>, for a call to the function at <paramref name="pathInfo"/>.</summary>
    /// <param name="target">The path and query after the function's name, as the client wrote them.</param>
    public static CallRequest From(HttpContext context, string pathInfo, string target)
    {
        HttpRequest request = context.Request;
        var headers = new List<KeyValuePair<string, string>>(request.Headers.Count);
        foreach (KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues> header in request.Headers)
        {
            foreach (string? value in header.Value)
            {
                headers.Add(new(header.Key, value ?? string.Empty));
            }
        }

        IPAddress? remote = context.Connection.RemoteIpAddress;
        return new CallRequest(request.Method, request.Scheme, request.Host.Value ?? string.Empty, pathInfo, target, request.QueryString.Value ?? string.Empty,
            remote?.ToString(), context.Connection.RemotePort, headers);
    }

    public byte[] ToBytes()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write((byte)1);
            writer.Write(Method);
            writer.Write(Scheme);
            writer.Write(Host);
            writer.Write(PathInfo);
            writer.Write(Target);
            writer.Write(Query);
            writer.Write(RemoteAddress ?? string.Empty);
            writer.Write(RemotePort);
            writer.Write(Headers.Count);
            foreach (KeyValuePair<string, string> header in Headers)
            {
                writer.Write(header.Key);
                writer.Write(header.Value);
            }
        }

        return stream.ToArray();
    }

    public static CallRequest FromBytes(byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
        if (reader.ReadByte() != 1)
        {
            throw new InvalidDataException("a stored request of an unknown version");
        }

        string method = reader.ReadString();
        string scheme = reader.ReadString();
        string host = reader.ReadString();
        string pathInfo = reader.ReadString();
        string target = reader.ReadString();
        string query = reader.ReadString();
        string remote = reader.ReadString();
        int port = reader.ReadInt32();
        int count = reader.ReadInt32();
        var headers = new List<KeyValuePair<string, string>>(count);
        for (int i = 0; i < count; i++)
        {
            headers.Add(new(reader.ReadString(), reader.ReadString()));
        }

        return new CallRequest(method, scheme, host, pathInfo, target, query, remote.Length == 0 ? null : remote, port, headers);
    }
}
