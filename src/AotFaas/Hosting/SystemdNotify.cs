using System.Net.Sockets;
using System.Text;

namespace AotFaas.Hosting;

/// <summary>
/// systemd's readiness protocol (<c>sd_notify</c>): one datagram to the socket <c>NOTIFY_SOCKET</c> names, for a unit
/// of <c>Type=notify</c>: <c>READY=1</c> once the server serves, <c>STOPPING=1</c> when it drains, and, after a
/// SIGHUP swap, <c>MAINPID=</c> the new server, so that systemd follows it (<c>NotifyAccess=main</c> is enough: the
/// old server, still the main process, says it). Nothing happens where the variable is not set.
/// </summary>
public static class SystemdNotify
{
    public const string Variable = "NOTIFY_SOCKET";

    private static bool s_handedOver;

    /// <summary>Sends <paramref name="state"/>; false when there is no socket to tell, or it could not be told.</summary>
    public static bool Send(string state)
    {
        if (s_handedOver || Environment.GetEnvironmentVariable(Variable) is not { Length: > 1 } path || (path[0] != '/' && path[0] != '@'))
        {
            return false;
        }

        try
        {
            // '@' names an abstract socket: its name starts with a NUL byte.
            var endpoint = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

            // Never wait: a reader that does not read (its queue full) must not hold up the server's start or its drain.
            socket.Blocking = false;
            socket.SendTo(Encoding.UTF8.GetBytes(state), endpoint);
            return true;
        }
        catch (Exception e) when (e is SocketException or ArgumentException)
        {
            // Not a socket to tell (a path too long for one, a full queue, nobody there): systemd is not listening.
            return false;
        }
    }

    /// <summary>Tells systemd that <paramref name="pid"/> is the main process now; this one says nothing more after.</summary>
    public static void HandOver(int pid)
    {
        Send($"MAINPID={pid}\nREADY=1");
        s_handedOver = true;
    }
}
