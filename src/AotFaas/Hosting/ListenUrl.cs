using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace AotFaas.Hosting;

/// <summary>
/// One address to listen on, from <c>--urls</c>, <c>ASPNETCORE_URLS</c>, <c>--host</c>/<c>--port</c>, <c>PORT</c> or the
/// default: <c>http://</c> or <c>https://</c> (TLS), then an IP address, <c>localhost</c> (IPv4 and IPv6 loopback) or
/// <c>*</c> (<c>+</c>; all interfaces), and a port (another host name is refused, not taken for all interfaces as
/// Kestrel takes it); or <c>unix:/path</c>, a Unix socket. The server binds these
/// itself rather than handing the strings to Kestrel, whose own parsing of an <c>https</c> address asks the generic
/// host's services for its certificate configuration (which this server, built without them, does not have).
/// </summary>
public sealed record ListenUrl(string Text, bool Https, string Host, int Port, string? UnixSocket)
{
    /// <summary>Splits <paramref name="urls"/> at <c>;</c> and reads each.</summary>
    /// <exception cref="UsageException">One is not an address this server can listen on.</exception>
    public static IReadOnlyList<ListenUrl> ParseList(string urls)
    {
        var parsed = new List<ListenUrl>();
        foreach (string url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            ListenUrl listen = Parse(url);
            if (parsed.Find(other => other.SameAddress(listen)) is ListenUrl twice)
            {
                throw new UsageException($"'{url}' is the same address as '{twice.Text}': give each address once");
            }

            parsed.Add(listen);
        }

        return parsed.Count > 0 ? parsed : throw new UsageException($"'{urls}' holds no URL to listen on");
    }

    /// <summary>Reads one address.</summary>
    /// <exception cref="UsageException">It is not an address this server can listen on.</exception>
    public static ListenUrl Parse(string url)
    {
        const string Expected = "expected http://HOST:PORT or https://HOST:PORT";
        BindingAddress address;
        try
        {
            address = BindingAddress.Parse(url);
        }
        catch (FormatException)
        {
            throw new UsageException($"'{url}' is not a URL to listen on ({Expected})");
        }

        bool https = string.Equals(address.Scheme, "https", StringComparison.OrdinalIgnoreCase);
        if (!https && !string.Equals(address.Scheme, "http", StringComparison.OrdinalIgnoreCase))
        {
            throw new UsageException($"'{url}': the scheme must be http or https ({Expected})");
        }

        if (!string.IsNullOrEmpty(address.PathBase) && address.PathBase != "/")
        {
            throw new UsageException($"'{url}': a URL to listen on has no path ({Expected})");
        }

        if (address.IsUnixPipe)
        {
            return new ListenUrl(url, https, address.Host, 0, address.UnixPipePath);
        }

        if (address.Port is < 0 or > 65535)
        {
            throw new UsageException($"'{url}': the port must be 0-65535");
        }

        var listen = new ListenUrl(url, https, address.Host, address.Port, null);
        if (!IsLocalhost(address.Host) && address.Host is not ("*" or "+") && listen.Literal() is null)
        {
            // Kestrel would listen on every interface for any name that is not an address: a mistyped 127.0.0.1 or
            // localhost must not open the server to the network.
            throw new UsageException($"'{url}': '{address.Host}' is not an address to listen on: give an IP address (0.0.0.0 or [::] for every interface), localhost, or *");
        }

        if (address.Port == 0 && IsLocalhost(address.Host))
        {
            // Two sockets (IPv4 and IPv6) cannot be given one free port by the kernel.
            throw new UsageException($"'{url}': port 0 (a free port) needs one address: use 127.0.0.1:0 or [::1]:0 rather than localhost");
        }

        return listen;
    }

    /// <summary>
    /// Adds this address to <paramref name="kestrel"/> as Kestrel's own address binding would: <c>localhost</c> is both
    /// loopbacks (one may be missing), an IP address is that address, <c>*</c> and <c>+</c> are every interface (IPv6 in dual mode, else IPv4).
    /// </summary>
    public void AddTo(KestrelServerOptions kestrel, Action<ListenOptions> configure)
    {
        if (UnixSocket is not null)
        {
            kestrel.ListenUnixSocket(UnixSocket, configure);
        }
        else if (IsLocalhost(Host))
        {
            kestrel.ListenLocalhost(Port, configure);
        }
        else if (Literal() is IPAddress ip)
        {
            kestrel.Listen(new IPEndPoint(ip, Port), configure);
        }
        else
        {
            kestrel.ListenAnyIP(Port, configure);
        }
    }

    /// <summary>
    /// The IP endpoints <see cref="AddTo"/> has Kestrel bind first: both loopbacks for <c>localhost</c>, the address
    /// itself, or the IPv6 wildcard (dual mode) for every interface; none for a Unix socket.
    /// </summary>
    public IEnumerable<IPEndPoint> IPEndPoints()
    {
        if (UnixSocket is not null)
        {
            return [];
        }

        if (IsLocalhost(Host))
        {
            return [new IPEndPoint(IPAddress.Loopback, Port), new IPEndPoint(IPAddress.IPv6Loopback, Port)];
        }

        return [new IPEndPoint(Literal() ?? IPAddress.IPv6Any, Port)];
    }

    /// <summary>Whether <paramref name="other"/> names the same socket (the scheme aside: one port serves one of them).</summary>
    private bool SameAddress(ListenUrl other) => UnixSocket is not null
        ? UnixSocket == other.UnixSocket
        : other.UnixSocket is null && Port == other.Port && Port != 0 && (string.Equals(Host, other.Host, StringComparison.OrdinalIgnoreCase) || (Literal() is IPAddress ip && ip.Equals(other.Literal())));

    /// <summary>The host as an IP address (an IPv6 one may be in brackets), or null when it names something else.</summary>
    private IPAddress? Literal() => IPAddress.TryParse(Host.StartsWith('[') && Host.EndsWith(']') ? Host[1..^1] : Host, out IPAddress? ip) ? ip : null;

    private static bool IsLocalhost(string host) => string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase);
}
