namespace AotFaas.Generators.Model
{
    /// <summary>The result of parsing one manifest: its functions, or the diagnostics that stop generation.</summary>
    /// <param name="Path">The manifest's path, as the build gave it.</param>
    /// <param name="Functions">The functions, in manifest order.</param>
    /// <param name="Diagnostics">Errors and warnings, in manifest order.</param>
    internal sealed record ManifestModel(
        string Path,
        EquatableArray<FunctionModel> Functions,
        EquatableArray<DiagnosticInfo> Diagnostics);
}
