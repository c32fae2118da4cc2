namespace AotFaas.Async;

/// <summary>
/// Where a NATS JetStream store is: <c>--async-store nats://HOST[:PORT]/STREAM</c> (port 4222 by default). Credentials come from the environment, not the command line (which <c>ps</c> shows):
/// <c>NATS_USER</c> and <c>NATS_PASSWORD</c>, or <c>NATS_TOKEN</c>.
/// </summary>
/// <param name="Server">The server's URL, without the stream.</param>
/// <param name="Stream">The stream's name: letters, digits, '-' and '_'.</param>
public sealed record NatsAddress(string Server, string Stream)
{
    public const int DefaultPort = 4222;

    /// <summary>Whether <paramref name="store"/> names a NATS server rather than a SQLite file.</summary>
    public static bool IsNats(string store) => store.StartsWith("nats://", StringComparison.OrdinalIgnoreCase);

    /// <summary>The address <paramref name="store"/> names.</summary>
    /// <exception cref="FormatException">It is not <c>nats://HOST[:PORT]/STREAM</c>.</exception>
    public static NatsAddress Parse(string store)
    {
        const string Expected = "expected nats://HOST[:PORT]/STREAM";
        if (!Uri.TryCreate(store, UriKind.Absolute, out Uri? uri) || uri.Host.Length == 0)
        {
            throw new FormatException($"--async-store: '{store}' is not a URL ({Expected})");
        }

        if (uri.UserInfo.Length > 0)
        {
            throw new FormatException("--async-store: put NATS credentials in NATS_USER and NATS_PASSWORD (or NATS_TOKEN), not in the URL");
        }

        if (uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            throw new FormatException($"--async-store: '{store}' has a query or a fragment ({Expected})");
        }

        string stream = uri.AbsolutePath.Trim('/');
        if (stream.Length == 0 || stream.Length > 200 || !stream.All(static c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw new FormatException($"--async-store: '{store}' needs a stream name of letters, digits, '-' and '_' after the host ({Expected})");
        }

        int port = uri.IsDefaultPort || uri.Port < 0 ? DefaultPort : uri.Port;
        return new NatsAddress($"{uri.Scheme.ToLowerInvariant()}://{uri.Host}:{port}", stream);
    }

    public override string ToString() => $"{Server}/{Stream}";
}
