using System.Net;
using System.Text;

namespace AotFaas.Async;

/// <summary>
/// The request of an asynchronous call as it arrived, without its body: what the run sees of it later (method,
/// path, query, headers, the client's address), kept in the store as a few length-prefixed strings.
/// </summary>
public sealed record CallRequest(string Method, string Scheme, string Host, string PathInfo, string Target, string Query, string? RemoteAddress, int RemotePort, IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    /// <summary>The server's port the request came to (SERVER_PORT).</summary>
    public int LocalPort { get; init; }

    /// <summary>
    /// The request of <paramref name="context"/>, for a call to <paramref name="proc"/> at <paramref name="pathInfo"/>. Not
    /// kept: Host (the <see cref="Host"/> field holds it), and what a run would not be given anyway, which is what a
    /// caller's credentials are: Authorization (unless the function sets <c>pass-authorization: true</c>), the header
    /// of an <c>auth: token</c> function, Proxy and Proxy-Authorization.
    /// </summary>
    /// <param name="target">The path and query after the function's name, as the client wrote them.</param>
    public static CallRequest From(HttpContext context, string pathInfo, string target, Functions.Proc proc)
    {
        HttpRequest request = context.Request;
        var headers = new List<KeyValuePair<string, string>>(request.Headers.Count);
        foreach (KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues> header in request.Headers)
        {
            string name = header.Key;
            if (name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Proxy", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase)
                || (!proc.PassAuthorization && name.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
                || (proc.Auth == Functions.AuthScheme.Token && name.Equals(proc.AuthHeader, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            foreach (string? value in header.Value)
            {
                headers.Add(new(header.Key, value ?? string.Empty));
            }
        }

        IPAddress? remote = context.Connection.RemoteIpAddress;
        return new CallRequest(request.Method, request.Scheme, request.Host.Value ?? string.Empty, pathInfo, target, request.QueryString.Value ?? string.Empty,
            remote?.ToString(), context.Connection.RemotePort, headers)
        {
            LocalPort = context.Connection.LocalPort,
        };
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
            writer.Write(LocalPort);
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
        int localPort = reader.ReadInt32();
        int count = reader.ReadInt32();
        var headers = new List<KeyValuePair<string, string>>(count);
        for (int i = 0; i < count; i++)
        {
            headers.Add(new(reader.ReadString(), reader.ReadString()));
        }

        return new CallRequest(method, scheme, host, pathInfo, target, query, remote.Length == 0 ? null : remote, port, headers) { LocalPort = localPort };
    }
}
