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
        foreach (string path in paths)
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
