using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace AotFaas.EndToEnd;

/// <summary>
/// deploy/: no container engine or cluster runs here, so what the files promise about the binary is
/// checked against the binary: the command line they give it, the port, the probe paths, the grace period.
/// </summary>
[Collection(nameof(PublishedBinary))]
public sealed partial class DeploymentFilesTests(PublishedBinary binary)
{
    private static string Read(string name) => File.ReadAllText(Path.Combine(Repo.Root, "deploy", name));

    private static string[] DockerCommand()
    {
        Match cmd = Regex.Match(Read("Dockerfile"), "^CMD (\\[.*\\])$", RegexOptions.Multiline);
        Assert.True(cmd.Success, "the Dockerfile has no exec-form CMD");
        return JsonSerializer.Deserialize<string[]>(cmd.Groups[1].Value)!;
    }

    [Fact]
    public void The_Dockerfile_builds_with_publish_sh_and_runs_unprivileged_on_runtime_deps()
    {
        string dockerfile = Read("Dockerfile");

        Assert.Matches("(?m)^FROM mcr\\.microsoft\\.com/dotnet/sdk:10\\.0 AS build$", dockerfile);
        Assert.Matches("(?m)^RUN \\./publish\\.sh \"\\$MANIFEST\" -o /out$", dockerfile);
        Assert.Matches("(?m)^FROM mcr\\.microsoft\\.com/dotnet/runtime-deps:10\\.0$", dockerfile);
        Assert.Matches("(?m)^USER \\$APP_UID$", dockerfile);
        Assert.Matches("(?m)^ENV PORT=8080$", dockerfile);
        Assert.Equal("/app/aotfaas", DockerCommand()[0]);
        Assert.Contains("artifacts/", File.ReadAllText(Path.Combine(Repo.Root, ".dockerignore")), StringComparison.Ordinal);
        Assert.Contains("Ubuntu 24.04", dockerfile, StringComparison.Ordinal);

        // The functions' folder and packages: the default folder exists, and the worked example's does, with the files its manifest names.
        Assert.Matches("(?m)^ARG FUNCTIONS=deploy/functions$", dockerfile);
        Assert.True(Directory.Exists(Path.Combine(Repo.Root, "deploy", "functions")));
        Assert.Matches("(?m)^WORKDIR /app/functions$", dockerfile);
        Assert.Matches("(?m)^COPY \\$\\{FUNCTIONS\\}/ \\./$", dockerfile);
        Assert.Matches("(?m)^ARG PACKAGES=\"\"$", dockerfile);
        Assert.Contains("--build-arg MANIFEST=examples/functions.faas", dockerfile, StringComparison.Ordinal);
        Assert.Contains("--build-arg FUNCTIONS=examples/functions", dockerfile, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(Repo.Root, "examples", "functions", "slugify.py")));
        Assert.True(File.Exists(Path.Combine(Repo.Root, "examples", "functions", "on-push.sh")));
    }

    [Fact]
    public void The_Dockerfile_restores_from_the_project_files_alone_before_it_copies_the_sources()
    {
        string[] lines = Read("Dockerfile").Split('\n');
        int restore = Array.FindIndex(lines, l => l.StartsWith("RUN dotnet restore ", StringComparison.Ordinal));
        int sources = Array.IndexOf(lines, "COPY . .");
        Assert.InRange(restore, 0, sources - 1);

        // The layer as Docker builds it: only the files copied before it, then its RUN line (amd64).
        string context = Directory.CreateTempSubdirectory("aotfaas-restore-").FullName;
        try
        {
            foreach (string copy in lines[..restore].Where(l => l.StartsWith("COPY ", StringComparison.Ordinal)))
            {
                string[] words = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                string target = Path.Combine(context, words[^1] == "./" ? string.Empty : words[^1]);
                Directory.CreateDirectory(target);
                foreach (string file in words[1..^1])
                {
                    File.Copy(Path.Combine(Repo.Root, file), Path.Combine(target, Path.GetFileName(file)));
                }
            }

            string run = lines[restore]["RUN ".Length..];
            (int code, string output) = Repo.Run("/bin/sh", ["-c", $"cd '{context}' && {run}"], TimeSpan.FromMinutes(5), new Dictionary<string, string> { ["TARGETARCH"] = "amd64" });
            Assert.True(code == 0, "the restore layer fails with only the files copied before it:\n" + output);
            Assert.True(File.Exists(Path.Combine(context, "src", "AotFaas", "obj", "project.assets.json")));
        }
        finally
        {
            Directory.Delete(context, recursive: true);
        }
    }

    [Fact]
    public void The_Kubernetes_files_pull_scrape_keep_a_pod_and_take_auth_secrets_from_a_Secret()
    {
        string yaml = Read("kubernetes.yaml");

        Assert.Matches("(?m)^ +imagePullPolicy: (IfNotPresent|Always)$", yaml);
        Assert.Matches("(?m)^ +prometheus\\.io/scrape: \"true\"$", yaml);
        Assert.Matches("(?m)^ +prometheus\\.io/port: \"8080\"$", yaml);
        Assert.Matches("(?m)^ +prometheus\\.io/path: /metrics$", yaml);
        Assert.Matches("(?m)^kind: PodDisruptionBudget$", yaml);
        Assert.Matches("(?m)^  minAvailable: 1$", yaml);
        Assert.Matches("(?m)^ +secretKeyRef:$", yaml);
        Assert.Contains("One limit covers the server and every run of every function", yaml, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_containers_command_line_and_PORT_start_a_server_that_answers_its_probes()
    {
        int port = RunningServer.FreePort();
        string[] args = DockerCommand()[1..];
        Assert.Equal(args, KubernetesArgs().Single());
        Assert.Equal(args, KnativeArgs().Single());

        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, args, new Dictionary<string, string> { ["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        string[] paths = [.. ProbePaths(Read("kubernetes.yaml")), .. ProbePaths(Read("knative.yaml"))];

        Assert.Equal(["/_/health", "/healthz", "/_/health"], paths);
        string scraped = Regex.Match(Read("kubernetes.yaml"), "prometheus\\.io/path: (\\S+)").Groups[1].Value;
        foreach (string path in paths.Append(scraped))
        {
            using HttpResponseMessage response = await server.Client.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // PORT means every interface: Kestrel reports the IPv6 wildcard, which also takes IPv4.
        Assert.Contains($"Now listening on: http://[::]:{port}", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_grace_period_covers_the_preStop_sleep_the_drain_and_the_kill_grace()
    {
        string yaml = Read("kubernetes.yaml");
        int grace = int.Parse(Regex.Match(yaml, "terminationGracePeriodSeconds: ([0-9]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        int preStop = int.Parse(Regex.Match(yaml, "command: \\[\"sleep\", \"([0-9]+)\"\\]").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        string[] args = KubernetesArgs().Single();
        int drain = int.Parse(args[Array.IndexOf(args, "--drain-timeout") + 1].TrimEnd('s'), System.Globalization.CultureInfo.InvariantCulture);

        Assert.True(grace > preStop + drain + 2, $"terminationGracePeriodSeconds {grace} <= preStop {preStop} + drain {drain} + kill grace 2");
        Assert.Contains("containerPort: 8080", yaml, StringComparison.Ordinal);
        Assert.Contains("value: \"8080\"", yaml, StringComparison.Ordinal);
        Assert.Contains("runAsNonRoot: true", yaml, StringComparison.Ordinal);
        Assert.Contains("kind: Service", yaml, StringComparison.Ordinal);
        Assert.Contains("apiVersion: serving.knative.dev/v1", Read("knative.yaml"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_systemd_units_command_line_parses_and_its_stop_timeout_covers_the_drain_and_the_kill_grace()
    {
        Dictionary<string, string> service = SystemdService(Read("aotfaas.service"));
        string[] command = service["ExecStart"].Split(' ', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal("/usr/local/bin/aotfaas", command[0]);

        // Where to listen is aotfaas.socket's business (socket activation), not the command line's.
        Assert.DoesNotContain("--urls", command);
        Assert.DoesNotContain("--port", command);

        // --help after the unit's flags: the binary parses them all (a bad one exits 2) and starts nothing.
        var start = new System.Diagnostics.ProcessStartInfo(binary.Path) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in command[1..].Append("--help"))
        {
            start.ArgumentList.Add(arg);
        }

        using (var process = System.Diagnostics.Process.Start(start)!)
        {
            string errors = await process.StandardError.ReadToEndAsync();
            await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"the unit's flags do not parse: {errors}");
        }

        double drain = Seconds(Flag(command, "--drain-timeout") ?? "30s");
        double grace = Seconds(Flag(command, "--kill-grace") ?? "2s");
        double delay = Seconds(Flag(command, "--drain-delay") ?? "0s");
        double stop = Seconds(service["TimeoutStopSec"]);
        Assert.True(stop >= delay + drain + grace, $"TimeoutStopSec {stop} s < drain delay {delay} + drain timeout {drain} + kill grace {grace}");

        // Whenever the server dies, SIGKILL included, systemd ends what is left in its control group.
        Assert.Equal("control-group", service["KillMode"]);
        Assert.Equal("SIGTERM", service["KillSignal"]);
        Assert.Equal("on-failure", service["Restart"]);
        Assert.Equal("yes", service["NoNewPrivileges"]);
        Assert.Equal("yes", service["PrivateTmp"]);
        Assert.Equal("strict", service["ProtectSystem"]);
    }

    [Fact]
    public async Task The_systemd_units_stop_command_drains_the_server_and_returns_only_once_it_has_exited()
    {
        // systemd runs ExecStop with MAINPID set, and signals the rest of the control group only after it returns:
        // it must not return while a run may still be finishing, or KillMode=control-group would end that run.
        string stop = SystemdService(Read("aotfaas.service"))["ExecStop"];
        Match script = Regex.Match(stop, "^/bin/sh -c '(.*)'$");
        Assert.True(script.Success, "ExecStop is not /bin/sh -c '...': " + stop);

        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"http://127.0.0.1:{port}"]);
        Task<HttpResponseMessage> inFlight = server.Client.PostAsync("/function/slow", new ByteArrayContent([]));
        for (int i = 0; i < 250 && !Directory.GetDirectories($"/proc/{server.ProcessId}/task").Any(t => File.ReadAllText(t + "/children").Trim().Length > 0); i++)
        {
            await Task.Delay(20);
        }

        var start = new System.Diagnostics.ProcessStartInfo("/bin/sh") { RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script.Groups[1].Value.Replace("$$", "$", StringComparison.Ordinal));
        start.Environment["MAINPID"] = server.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using (var stopping = System.Diagnostics.Process.Start(start)!)
        {
            await stopping.WaitForExitAsync();
            Assert.Equal(0, stopping.ExitCode);
        }

        // When the stop command returned, the server had exited (so systemd's kill of the group finds nothing),
        // after letting the run in flight finish normally.
        Assert.False(Directory.Exists($"/proc/{server.ProcessId}"), "ExecStop returned while the server was still there");
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(5)));
        using HttpResponseMessage response = await inFlight;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task The_socket_unit_and_the_service_verify_serve_under_socket_activation_and_a_reload_swaps_the_binary()
    {
        // systemd-analyze checks both units as systemd would load them; the binary's path is this suite's.
        string folder = Directory.CreateTempSubdirectory("aotfaas-units-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "aotfaas.socket"), Read("aotfaas.socket"));
            File.WriteAllText(Path.Combine(folder, "aotfaas.service"), Read("aotfaas.service").Replace("/usr/local/bin/aotfaas", binary.Path, StringComparison.Ordinal));
            (int verified, string verifyOutput) = Repo.Run("systemd-analyze", ["verify", Path.Combine(folder, "aotfaas.socket"), Path.Combine(folder, "aotfaas.service")], TimeSpan.FromSeconds(60));
            Assert.True(verified == 0, "systemd-analyze verify:\n" + verifyOutput);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }

        Dictionary<string, string> service = SystemdService(Read("aotfaas.service"));
        Dictionary<string, string> unit = SystemdService(Read("aotfaas.service"), "[Unit]");
        Dictionary<string, string> socket = SystemdService(Read("aotfaas.socket"), "[Socket]");
        Assert.Equal("aotfaas.socket", unit["Requires"]);
        Assert.Equal("notify", service["Type"]);
        Assert.Equal("main", service["NotifyAccess"]);
        Assert.Matches("^[0-9]+$", socket["ListenStream"]);

        // The unit's command line, with the socket systemd would pass (here on a free loopback port) and its
        // notification socket: it serves the passed socket, says READY=1, and ExecReload swaps it for the binary at
        // its path, which systemd then follows as the main process.
        using var notify = new NotifySocket();
        int port = RunningServer.FreePort();
        string[] command = service["ExecStart"].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        await using RunningServer server = await RunningServer.StartAsync(
            "systemd-socket-activate",
            port,
            ["-l", $"127.0.0.1:{port}", "-E", $"{RunningServer.HookSecretVariable}={RunningServer.HookSecret}", "-E", $"NOTIFY_SOCKET={notify.Path}", binary.Path, .. command[1..]]);
        using (HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("socket-activated")))
        {
            Assert.Equal("socket-activated", await response.Content.ReadAsStringAsync());
        }

        Assert.Equal("READY=1", await notify.ReceiveAsync());
        Assert.Equal(0, RunReload(service["ExecReload"], server.ProcessId));
        string handedOver = await notify.ReceiveAsync();
        Match mainPid = Regex.Match(handedOver, "^MAINPID=([0-9]+)\nREADY=1$");
        Assert.True(mainPid.Success, "after ExecReload: " + handedOver);
        int newPid = int.Parse(mainPid.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.NotEqual(server.ProcessId, newPid);
        using (var fresh = new HttpClient { BaseAddress = server.Address })
        using (HttpResponseMessage response = await fresh.PostAsync("/function/cat", new StringContent("reloaded")))
        {
            Assert.Equal("reloaded", await response.Content.ReadAsStringAsync());
        }

        _ = RunReload("/bin/kill -TERM $MAINPID", newPid);
        Assert.True(await ProcessInfo.IsGoneAsync(newPid), "the new main process did not stop");
    }

    [Fact]
    public async Task The_commented_TLS_example_of_the_systemd_units_verifies_and_serves_TLS_on_the_socket_named_https()
    {
        // The example uncommented, as an operator would: a socket named https, the credentials, the TLS flags.
        string socketUnit = Regex.Replace(Read("aotfaas.socket"), "^#(ListenStream|FileDescriptorName)=", "$1=", RegexOptions.Multiline);
        string serviceUnit = Read("aotfaas.service");
        string tlsStart = Regex.Match(serviceUnit, "^#(ExecStart=.*--tls-cert.*)$", RegexOptions.Multiline).Groups[1].Value;
        Assert.NotEqual(string.Empty, tlsStart);
        serviceUnit = Regex.Replace(serviceUnit, "^ExecStart=.*$", tlsStart, RegexOptions.Multiline);
        serviceUnit = Regex.Replace(serviceUnit, "^#(LoadCredential=)", "$1", RegexOptions.Multiline);
        Dictionary<string, string> socket = SystemdService(socketUnit, "[Socket]");
        Assert.Equal("https", socket["FileDescriptorName"]);
        string folder = Directory.CreateTempSubdirectory("aotfaas-units-").FullName;
        using var pki = new AotFaas.Testing.TestPki();
        try
        {
            File.WriteAllText(Path.Combine(folder, "aotfaas.socket"), socketUnit);
            File.WriteAllText(Path.Combine(folder, "aotfaas.service"), serviceUnit.Replace("/usr/local/bin/aotfaas", binary.Path, StringComparison.Ordinal));
            (int verified, string verifyOutput) = Repo.Run("systemd-analyze", ["verify", Path.Combine(folder, "aotfaas.socket"), Path.Combine(folder, "aotfaas.service")], TimeSpan.FromSeconds(60));
            Assert.True(verified == 0, "systemd-analyze verify:\n" + verifyOutput);

            // %d is the credentials folder, where LoadCredential= puts tls.crt and tls.key.
            AotFaas.Testing.TestPki.Issued issued = pki.Issue("unit", chain: true);
            File.Copy(issued.CertificatePath, Path.Combine(folder, "tls.crt"));
            File.Copy(issued.KeyPath, Path.Combine(folder, "tls.key"));
            string[] command = SystemdService(serviceUnit)["ExecStart"].Replace("%d", folder, StringComparison.Ordinal).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int port = RunningServer.FreePort();
            await using RunningServer server = await RunningServer.StartAsync(
                "systemd-socket-activate",
                port,
                ["-l", $"127.0.0.1:{port}", $"--fdname={socket["FileDescriptorName"]}", "-E", $"{RunningServer.HookSecretVariable}={RunningServer.HookSecret}", binary.Path, .. command[1..]]);
            using HttpClient client = pki.Client(new Uri($"https://127.0.0.1:{port}"), HttpVersion.Version20);
            using HttpResponseMessage response = await client.PostAsync("/function/cat", new StringContent("socket-activated over tls"));
            Assert.Equal("socket-activated over tls", await response.Content.ReadAsStringAsync());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Runs a unit's Exec line, a plain command with <c>$MAINPID</c>, as systemd would.</summary>
    private static int RunReload(string line, int mainPid)
    {
        string[] words = line.Replace("$MAINPID", mainPid.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return Repo.Run(words[0], words[1..], TimeSpan.FromSeconds(30)).ExitCode;
    }

    /// <summary>A section's settings, [Service] unless said (the last one of a name wins, as in systemd).</summary>
    private static Dictionary<string, string> SystemdService(string unit, string wanted = "[Service]")
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        string section = "";
        foreach (string raw in unit.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }

            if (line[0] == '[')
            {
                section = line;
            }
            else if (section == wanted && line.IndexOf('=', StringComparison.Ordinal) is int equals and > 0)
            {
                settings[line[..equals]] = line[(equals + 1)..];
            }
        }

        return settings;
    }

    private static string? Flag(string[] command, string name)
        => Array.IndexOf(command, name) is int i and >= 0 && i + 1 < command.Length ? command[i + 1] : null;

    /// <summary>A duration as the binary and systemd both write it here: 500ms, 30s, 2m, or bare seconds.</summary>
    private static double Seconds(string value)
    {
        Match m = Regex.Match(value, "^([0-9]+)(ms|s|m|min)?$");
        Assert.True(m.Success, $"'{value}' is not a duration this test reads");
        double number = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        return m.Groups[2].Value switch
        {
            "ms" => number / 1000,
            "m" or "min" => number * 60,
            _ => number,
        };
    }

    private static IEnumerable<string[]> KubernetesArgs() => Args(Read("kubernetes.yaml"));

    private static IEnumerable<string[]> KnativeArgs() => Args(Read("knative.yaml"));

    private static IEnumerable<string[]> Args(string yaml)
        => ArgsLine().Matches(yaml).Select(m => JsonSerializer.Deserialize<string[]>(m.Groups[1].Value)!);

    private static IEnumerable<string> ProbePaths(string yaml) => ProbePath().Matches(yaml).Select(m => m.Groups[1].Value);

    [GeneratedRegex("(?m)^ +args: (\\[.*\\])$")]
    private static partial Regex ArgsLine();

    [GeneratedRegex("(?m)^ +path: (/\\S*)$")]
    private static partial Regex ProbePath();
}
