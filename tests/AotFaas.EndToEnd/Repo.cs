using System.Diagnostics;
using System.Text;

namespace AotFaas.EndToEnd;

/// <summary>The repository this suite runs in, and the scripts a user runs.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string E2eManifest => Path.Combine(AppContext.BaseDirectory, "e2e.faas");

    /// <summary>Runs <c>publish.sh</c> with <paramref name="args"/>; returns its exit code and everything it printed.</summary>
    public static (int ExitCode, string Output) Publish(params string[] args)
        => Run(Path.Combine(Root, "publish.sh"), args, TimeSpan.FromMinutes(10));

    public static (int ExitCode, string Output) Run(string program, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Root };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // The test host runs inside 'dotnet test': keep its MSBuild settings out of the nested build,
        // and leave no build server running behind it.
        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["AOTFAAS_NO_BUILD_SERVERS"] = "1";
        foreach ((string key, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using Process process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not finish in {timeout}:\n{output}");
        }

        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    private static string FindRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "AotFaas.sln")))
            {
                return dir;
            }
        }

        throw new InvalidOperationException("AotFaas.sln not found above " + AppContext.BaseDirectory);
    }
}
