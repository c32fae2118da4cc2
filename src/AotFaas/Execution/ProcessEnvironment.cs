using System.Collections;
using AotFaas.Execution.Native;
using AotFaas.Functions;

namespace AotFaas.Execution;

/// <summary>
/// An environment block for spawned programs, built once and shared by every run that uses it.
/// </summary>
public sealed unsafe class ProcessEnvironment
{
    private readonly NativeStringArray _block;

    public ProcessEnvironment(IEnumerable<KeyValuePair<string, string>> variables)
    {
        var entries = new List<string>();
        foreach (KeyValuePair<string, string> variable in variables)
        {
            entries.Add(variable.Key + "=" + variable.Value);
        }

        entries.Sort(StringComparer.Ordinal);
        _block = new NativeStringArray(entries.ToArray());
    }

    internal byte** Pointer => _block.Pointer;

    /// <summary>The server variables every function sees, when the server has them.</summary>
    public static readonly IReadOnlyList<string> Inherited = ["PATH", "HOME", "LANG", "TZ"];

    /// <summary>PATH for functions when the server has none.</summary>
    public const string DefaultPath = "/usr/local/bin:/usr/bin:/bin";

    /// <summary>
    /// What <paramref name="proc"/> sees: PATH, HOME, LANG and TZ from the server (PATH defaults to
    /// <see cref="DefaultPath"/>), then the server variables its <c>pass-env</c> names, then its
    /// <c>env</c> lines, later ones winning. Nothing else of the server's environment: no secret leaks by default.
    /// </summary>
    public static ProcessEnvironment ForFunction(Proc proc, Func<string, string?> serverEnvironment)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal) { ["PATH"] = serverEnvironment("PATH") ?? DefaultPath };
        foreach (string name in Inherited.Concat(proc.PassEnv))
        {
            if (serverEnvironment(name) is string value)
            {
                variables[name] = value;
            }
        }

        foreach (string entry in proc.Env)
        {
            int equals = entry.IndexOf('=', StringComparison.Ordinal);
            variables[entry[..equals]] = entry[(equals + 1)..];
        }

        return new ProcessEnvironment(variables);
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
}
