namespace AotFaas.EndToEnd;

/// <summary>
/// A binary of its own for the asynchronous-call tests, published once from async.faas with publish.sh, and what its
/// functions need: the bearer secret of its <c>guarded</c> function, and a folder per server (E2E_ASYNC_DIR) where
/// the programs leave their marks and by which the processes a server started are found.
/// </summary>
public sealed class AsyncBinary
{
    public const string TokenVariable = "E2E_ASYNC_TOKEN";
    public const string Token = "e2e-async-token";

    /// <summary>The folder of one server, passed to the functions that name it in pass-env.</summary>
    public const string DirVariable = "E2E_ASYNC_DIR";

    public AsyncBinary()
    {
        string output = System.IO.Path.Combine(Repo.Root, "artifacts", "e2e", "async");
        (int exitCode, string log) = Repo.Publish(System.IO.Path.Combine(AppContext.BaseDirectory, "async.faas"), "-o", output);
        Assert.True(exitCode == 0, "publish.sh failed:\n" + log);
        Path = System.IO.Path.Combine(output, "aotfaas");
    }

    /// <summary>The executable.</summary>
    public string Path { get; }

    /// <summary>The environment of a server whose functions work in <paramref name="dir"/>.</summary>
    public static Dictionary<string, string> Environment(string dir) => new()
    {
        [TokenVariable] = Token,
        [DirVariable] = dir,
    };

    /// <summary>The live (not zombie) processes whose environment holds E2E_ASYNC_DIR=<paramref name="dir"/>, the server excepted.</summary>
    public static int[] ProgramProcesses(string dir, int server)
    {
        var found = new List<int>();
        foreach (string entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(System.IO.Path.GetFileName(entry), out int pid) || pid == server)
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(System.IO.Path.Combine(entry, "environ")).Split('\0').Contains($"{DirVariable}={dir}")
                    && !File.ReadAllText(System.IO.Path.Combine(entry, "stat")).Contains(") Z ", StringComparison.Ordinal))
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
