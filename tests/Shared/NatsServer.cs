using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace AotFaas.Testing;

/// <summary>
/// A real NATS server with JetStream (Debian's <c>nats-server</c>, installed by test.sh) on a free loopback port, its
/// store in a folder of its own; stopped and its folder removed at the end. Each test uses streams of its own
/// (<see cref="NewStore"/>), so tests sharing the server do not see each other's calls. Shared by the unit tests
/// (tests/AotFaas.Tests) and the end-to-end tests.
/// </summary>
public sealed class NatsServer : IDisposable
{
    private readonly string _folder;
    private Process _process = null!;

    public NatsServer()
    {
        _folder = Directory.CreateTempSubdirectory("aotfaas-nats-").FullName;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        Start();
    }

    /// <summary>Starts the server (again, after <see cref="Stop"/>: the same port and store folder) and waits until it accepts.</summary>
    public void Start()
    {
        var start = new ProcessStartInfo(Find())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in (string[])["-js", "-sd", _folder, "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("nats-server did not start");
        _process.OutputDataReceived += (_, e) => Log(e.Data);
        _process.ErrorDataReceived += (_, e) => Log(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        for (long deadline = Environment.TickCount64 + 10_000; ; Thread.Sleep(20))
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                break;
            }
            catch (SocketException) when (Environment.TickCount64 < deadline && !_process.HasExited)
            {
            }
            catch (SocketException e)
            {
                throw new InvalidOperationException($"nats-server did not listen on 127.0.0.1:{Port}:\n{Output}", e);
            }
        }
    }

    /// <summary>Stops the server (SIGKILL), its store folder kept for <see cref="Start"/>.</summary>
    public void Stop()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    public int Port { get; }

    /// <summary>What the server printed.</summary>
    public string Output
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    private readonly List<string> _lines = [];

    /// <summary>An <c>--async-store</c> value naming a stream no other test uses.</summary>
    public string NewStore() => $"nats://127.0.0.1:{Port}/t{Guid.NewGuid():N}";

    /// <summary>The <c>--async-store</c> value for a stream named after <paramref name="key"/> (the same key, the same stream).</summary>
    public string StoreFor(string key) => $"nats://127.0.0.1:{Port}/t{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..24]}";

    public void Dispose()
    {
        Stop();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Log(string? line)
    {
        if (line is not null)
        {
            lock (_lines)
            {
                _lines.Add(line);
            }
        }
    }

    private static string Find()
    {
        foreach (string folder in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Append("/usr/sbin").Append("/usr/bin"))
        {
            string candidate = Path.Combine(folder, "nats-server");
            if (folder.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("nats-server is not installed (Debian: apt-get install nats-server; test.sh installs it)");
    }
}
