using System.Diagnostics;

namespace AotFaas.EndToEnd;

/// <summary>
/// A binary of its own for the <c>mode: http</c> tests, published once from workers.faas with publish.sh, and what its
/// workers need: the output folder (where workers/echo.py is) as the server's working directory, the bearer secret of
/// its <c>guarded</c> function, and the folder of the real python3 first on PATH (a version manager's shim would
/// cost every worker start a shell or two).
/// </summary>
public sealed class WorkersBinary
{
    public const string TokenVariable = "E2E_WORKER_TOKEN";
    public const string Token = "e2e-worker-token";

    /// <summary>The variable each server's workers get (pass-env), to tell them from another server's.</summary>
    public const string TagVariable = "E2E_WORKER_TAG";

    /// <summary>An argument of every worker's command line in workers.faas.</summary>
    public const string Marker = "aotfaas-e2e-worker";

    public WorkersBinary()
    {
        string output = System.IO.Path.Combine(Repo.Root, "artifacts", "e2e", "workers");
        (int exitCode, string log) = Repo.Publish(System.IO.Path.Combine(AppContext.BaseDirectory, "workers.faas"), "-o", output);
        Assert.True(exitCode == 0, "publish.sh failed:\n" + log);
        Path = System.IO.Path.Combine(output, "aotfaas");
        (int found, string python) = Repo.Run("python3", ["-c", "import sys; print(sys.executable)"], TimeSpan.FromSeconds(30));
        Assert.True(found == 0 && python.Trim().Length > 0, "python3 is needed for the workers (test.sh installs it):\n" + python);
        PythonFolder = System.IO.Path.GetDirectoryName(python.Trim())!;
    }

    /// <summary>The executable.</summary>
    public string Path { get; }

    /// <summary>The folder of the python3 that <c>python3</c> runs.</summary>
    public string PythonFolder { get; }

    /// <summary>Where the server runs: workers.faas names workers/echo.py relative to it.</summary>
    public static string WorkingDirectory => AppContext.BaseDirectory;

    /// <summary>The environment of a server whose workers carry <paramref name="tag"/>.</summary>
    public Dictionary<string, string> Environment(string tag) => new()
    {
        [TokenVariable] = Token,
        [TagVariable] = tag,
        ["PATH"] = PythonFolder + ":" + System.Environment.GetEnvironmentVariable("PATH"),
    };

    /// <summary>The live (not zombie) processes whose command line holds the marker and whose environment holds <paramref name="tag"/>.</summary>
    public static int[] WorkerProcesses(string tag)
    {
        var found = new List<int>();
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(System.IO.Path.GetFileName(dir), out int pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(System.IO.Path.Combine(dir, "cmdline")).Contains(Marker, StringComparison.Ordinal)
                    && File.ReadAllText(System.IO.Path.Combine(dir, "environ")).Split('\0').Contains($"{TagVariable}={tag}")
                    && !File.ReadAllText(System.IO.Path.Combine(dir, "stat")).Contains(") Z ", StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile, or not ours to read.
            }
        }

        return [.. found];
    }
}
