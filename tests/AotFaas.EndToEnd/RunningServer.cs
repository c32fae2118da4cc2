using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AotFaas.EndToEnd;

/// <summary>The published binary started as a user starts it, stopped with SIGTERM at the end.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private RunningServer(Process process, Uri address)
    {
        _process = process;
        Address = address;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Uri Address { get; }

    public HttpClient Client { get; }

    public int ProcessId => _process.Id;

    /// <summary>The exit code once the process has exited (while a server it handed its sockets to may still hold its output); else null.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>What the server printed so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The variable holding the secret of e2e.faas's <c>hook</c> function, and the secret every start gives it.</summary>
    public const string HookSecretVariable = "E2E_HOOK_SECRET";
    public const string HookSecret = "e2e-webhook-secret";

    /// <summary>A TCP port of 127.0.0.1 that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Starts <paramref name="binary"/> with <paramref name="args"/> (in <paramref name="workingDirectory"/> when given) and waits
    /// until 127.0.0.1:<paramref name="port"/> accepts, at most <paramref name="startTimeout"/> (default 10 s): every 20 ms,
    /// or with <paramref name="spin"/> again at once (returning the moment the port answers).
    /// </summary>
    public static async Task<RunningServer> StartAsync(string binary, int port, IEnumerable<string> args, IDictionary<string, string>? environment = null, string? workingDirectory = null, TimeSpan? startTimeout = null, bool spin = false)
    {
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory ?? string.Empty };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // e2e.faas has a function with auth: the server refuses to start without its secret.
        start.Environment[HookSecretVariable] = HookSecret;
        foreach ((string key, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var server = new RunningServer(Process.Start(start)!, new Uri($"http://127.0.0.1:{port}"));
        TimeSpan timeout = startTimeout ?? TimeSpan.FromSeconds(10);
        for (long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds; Environment.TickCount64 < deadline;)
        {
            if (server._process.HasExited)
            {
                throw new InvalidOperationException($"the server exited with {server._process.ExitCode}:\n{server.Output}");
            }

            try
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return server;
            }
            catch (SocketException)
            {
                if (spin)
                {
                    await Task.Yield();
                }
                else
                {
                    await Task.Delay(20);
                }
            }
        }

        await server.DisposeAsync();
        throw new TimeoutException($"the server did not listen on port {port} within {timeout.TotalSeconds} s:\n{server.Output}");
    }

    /// <summary>Waits until <c>/metrics</c> holds <paramref name="line"/> (a whole line); false after ten seconds.</summary>
    public async Task<bool> WaitForMetricAsync(string line)
    {
        for (int i = 0; i < 500; i++)
        {
            if ((await Client.GetStringAsync("/metrics")).Split('\n').Contains(line))
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }

    /// <summary>Waits until the server has printed <paramref name="text"/>; false after ten seconds.</summary>
    public async Task<bool> WaitForOutputAsync(string text)
    {
        for (int i = 0; i < 500 && !Output.Contains(text, StringComparison.Ordinal); i++)
        {
            await Task.Delay(20);
        }

        return Output.Contains(text, StringComparison.Ordinal);
    }

    /// <summary>Waits for the server to exit by itself (after a signal the test sent) and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        return _process.ExitCode;
    }

    /// <summary>Sends SIGTERM and waits for the exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, 15);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await _process.WaitForExitAsync(timeout.Token);
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        try
        {
            await StopAsync();
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }
}
