using System.Collections;
using System.Text;
using AotFaas.Execution.Native;
using AotFaas.Functions;

namespace AotFaas.Execution;

/// <summary>
/// An environment block for spawned programs. A function's fixed block is built once and shared by
/// every run; <see cref="With"/> makes a block of its own for one run, adding the variables that describe
/// its request.
/// </summary>
public sealed unsafe class ProcessEnvironment : IDisposable
{
    /// <summary>
    /// The longest one variable may be, <c>NAME=value</c> in UTF-8 without its NUL: Linux refuses
    /// a longer string with E2BIG (MAX_ARG_STRLEN, 32 pages).
    /// </summary>
    public const int MaxVariableBytes = (128 * 1024) - 1;

    /// <summary>
    /// The most bytes the variables added for one run may take together, well inside the kernel's
    /// limit on arguments and environment (ARG_MAX, 2 MiB with the usual 8 MiB stack).
    /// </summary>
    public const int MaxAddedBytes = 512 * 1024;

    private readonly string[] _entries;
    private readonly HashSet<string> _names;
    private readonly NativeStringArray _block;

    /// <summary>A block of <paramref name="variables"/>, the first of each name kept.</summary>
    /// <param name="variables">The variables.</param>
    /// <param name="claimed">
    /// Names no request may add with <see cref="TryWith"/> even when the block does not set them: a name the
    /// manifest claims for the server's value (<c>pass-env</c>, PATH, HOME, LANG, TZ) stays unset when the
    /// server has none, rather than being filled by a header.
    /// </param>
    public ProcessEnvironment(IEnumerable<KeyValuePair<string, string>> variables, IEnumerable<string>? claimed = null)
    {
        var entries = new List<string>();
        _names = new HashSet<string>(StringComparer.Ordinal);
        foreach (KeyValuePair<string, string> variable in variables)
        {
            if (_names.Add(variable.Key))
            {
                entries.Add(variable.Key + "=" + variable.Value);
            }
        }

        foreach (string name in claimed ?? [])
        {
            _names.Add(name);
        }

        entries.Sort(StringComparer.Ordinal);
        _entries = [.. entries];
        _block = new NativeStringArray(_entries);
    }

    private ProcessEnvironment(string[] entries, HashSet<string> names)
    {
        _entries = entries;
        _names = names;
        _block = new NativeStringArray(entries);
    }

    internal byte** Pointer => _block.Pointer;

    /// <summary>The server variables every function sees, when the server has them.</summary>
    public static readonly IReadOnlyList<string> Inherited = ["PATH", "HOME", "LANG", "TZ"];

    /// <summary>PATH for functions when the server has none.</summary>
    public const string DefaultPath = "/usr/local/bin:/usr/bin:/bin";

    /// <summary>Whether the block sets or claims <paramref name="name"/>.</summary>
    public bool Contains(string name) => _names.Contains(name);

    /// <summary>
    /// A new block: this one's variables, then each of <paramref name="added"/> whose name this block does
    /// not set or claim already (the function's own settings win over anything a request brings), the first
    /// of each name only: no name is ever in the block twice, since C's getenv and Go's os.Getenv read the
    /// first and other readers the last. The caller disposes it. Returns false, with the reason, when a
    /// variable or all of them together would be too long for the kernel to start the program with.
    /// </summary>
    public bool TryWith(IReadOnlyList<KeyValuePair<string, string>> added, out ProcessEnvironment? environment, out string? tooLong)
    {
        environment = null;
        tooLong = null;
        var entries = new string[_entries.Length + added.Count];
        _entries.CopyTo(entries, 0);
        int count = _entries.Length;
        long total = 0;
        var seen = new HashSet<string>(added.Count, StringComparer.Ordinal);
        foreach (KeyValuePair<string, string> variable in added)
        {
            if (_names.Contains(variable.Key) || !seen.Add(variable.Key))
            {
                continue;
            }

            string entry = variable.Key + "=" + variable.Value;
            int bytes = Encoding.UTF8.GetByteCount(entry);
            if (bytes > MaxVariableBytes)
            {
                tooLong = $"{variable.Key} would be {bytes} bytes; one variable may hold at most {MaxVariableBytes}";
                return false;
            }

            total += bytes + 1;
            if (total > MaxAddedBytes)
            {
                tooLong = $"the request's variables would take more than {MaxAddedBytes} bytes";
                return false;
            }

            entries[count++] = entry;
        }

        Array.Resize(ref entries, count);
        environment = new ProcessEnvironment(entries, _names);
        return true;
    }

    /// <summary>
    /// What <paramref name="proc"/> sees: PATH, HOME, LANG and TZ from the server (PATH defaults to
    /// <see cref="DefaultPath"/>), then the server variables its <c>pass-env</c> names, then its
    /// <c>env</c> lines, later ones winning. Nothing else of the server's environment: no secret leaks by
    /// default, and the variable holding the function's <c>auth</c> secret never. Every name it might have
    /// set is claimed: no request variable takes it.
    /// </summary>
    public static ProcessEnvironment ForFunction(Proc proc, Func<string, string?> serverEnvironment)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal) { ["PATH"] = serverEnvironment("PATH") ?? DefaultPath };
        foreach (string name in Inherited.Concat(proc.PassEnv))
        {
            if (serverEnvironment(name) is string value && name != proc.AuthSecretVariable)
            {
                variables[name] = value;
            }
        }

        foreach (string entry in proc.Env)
        {
            int equals = entry.IndexOf('=', StringComparison.Ordinal);
            variables[entry[..equals]] = entry[(equals + 1)..];
        }

        IEnumerable<string> claimed = Inherited.Concat(proc.PassEnv);
        return new ProcessEnvironment(variables, proc.AuthSecretVariable is string secret ? claimed.Append(secret) : claimed);
    }

    /// <summary>The server's own environment, as it was at start-up.</summary>
    public static ProcessEnvironment FromCurrentProcess()
    {
        var variables = new List<KeyValuePair<string, string>>();
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            variables.Add(new KeyValuePair<string, string>((string)entry.Key, (string?)entry.Value ?? string.Empty));
        }

        return new ProcessEnvironment(variables);
    }

    public void Dispose() => _block.Dispose();
}
