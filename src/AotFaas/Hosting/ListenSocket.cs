namespace AotFaas.Hosting;

/// <summary>
/// A listening socket passed to this process or handed on to the next one: its descriptor, and whether it serves TLS.
/// Its name in <c>LISTEN_FDNAMES</c> (systemd's <c>FileDescriptorName=</c>) says which: <c>https</c> serves TLS (with
/// <c>--tls-cert</c>/<c>--tls-key</c>), any other name plain HTTP.
/// </summary>
public readonly record struct ListenSocket(int Descriptor, bool Tls)
{
    /// <summary>The name of a socket that serves TLS.</summary>
    public const string HttpsName = "https";

    /// <summary>The name this server gives a plain HTTP socket it hands on.</summary>
    public const string HttpName = "http";

    /// <summary>The socket's name in <c>LISTEN_FDNAMES</c>.</summary>
    public string Name => Tls ? HttpsName : HttpName;
}
