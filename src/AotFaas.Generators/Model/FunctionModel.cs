namespace AotFaas.Generators.Model
{
    /// <summary>One function of the manifest: a name, the command it runs and its options.</summary>
    /// <param name="Name">The name used in the URL, <c>POST /function/{name}</c>.</param>
    /// <param name="Executable">The program: a bare name looked up on PATH at run time, or a path.</param>
    /// <param name="Argv">The arguments after the program, already split into words.</param>
    /// <param name="CommandLine">The command as written in the manifest, for listings.</param>
    /// <param name="Line">One-based line of the function in the manifest.</param>
    /// <param name="Options">The function's options.</param>
    internal sealed record FunctionModel(
        string Name,
        string Executable,
        EquatableArray<string> Argv,
        string CommandLine,
        int Line,
        FunctionOptions Options);
}
