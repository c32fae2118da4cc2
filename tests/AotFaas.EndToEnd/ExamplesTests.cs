using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace AotFaas.EndToEnd;

/// <summary>
/// The README's first functions (examples/functions.faas: jq, Python, a signed GitHub webhook), published and run as
/// the README says: from the examples/functions folder, with the webhook's secret in the environment.
/// </summary>
[Collection(nameof(PublishedBinary))]
public sealed class ExamplesTests(ExamplesBinary examples) : IClassFixture<ExamplesBinary>, IAsyncLifetime
{
    private const string Secret = "change-me";
    private RunningServer _server = null!;

    public async Task InitializeAsync()
    {
        int port = RunningServer.FreePort();
        _server = await RunningServer.StartAsync(
            examples.Path,
            port,
            ["--urls", $"http://127.0.0.1:{port}"],
            new Dictionary<string, string> { ["GITHUB_WEBHOOK_SECRET"] = Secret },
            workingDirectory: Path.Combine(Repo.Root, "examples", "functions"));
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task The_jq_function_totals_an_order()
    {
        using HttpResponseMessage response = await _server.Client.PostAsync("/function/total", new StringContent("""{"items":[{"price":2.5,"quantity":2},{"price":10,"quantity":1}]}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("{\"total\":15}\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_Python_function_slugifies()
    {
        using HttpResponseMessage response = await _server.Client.PostAsync("/function/slugify", new StringContent("Héllo, World! 2026"));

        Assert.Equal("hello-world-2026", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_webhook_runs_for_a_push_GitHub_signed_and_is_401_otherwise()
    {
        const string push = """{"ref":"refs/heads/main","pusher":{"name":"octocat"},"commits":[{},{}]}""";
        string signature = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes(push)));

        using var signed = new HttpRequestMessage(HttpMethod.Post, "/function/on-push") { Content = new StringContent(push) };
        signed.Headers.Add("X-GitHub-Event", "push");
        signed.Headers.Add("X-Hub-Signature-256", signature);
        using HttpResponseMessage ran = await _server.Client.SendAsync(signed);
        using var forged = new HttpRequestMessage(HttpMethod.Post, "/function/on-push") { Content = new StringContent(push) };
        forged.Headers.Add("X-GitHub-Event", "push");
        forged.Headers.Add("X-Hub-Signature-256", "sha256=" + new string('0', 64));
        using HttpResponseMessage refused = await _server.Client.SendAsync(forged);

        Assert.Equal("refs/heads/main pushed by octocat: 2 commit(s)\n", await ran.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }
}

/// <summary>examples/functions.faas, published once with publish.sh.</summary>
public sealed class ExamplesBinary
{
    public ExamplesBinary()
    {
        string output = System.IO.Path.Combine(Repo.Root, "artifacts", "e2e", "examples");
        (int exitCode, string log) = Repo.Publish(System.IO.Path.Combine(Repo.Root, "examples", "functions.faas"), "-o", output);
        Assert.True(exitCode == 0, "publish.sh failed:\n" + log);
        Path = System.IO.Path.Combine(output, "aotfaas");
    }

    public string Path { get; }
}
