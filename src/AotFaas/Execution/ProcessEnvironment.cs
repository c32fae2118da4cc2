using System.Collections;
using AotFaas.Execution.Native;

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
        Variables = entries;
        _block = new NativeStringArray(entries.ToArray());
    }

    /// <summary>The entries, <c>NAME=value</c>, sorted.</summary>
    public IReadOnlyList<string> Variables { get; }

    internal byte** Pointer => _block.Pointer;

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
