using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

// The floor of a .NET Native AOT function server on this machine (bench/run, "cold start against the seed"): listens on
// the port of --urls http://127.0.0.1:PORT, reads one HTTP/1.1 request with a Content-Length, runs /bin/cat with the body
// on its stdin (posix_spawn, pipes), and answers 200 with cat's stdout; then the next. Nothing else: what AotFaas adds
// to its cold start above this is Kestrel, its own set-up and its larger binary.
string url = args.Length == 2 && args[0] == "--urls" ? args[1] : throw new ArgumentException("usage: floor --urls http://127.0.0.1:PORT");
int port = int.Parse(url.AsSpan(url.LastIndexOf(':') + 1), System.Globalization.CultureInfo.InvariantCulture);
using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
listener.Listen(512);
byte[] buffer = new byte[1 << 20];
while (true)
{
    using Socket connection = listener.Accept();
    int received = 0, bodyStart = -1, length = 0;
    while (bodyStart < 0 || received - bodyStart < length)
    {
        int read = connection.Receive(buffer, received, buffer.Length - received, SocketFlags.None);
        if (read == 0)
        {
            break;
        }

        received += read;
        if (bodyStart < 0 && buffer.AsSpan(0, received).IndexOf("\r\n\r\n"u8) is int end and >= 0)
        {
            bodyStart = end + 4;
            string head = Encoding.ASCII.GetString(buffer, 0, end);
            int at = head.IndexOf("\r\ncontent-length:", StringComparison.OrdinalIgnoreCase);
            length = at < 0 ? 0 : int.Parse(head.AsSpan(at + 17, (head.IndexOf('\r', at + 2) is int stop and >= 0 ? stop : head.Length) - at - 17).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    if (bodyStart < 0)
    {
        continue;
    }

    byte[] output = Cat.Run(buffer.AsSpan(bodyStart, length));
    connection.Send(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {output.Length}\r\nConnection: close\r\n\r\n"));
    connection.Send(output);
}

/// <summary>/bin/cat with <c>input</c> on its stdin, through two pipes, as AotFaas's process layer runs a function.</summary>
internal static unsafe partial class Cat
{
    public static byte[] Run(ReadOnlySpan<byte> input)
    {
        int* stdin = stackalloc int[2];
        int* stdout = stackalloc int[2];
        if (pipe2(stdin, O_CLOEXEC) != 0 || pipe2(stdout, O_CLOEXEC) != 0)
        {
            throw new IOException("pipe2 failed");
        }

        byte* actions = stackalloc byte[256];
        posix_spawn_file_actions_init(actions);
        posix_spawn_file_actions_adddup2(actions, stdin[0], 0);
        posix_spawn_file_actions_adddup2(actions, stdout[1], 1);
        byte* path = stackalloc byte[] { (byte)'/', (byte)'b', (byte)'i', (byte)'n', (byte)'/', (byte)'c', (byte)'a', (byte)'t', 0 };
        byte** argv = stackalloc byte*[] { path, null };
        byte** envp = stackalloc byte*[] { null };
        int pid;
        int error = posix_spawn(&pid, path, actions, null, argv, envp);
        posix_spawn_file_actions_destroy(actions);
        close(stdin[0]);
        close(stdout[1]);
        if (error != 0)
        {
            throw new IOException($"posix_spawn failed: {error}");
        }

        fixed (byte* bytes = input)
        {
            for (int written = 0; written < input.Length;)
            {
                nint n = write(stdin[1], bytes + written, input.Length - written);
                written += n > 0 ? (int)n : throw new IOException("write failed");
            }
        }

        close(stdin[1]);
        var output = new MemoryStream();
        byte* chunk = stackalloc byte[65536];
        for (nint n; (n = read(stdout[0], chunk, 65536)) > 0;)
        {
            output.Write(new ReadOnlySpan<byte>(chunk, (int)n));
        }

        close(stdout[0]);
        int status;
        waitpid(pid, &status, 0);
        return output.ToArray();
    }

    private const int O_CLOEXEC = 0x80000;

    [LibraryImport("libc")]
    private static partial int pipe2(int* fds, int flags);

    [LibraryImport("libc")]
    private static partial int posix_spawn(int* pid, byte* path, void* actions, void* attributes, byte** argv, byte** envp);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_init(void* actions);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_destroy(void* actions);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newFd);

    [LibraryImport("libc")]
    private static partial nint write(int fd, byte* buffer, nint count);

    [LibraryImport("libc")]
    private static partial nint read(int fd, byte* buffer, nint count);

    [LibraryImport("libc")]
    private static partial int close(int fd);

    [LibraryImport("libc")]
    private static partial int waitpid(int pid, int* status, int options);
}
