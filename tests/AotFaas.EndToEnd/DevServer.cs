using System.Diagnostics;

namespace AotFaas.EndToEnd;

/// <summary>
/// <c>./dev.sh</c>, built once for the suite: the first start builds it (when nothing under src/ changed since its
/// last build, not even that), and the tests start it as a user does, from a folder holding their manifest.
/// </summary>
public sealed class DevServer : IDisposable
{
    public DevServer()
    {
        Directory.CreateDirectory(Folder);
        string manifest = Path.Combine(Folder, "functions.faas");
        File.WriteAllText(manifest, "hello: echo hello\n");
        var clock = Stopwatch.StartNew();
        (int exitCode, string output) = Repo.Run(Script, [manifest, "--list"], TimeSpan.FromMinutes(10));
        Assert.True(exitCode == 0, "./dev.sh --list failed:\n" + output);
        FirstStart = clock.Elapsed;
        FirstStartOutput = output;
    }

    /// <summary>The script.</summary>
    public static string Script => Path.Combine(Repo.Root, "dev.sh");

    /// <summary>What dev.sh prints when it builds.</summary>
    public const string Building = "dev.sh: building the development server";

    /// <summary>The development server's start-up line.</summary>
    public const string Banner = "Development server, not for production: serving functions.faas from source and reloading it on save";

    /// <summary>A folder of the suite's own, for manifests.</summary>
    public string Folder { get; } = Path.Combine(Path.GetTempPath(), $"aotfaas-dev-e2e-{Guid.NewGuid():N}");

    /// <summary>How long the suite's first <c>./dev.sh --list</c> took, and what it printed (a build, if it built).</summary>
    public TimeSpan FirstStart { get; }

    public string FirstStartOutput { get; }

    /// <summary>A folder for one test, holding <c>functions.faas</c> with <paramref name="manifest"/>.</summary>
    public string ManifestFolder(string manifest)
    {
        string folder = Directory.CreateDirectory(Path.Combine(Folder, Guid.NewGuid().ToString("N"))).FullName;
        File.WriteAllText(Path.Combine(folder, "functions.faas"), manifest);
        return folder;
    }

    /// <summary>Starts <c>./dev.sh functions.faas</c> in <paramref name="folder"/> on a free port.</summary>
    public static async Task<RunningServer> StartAsync(string folder, params string[] extra)
    {
        int port = RunningServer.FreePort();
        return await RunningServer.StartAsync(
            Script,
            port,
            ["functions.faas", "--urls", $"http://127.0.0.1:{port}", .. extra],
            workingDirectory: folder,
            startTimeout: TimeSpan.FromSeconds(60));
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}

[CollectionDefinition(nameof(DevServer))]
public sealed class DevServerCollection : ICollectionFixture<DevServer>;
