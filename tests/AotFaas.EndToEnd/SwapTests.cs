using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using AotFaas.Testing;

namespace AotFaas.EndToEnd;

/// <summary>
/// SIGHUP swaps the binary in place: the binary now at the server's path starts with the same arguments and the
/// listening sockets, and the old server stops accepting and drains. The same hand-over takes sockets from systemd
/// (<c>LISTEN_FDS</c>, here from systemd's own <c>systemd-socket-activate</c>) and tells systemd about readiness and
/// the new main pid (<c>NOTIFY_SOCKET</c>).
/// </summary>
[Collection(nameof(PublishedBinary))]
public sealed partial class SwapTests(PublishedBinary binary, NextBinary next) : IClassFixture<NextBinary>
{
    private const int SIGHUP = 1;
    private const int SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    [GeneratedRegex(@"SIGHUP: pid (\d+) serves")]
    private static partial Regex Served();

    [Fact]
    public async Task A_SIGHUP_under_load_swaps_in_the_published_binary_with_no_failed_request()
    {
        string wrk = Tool("wrk");
        using var folder = new ServerFolder(binary.Path);
        int port = RunningServer.FreePort();
        await using RunningServer old = await RunningServer.StartAsync(folder.Binary, port, ["--urls", $"http://127.0.0.1:{port}"], NextBinary.Environment);
        using (HttpResponseMessage before = await old.Client.PostAsync("/function/version", new StringContent(string.Empty)))
        {
            Assert.Equal(HttpStatusCode.NotFound, before.StatusCode);
        }

        Task load = WrkWithNoFailureAsync(wrk, ["-t2", "-c16"], $"http://127.0.0.1:{port}/function/cat");
        await Task.Delay(2000);

        // A run in flight across the swap finishes on the old server.
        Task<HttpResponseMessage> inFlight = old.Client.PostAsync("/function/slow", new StringContent(string.Empty));
        Assert.True(await ProcessInfo.EventuallyAsync(() => ProcessInfo.Children(old.ProcessId).Length > 0), "the slow run never started");
        folder.Install(next.Path);
        Assert.Equal(0, Kill(old.ProcessId, SIGHUP));
        int newPid = await NewServerAsync(old);
        try
        {
            await load;

            using HttpResponseMessage slow = await inFlight;
            Assert.Equal(HttpStatusCode.OK, slow.StatusCode);
            // A new connection (the client's idle one may still reach the old server once, which closes it after).
            using var client = new HttpClient { BaseAddress = old.Address };
            using HttpResponseMessage version = await client.PostAsync("/function/version", new StringContent(string.Empty));
            Assert.Equal("next\n", await version.Content.ReadAsStringAsync());
            Assert.True(await ProcessInfo.EventuallyAsync(() => old.ExitCode is not null), "the old server did not exit after its drain:\n" + old.Output);
            Assert.Equal(0, old.ExitCode);
            Assert.Contains("Handing over: no new connection", old.Output, StringComparison.Ordinal);
        }
        finally
        {
            await StopAsync(newPid);
        }
    }

    [Fact]
    public async Task A_SIGHUP_swap_of_an_https_server_keeps_the_socket_TLS_and_moves_HTTP_1_1_and_HTTP_2_clients_with_no_failed_request()
    {
        string wrk = Tool("wrk");
        using var pki = new TestPki();
        TestPki.Issued issued = pki.Issue("swap", chain: true);
        using var folder = new ServerFolder(binary.Path);
        int port = RunningServer.FreePort();
        var address = new Uri($"https://127.0.0.1:{port}");
        await using RunningServer old = await RunningServer.StartAsync(folder.Binary, port, ["--urls", address.ToString().TrimEnd('/'), "--tls-cert", issued.CertificatePath, "--tls-key", issued.KeyPath], NextBinary.Environment);

        // wrk keeps HTTP/1.1 connections over TLS busy; an HTTP/2 client sends one request after the other on its one connection.
        Task load = WrkWithNoFailureAsync(wrk, ["-t1", "-c8"], $"{address}function/cat");
        using HttpClient h2 = pki.Client(address, HttpVersion.Version20);
        using var stopH2 = new CancellationTokenSource();
        Task<(int Answered, List<string> Failures)> h2Loop = RequestLoopAsync(h2, stopH2.Token);
        await Task.Delay(2000);

        folder.Install(next.Path);
        Assert.Equal(0, Kill(old.ProcessId, SIGHUP));
        int newPid = await NewServerAsync(old);
        try
        {
            await load;

            // The old server exits once its HTTP/2 connection, told GOAWAY, has closed; the client carried on elsewhere.
            Assert.True(await ProcessInfo.EventuallyAsync(() => old.ExitCode is not null), "the old server did not exit after its drain:\n" + old.Output);
            stopH2.Cancel();
            (int answered, List<string> failures) = await h2Loop;
            Assert.Empty(failures);
            Assert.True(answered > 0);
            Assert.Equal(0, old.ExitCode);

            // The new binary serves the passed socket with TLS: HTTP/2 by ALPN, the same certificate and chain.
            using HttpClient fresh = pki.Client(address, HttpVersion.Version20);
            using HttpResponseMessage version = await fresh.PostAsync("/function/version", new StringContent(string.Empty));
            Assert.Equal(HttpVersion.Version20, version.Version);
            Assert.Equal("next\n", await version.Content.ReadAsStringAsync());
            Assert.Contains($"Now listening on: {address.ToString().TrimEnd('/')} (passed in as descriptor 3)", old.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("invalid for HTTP/2", old.Output, StringComparison.Ordinal);
        }
        finally
        {
            await StopAsync(newPid);
        }
    }

    [Fact]
    public async Task Systemd_socket_activation_serves_a_socket_named_https_with_TLS_and_without_a_certificate_refuses_it_in_one_line()
    {
        string activate = Tool("systemd-socket-activate");
        using var pki = new TestPki();
        TestPki.Issued issued = pki.Issue("activated");
        int port = RunningServer.FreePort();
        string secret = $"{RunningServer.HookSecretVariable}={RunningServer.HookSecret}";
        await using (RunningServer server = await RunningServer.StartAsync(activate, port, ["-l", $"127.0.0.1:{port}", "--fdname=https", "-E", secret, binary.Path, "--tls-cert", issued.CertificatePath, "--tls-key", issued.KeyPath]))
        {
            using HttpClient client = pki.Client(new Uri($"https://127.0.0.1:{port}"), HttpVersion.Version20);
            using HttpResponseMessage response = await client.PostAsync("/function/cat", new StringContent("activated over tls"));
            Assert.Equal("activated over tls", await response.Content.ReadAsStringAsync());
            Assert.True(await server.WaitForOutputAsync($"Now listening on: https://127.0.0.1:{port} (passed in as descriptor 3)"), server.Output);
        }

        port = RunningServer.FreePort();
        await using RunningServer refused = await RunningServer.StartAsync(activate, port, ["-l", $"127.0.0.1:{port}", "--fdname=https", "-E", secret, binary.Path]);
        Assert.Equal(2, await refused.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("aotfaas: descriptor 3 passed by systemd is named https (LISTEN_FDNAMES): serving it needs --tls-cert FILE and --tls-key FILE\nTry 'aotfaas --help'.", refused.Output, StringComparison.Ordinal);
    }

    /// <summary>POSTs to <c>cat</c> one request after the other until <paramref name="stop"/>: how many were answered right, and what went wrong.</summary>
    private static async Task<(int Answered, List<string> Failures)> RequestLoopAsync(HttpClient client, CancellationToken stop)
    {
        int answered = 0;
        var failures = new List<string>();
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            try
            {
                using HttpResponseMessage response = await client.PostAsync("/function/cat", new StringContent($"request {i}"), CancellationToken.None);
                string body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                if (response.StatusCode == HttpStatusCode.OK && body == $"request {i}" && response.Version == HttpVersion.Version20)
                {
                    answered++;
                }
                else
                {
                    failures.Add($"request {i}: {(int)response.StatusCode} HTTP/{response.Version} '{body}'");
                }
            }
            catch (HttpRequestException e)
            {
                failures.Add($"request {i}: {e.Message}");
            }
        }

        return (answered, failures);
    }

    [Fact]
    public async Task A_new_binary_that_cannot_start_leaves_the_old_one_serving_with_the_reason_logged()
    {
        using var folder = new ServerFolder(binary.Path);
        int port = RunningServer.FreePort();

        // The new binary has a function whose secret this environment lacks: it refuses to start.
        await using RunningServer server = await RunningServer.StartAsync(folder.Binary, port, ["--urls", $"http://127.0.0.1:{port}"]);
        folder.Install(next.Path);

        Assert.Equal(0, Kill(server.ProcessId, SIGHUP));

        Assert.True(await server.WaitForOutputAsync("this server goes on serving"), server.Output);
        Assert.Contains("E2E_NEXT_TOKEN is not set", server.Output, StringComparison.Ordinal);
        Assert.Contains("SIGHUP: the new binary did not take over (it exited, or closed its ready pipe, before it served; exit code 1)", server.Output, StringComparison.Ordinal);
        Assert.Empty(ProcessInfo.Children(server.ProcessId));
        using (HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("still the old one")))
        {
            Assert.Equal("still the old one", await response.Content.ReadAsStringAsync());
        }

        // Not stuck: the next SIGHUP tries again, here with a binary that starts.
        folder.Install(binary.Path);
        Assert.Equal(0, Kill(server.ProcessId, SIGHUP));
        int newPid = await NewServerAsync(server);
        try
        {
            using HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("the new one"));
            Assert.Equal("the new one", await response.Content.ReadAsStringAsync());
        }
        finally
        {
            await StopAsync(newPid);
        }
    }

    [Fact]
    public async Task A_new_binary_that_never_serves_is_killed_after_the_timeout_even_if_its_child_keeps_the_ready_pipe()
    {
        using var folder = new ServerFolder(binary.Path);
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(folder.Binary, port, ["--urls", $"http://127.0.0.1:{port}"]);

        // Not a server at all: it never says READY, and a process it leaves behind holds the ready pipe open.
        folder.InstallScript("#!/bin/sh\n(exec sleep 30) &\nexec sleep 600\n");
        try
        {
            Assert.Equal(0, Kill(server.ProcessId, SIGHUP));

            Assert.True(await ProcessInfo.EventuallyAsync(() => server.Output.Contains("this server goes on serving", StringComparison.Ordinal), seconds: 20), server.Output);
            Assert.Contains("SIGHUP: the new binary did not take over (it did not serve within 10 s; killed by SIGKILL)", server.Output, StringComparison.Ordinal);
            using HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("still serving"));
            Assert.Equal("still serving", await response.Content.ReadAsStringAsync());

            // What it left behind (adopted by the server) was killed and reaped: no child, not even a zombie.
            Assert.True(await ProcessInfo.EventuallyAsync(() => ProcessInfo.Children(server.ProcessId).Length == 0, seconds: 5), "left behind: " + string.Join(", ", ProcessInfo.Children(server.ProcessId)));
        }
        finally
        {
            foreach (int left in ProcessInfo.Children(server.ProcessId))
            {
                Kill(left, 9);
            }
        }

        // The main loop is not stuck on the pipe: a stop signal still drains at once.
        Assert.Equal(0, await server.StopAsync());
    }

    [Fact]
    public async Task A_new_binary_that_writes_without_end_on_its_ready_pipe_is_stopped_at_once()
    {
        using var folder = new ServerFolder(binary.Path);
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(folder.Binary, port, ["--urls", $"http://127.0.0.1:{port}"]);
        folder.InstallScript("#!/bin/sh\nexec cat /dev/zero >&\"$AOTFAAS_SWAP_READY_FD\"\n");
        Assert.Equal(0, Kill(server.ProcessId, SIGHUP));

        // Well before the 10 s timeout: the bytes themselves end it.
        Assert.True(await ProcessInfo.EventuallyAsync(() => server.Output.Contains("this server goes on serving", StringComparison.Ordinal), seconds: 5), server.Output);
        Assert.Matches("SIGHUP: the new binary did not take over \\(it wrote [0-9]+ bytes on its ready pipe and no READY=1; killed by SIGKILL\\)", server.Output);
        Assert.Equal(0, await server.StopAsync());
    }

    [Fact]
    public async Task A_notify_socket_that_cannot_be_one_is_ignored()
    {
        int port = RunningServer.FreePort();

        // Longer than a Unix socket address can be (108 bytes).
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"http://127.0.0.1:{port}"], new Dictionary<string, string> { ["NOTIFY_SOCKET"] = "/tmp/" + new string('a', 120) });

        using HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("no crash"));
        Assert.Equal("no crash", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, await server.StopAsync());
    }

    [Fact]
    public async Task Systemd_socket_activation_serves_the_passed_socket_which_functions_never_get_and_a_swap_keeps_it()
    {
        string activate = Tool("systemd-socket-activate");
        using var folder = new ServerFolder(binary.Path);
        int port = RunningServer.FreePort();

        // systemd-socket-activate listens, then execs the server with the socket as descriptor 3 and LISTEN_FDS/LISTEN_PID set.
        await using RunningServer server = await RunningServer.StartAsync(activate, port, ["-l", $"127.0.0.1:{port}", "-E", $"{RunningServer.HookSecretVariable}={RunningServer.HookSecret}", folder.Binary]);

        using (HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("activated")))
        {
            Assert.Equal("activated", await response.Content.ReadAsStringAsync());
        }

        // The passed socket accepts before the server has logged its start (the log is written in batches): wait for the lines.
        Assert.True(await server.WaitForOutputAsync("Serving the 1 listening socket(s) passed by systemd"), server.Output);
        Assert.True(await server.WaitForOutputAsync($"Now listening on: http://127.0.0.1:{port} (passed in as descriptor 3)"), server.Output);
        using (HttpResponseMessage response = await server.Client.PostAsync("/function/sockets", new StringContent(string.Empty)))
        {
            string descriptors = await response.Content.ReadAsStringAsync();
            Assert.Contains("pipe:", descriptors, StringComparison.Ordinal);
            Assert.DoesNotContain("socket:", descriptors, StringComparison.Ordinal);
        }

        // The old server drops its copy of systemd's socket when it exits; the new one still accepts on it.
        Assert.Equal(0, Kill(server.ProcessId, SIGHUP));
        int newPid = await NewServerAsync(server);
        try
        {
            Assert.True(await ProcessInfo.EventuallyAsync(() => server.ExitCode is not null), "the old server did not exit:\n" + server.Output);
            for (int i = 0; i < 5; i++)
            {
                using var client = new HttpClient { BaseAddress = server.Address };
                using HttpResponseMessage response = await client.PostAsync("/function/cat", new StringContent($"after {i}"));
                Assert.Equal($"after {i}", await response.Content.ReadAsStringAsync());
            }
        }
        finally
        {
            await StopAsync(newPid);
        }
    }

    [Fact]
    public async Task Systemd_hears_ready_then_the_new_main_pid_after_a_swap_then_stopping()
    {
        using var notify = new NotifySocket();
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"http://127.0.0.1:{port}"], new Dictionary<string, string> { ["NOTIFY_SOCKET"] = notify.Path });

        Assert.Equal("READY=1", await notify.ReceiveAsync());
        Assert.Equal(0, Kill(server.ProcessId, SIGHUP));
        int newPid = await NewServerAsync(server);
        try
        {
            Assert.Equal($"MAINPID={newPid}\nREADY=1", await notify.ReceiveAsync());
        }
        finally
        {
            await StopAsync(newPid);
        }

        Assert.Equal("STOPPING=1", await notify.ReceiveAsync());
    }

    [Fact]
    public async Task A_server_started_with_SIGHUP_ignored_as_nohup_does_keeps_serving_and_does_not_swap()
    {
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(
            "/bin/sh", port, ["-c", "trap '' HUP; exec \"$0\" \"$@\"", binary.Path, "--urls", $"http://127.0.0.1:{port}"]);

        Assert.Equal(0, Kill(server.ProcessId, SIGHUP));
        await Task.Delay(500);

        using HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("still here"));
        Assert.Equal("still here", await response.Content.ReadAsStringAsync());
        Assert.DoesNotContain("SIGHUP", server.Output, StringComparison.Ordinal);
        Assert.Empty(ProcessInfo.Children(server.ProcessId));
    }

    [RootFact("unshare --pid needs CAP_SYS_ADMIN")]
    public async Task As_PID_1_a_SIGHUP_is_refused_because_the_container_would_end()
    {
        int port = RunningServer.FreePort();
        await using RunningServer unshare = await RunningServer.StartAsync("unshare", port, ["--pid", "--fork", "--mount-proc", binary.Path, "--urls", $"http://127.0.0.1:{port}"]);
        int serverPid = ProcessInfo.Children(unshare.ProcessId).Single();

        Assert.Equal(0, Kill(serverPid, SIGHUP));

        Assert.True(await unshare.WaitForOutputAsync("SIGHUP: this server is PID 1"), unshare.Output);
        using HttpResponseMessage response = await unshare.Client.PostAsync("/function/cat", new StringContent("still PID 1"));
        Assert.Equal("still PID 1", await response.Content.ReadAsStringAsync());
    }

    /// <summary>wrk posting 1 KiB for 6 s (bench/post-1k.lua); fails unless every request it sent was answered with a 2xx.</summary>
    private static async Task WrkWithNoFailureAsync(string wrk, string[] connections, string url)
    {
        using Process load = Process.Start(new ProcessStartInfo(wrk, [.. connections, "-d6s", "-s", Path.Combine(Repo.Root, "bench", "post-1k.lua"), url])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        Task<string> errors = load.StandardError.ReadToEndAsync();
        string report = await load.StandardOutput.ReadToEndAsync() + await errors;
        await load.WaitForExitAsync();
        Assert.Contains("requests in", report, StringComparison.Ordinal);
        Assert.DoesNotContain("Socket errors", report, StringComparison.Ordinal);
        Assert.DoesNotContain("Non-2xx", report, StringComparison.Ordinal);
    }

    /// <summary>The pid of the server that took over from <paramref name="old"/>, once it serves.</summary>
    private static async Task<int> NewServerAsync(RunningServer old)
    {
        Assert.True(await ProcessInfo.EventuallyAsync(() => Served().IsMatch(old.Output)), "no new server took over:\n" + old.Output);
        return int.Parse(Served().Match(old.Output).Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Stops a server that took over (it is nobody's child here) and waits until it is gone.</summary>
    private static async Task StopAsync(int pid)
    {
        Kill(pid, SIGTERM);
        Assert.True(await ProcessInfo.IsGoneAsync(pid), $"server {pid} did not stop");
    }

    private static string Tool(string name)
    {
        string? found = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':')
            .Select(folder => Path.Combine(folder, name)).FirstOrDefault(File.Exists);
        Assert.True(found is not null, $"{name} is not installed (test.sh installs it: Debian package {(name == "wrk" ? "wrk" : "systemd")})");
        return found!;
    }

    /// <summary>A folder of its own holding the server's binary, which <see cref="Install"/> replaces as publish.sh does: by a rename.</summary>
    private sealed class ServerFolder : IDisposable
    {
        private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-swap-").FullName;

        public ServerFolder(string binary)
        {
            Binary = Path.Combine(_folder, "aotfaas");
            Install(binary);
        }

        public string Binary { get; }

        public void Install(string binary)
        {
            string aside = Path.Combine(_folder, ".aotfaas.new");
            File.Copy(binary, aside, overwrite: true);
            File.Move(aside, Binary, overwrite: true);
        }

        /// <summary>Installs a shell script in the binary's place: a "new binary" that misbehaves.</summary>
        public void InstallScript(string text)
        {
            string aside = Path.Combine(_folder, ".aotfaas.new");
            File.WriteAllText(aside, text);
            Assert.Equal(0, Repo.Run("chmod", ["+x", aside], TimeSpan.FromSeconds(10)).ExitCode);
            File.Move(aside, Binary, overwrite: true);
        }

        public void Dispose() => Directory.Delete(_folder, recursive: true);
    }
}

/// <summary>
/// A second binary for the swap tests, published once from e2e.faas plus a <c>version</c> function and a function
/// whose bearer secret (<c>E2E_NEXT_TOKEN</c>) must be set for it to start.
/// </summary>
public sealed class NextBinary
{
    public const string TokenVariable = "E2E_NEXT_TOKEN";

    public NextBinary()
    {
        string output = System.IO.Path.Combine(Repo.Root, "artifacts", "e2e", "next");
        Directory.CreateDirectory(output);
        string manifest = System.IO.Path.Combine(Repo.Root, "artifacts", "e2e", "next.faas");
        File.WriteAllText(manifest, File.ReadAllText(Repo.E2eManifest) + $"version: echo next\nguarded: echo guarded\n  auth: bearer ${TokenVariable}\n");
        (int exitCode, string log) = Repo.Publish(manifest, "-o", output);
        Assert.True(exitCode == 0, "publish.sh failed:\n" + log);
        Path = System.IO.Path.Combine(output, "aotfaas");
    }

    /// <summary>What a server needs in its environment for this binary to start after a swap.</summary>
    public static Dictionary<string, string> Environment => new() { [TokenVariable] = "e2e-next-token" };

    public string Path { get; }
}
