using System.Net;
using System.Net.Sockets;

namespace AotFaas.Hosting;

/// <summary>
/// An address could not be bound for a reason other than being taken (which Kestrel reports itself): not an address of
/// this host, a port below 1024 without the right, a Unix socket's folder missing. Not an <see cref="IOException"/>, on
/// purpose: Kestrel tries its fallbacks on any other exception (the IPv4 wildcard when the IPv6 one fails, the other
/// loopback of <c>localhost</c>) and reports an <see cref="IOException"/> as final.
/// </summary>
public sealed class ListenFailedException(EndPoint endpoint, SocketException cause)
    : Exception($"cannot listen on {Describe(endpoint)}: {cause.Message}{Hint(endpoint, cause.SocketErrorCode)}", cause)
{
    private static string Describe(EndPoint endpoint) => endpoint is UnixDomainSocketEndPoint unix ? $"unix:{unix}" : endpoint.ToString() ?? "?";

    private static string Hint(EndPoint endpoint, SocketError error)
    {
        if (endpoint is UnixDomainSocketEndPoint unix)
        {
            // The runtime reports a missing folder as an address not available.
            string? folder = Path.GetDirectoryName(unix.ToString());
            return !string.IsNullOrEmpty(folder) && !Directory.Exists(folder) ? $" (the folder {folder} does not exist)" : string.Empty;
        }

        return error switch
        {
            SocketError.AccessDenied => " (a port below 1024 needs root or CAP_NET_BIND_SERVICE)",
            SocketError.AddressNotAvailable => " (no interface of this host has that address)",
            _ => string.Empty,
        };
    }
}
