using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>
/// Where a function's program is. A bare name is looked up on PATH when the function first runs and
/// the answer kept, so each run execs one file instead of trying every PATH directory in turn (in the
/// child, while the server's thread waits for the exec). When the kept file stops working, it is
/// looked up again.
/// </summary>
public sealed class ExecutablePath(string executable, string? searchPath)
{
    private string? _resolved;

    /// <summary>The program as the manifest names it.</summary>
    public string Name { get; } = executable;

    /// <summary>The file to exec: a path with a '/', or null to let posix_spawnp search PATH.</summary>
    public string? Resolved
    {
        get
        {
            if (Name.Contains('/', StringComparison.Ordinal))
            {
                return Name;
            }

            return _resolved ??= Search();
        }
    }

    /// <summary>Forgets the kept file (it failed to exec), so the next run searches again.</summary>
    public void Forget() => _resolved = null;

    private string? Search()
    {
        foreach (string directory in (searchPath ?? ProcessEnvironment.DefaultPath).Split(':'))
        {
            // An empty PATH entry means the working directory; leave that case to posix_spawnp.
            if (directory.Length == 0)
            {
                return null;
            }

            string candidate = Path.Join(directory, Name);
            if (LibC.access(candidate, LibC.X_OK) == 0 && !Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
