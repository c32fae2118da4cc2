using System.Collections.Immutable;
using System.Globalization;
using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using AotFaas.Functions;
using AotFaas.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace AotFaas.Dev;

/// <summary>
/// Compiles a manifest at run time as the build does: the real <see cref="ManifestGenerator"/> runs through a
/// <see cref="CSharpGeneratorDriver"/> with the manifest as its additional file and the analyzer options the
/// server's project gives it; its diagnostics are what the compiler would print (same severities, same text, by
/// Roslyn's own formatter); and the <c>FunctionTable</c> it emits is compiled in memory against this assembly's
/// <see cref="Proc"/> and loaded into a collectible <see cref="AssemblyLoadContext"/>. No second mapping from
/// manifest to functions exists: an option a future generator emits is served here as it is in production.
/// </summary>
public sealed class ManifestLoader
{
    /// <summary>The type the generator emits, and its members the server needs.</summary>
    private const string TableType = "AotFaas.Functions.FunctionTable";

    /// <summary>What the table is compiled against: the runtime's core, immutable collections, and <see cref="Proc"/>'s assembly. Read once.</summary>
    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        string[] wanted = ["System.Private.CoreLib", "System.Runtime", "System.Collections.Immutable"];
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(System.IO.Path.PathSeparator)
            .Where(path => wanted.Contains(System.IO.Path.GetFileNameWithoutExtension(path), StringComparer.Ordinal));
        return [.. paths.Append(typeof(Proc).Assembly.Location).Distinct(StringComparer.Ordinal).Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))];
    });

    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    private readonly string _path;
    private readonly ManifestOptions _options;
    private readonly CSharpCompilationOptions _compilationOptions;
    private int _loads;

    /// <param name="path">The manifest, as the user named it: diagnostics show this path.</param>
    public ManifestLoader(string path)
    {
        _path = path;
        _options = new ManifestOptions(System.IO.Path.GetFullPath(path));

        // As the server's project compiles: warnings are errors (TreatWarningsAsErrors) except the manifest's advice
        // (FaasManifestWarnings, its WarningsNotAsErrors) and the SDK's default NoWarn.
        var specific = new Dictionary<string, ReportDiagnostic> { ["CS1701"] = ReportDiagnostic.Suppress, ["CS1702"] = ReportDiagnostic.Suppress };
        foreach (string id in ManifestWarnings)
        {
            specific[id] = ReportDiagnostic.Warn;
        }

        _compilationOptions = new CSharpCompilationOptions(
            OutputKind.DynamicallyLinkedLibrary,
            optimizationLevel: OptimizationLevel.Release,
            nullableContextOptions: NullableContextOptions.Enable,
            generalDiagnosticOption: ReportDiagnostic.Error,
            specificDiagnosticOptions: specific,
            concurrentBuild: false,
            deterministic: true);
    }

    /// <summary>The manifest as the user named it.</summary>
    public string Path => _path;

    /// <summary>The ids of the manifest warnings that stay warnings in the server's build.</summary>
    public static IReadOnlyList<string> ManifestWarnings { get; } = (typeof(ManifestLoader).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .SingleOrDefault(attribute => attribute.Key == "FaasManifestWarnings")?.Value ?? string.Empty)
        .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>
    /// Compiles <paramref name="content"/> (null: the file is missing) as the manifest; <paramref name="readable"/>
    /// false when the file is there but could not be read.
    /// </summary>
    public LoadedManifest Load(byte[]? content, bool readable = true)
    {
        ImmutableArray<AdditionalText> texts = content is null && readable
            ? []
            : [new ManifestText(_path, content is null ? null : Decode(content))];
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            [new ManifestGenerator().AsSourceGenerator()],
            texts,
            ParseOptions,
            _options);
        CSharpCompilation input = CSharpCompilation.Create(
            string.Create(CultureInfo.InvariantCulture, $"AotFaas.Dev.FunctionTable{Interlocked.Increment(ref _loads)}"),
            [],
            References.Value,
            _compilationOptions);
        driver.RunGeneratorsAndUpdateCompilation(input, out Compilation output, out ImmutableArray<Diagnostic> generatorDiagnostics);

        List<Diagnostic> diagnostics = [.. generatorDiagnostics];
        if (diagnostics.Exists(IsError) || !output.SyntaxTrees.Any())
        {
            return new LoadedManifest(Format(diagnostics), content, null);
        }

        using var image = new MemoryStream();
        Microsoft.CodeAnalysis.Emit.EmitResult emitted = output.Emit(image);
        diagnostics.AddRange(emitted.Diagnostics.Where(diagnostic => diagnostic.Severity is DiagnosticSeverity.Warning or DiagnosticSeverity.Error));
        if (!emitted.Success)
        {
            return new LoadedManifest(Format(diagnostics), content, null);
        }

        image.Position = 0;
        var context = new AssemblyLoadContext(output.AssemblyName, isCollectible: true);
        Type table = context.LoadFromStream(image).GetType(TableType, throwOnError: true)!;
        var functions = (ImmutableArray<Proc>)table.GetProperty("All")!.GetValue(null)!;
        Func<string, Proc?> lookup = table.GetMethod("GetProcByFuncName")!.CreateDelegate<Func<string, Proc?>>();
        bool runsPrograms = (bool)table.GetField("RunsPrograms")!.GetRawConstantValue()!;
        bool proxiesHttp = (bool)table.GetField("ProxiesHttp")!.GetRawConstantValue()!;
        bool takesAsyncCalls = (bool)table.GetField("TakesAsyncCalls")!.GetRawConstantValue()!;
        return new LoadedManifest(Format(diagnostics), content, new LoadedTable(functions, lookup, runsPrograms, proxiesHttp, takesAsyncCalls, context));
    }

    private static bool IsError(Diagnostic diagnostic) => diagnostic.Severity == DiagnosticSeverity.Error;

    /// <summary>Each diagnostic as the compiler prints it: <c>PATH(LINE,COL): error FAASnnn: MESSAGE</c>.</summary>
    private static ImmutableArray<string> Format(IEnumerable<Diagnostic> diagnostics)
        => [.. diagnostics.Select(diagnostic => CSharpDiagnosticFormatter.Instance.Format(diagnostic, CultureInfo.InvariantCulture))];

    /// <summary>
    /// The file's text as the compiler reads an additional file: a byte order mark says the encoding, else UTF-8,
    /// and bytes that are not UTF-8 are read as Latin-1 rather than replaced.
    /// </summary>
    private static SourceText Decode(byte[] content)
    {
        try
        {
            return SourceText.From(new MemoryStream(content, writable: false), new UTF8Encoding(false, throwOnInvalidBytes: true));
        }
        catch (DecoderFallbackException)
        {
            return SourceText.From(new MemoryStream(content, writable: false), Encoding.Latin1);
        }
    }

    /// <summary>The manifest file among the additional files; no text when it could not be read.</summary>
    private sealed class ManifestText(string path, SourceText? text) : AdditionalText
    {
        public override string Path { get; } = path;

        public override SourceText? GetText(CancellationToken cancellationToken = default) => text;
    }

    /// <summary>What the server's project gives the generator (AotFaas.csproj): the manifest's marker metadata and its full path.</summary>
    private sealed class ManifestOptions(string fullPath) : AnalyzerConfigOptionsProvider
    {
        private static readonly Options None = new(ImmutableDictionary<string, string>.Empty);
        private static readonly Options Manifest = new(ImmutableDictionary<string, string>.Empty.Add(ManifestGenerator.ManifestMetadataKey, "true"));

        public override AnalyzerConfigOptions GlobalOptions { get; } = new Options(ImmutableDictionary<string, string>.Empty.Add(ManifestGenerator.ManifestPropertyKey, fullPath));

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => None;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Manifest;

        private sealed class Options(ImmutableDictionary<string, string> values) : AnalyzerConfigOptions
        {
            public override bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
                => values.TryGetValue(key, out value);
        }
    }
}

/// <summary>What loading a manifest gave.</summary>
/// <param name="Diagnostics">Each diagnostic as the compiler prints it, in the order it reports them.</param>
/// <param name="Content">The bytes compiled (null: the file was missing or unreadable).</param>
/// <param name="Table">The functions, or null when there are errors.</param>
public sealed record LoadedManifest(ImmutableArray<string> Diagnostics, byte[]? Content, LoadedTable? Table);

/// <summary>The generated <c>FunctionTable</c> of a manifest, loaded.</summary>
/// <param name="All">Its <c>All</c>: every function, in manifest order.</param>
/// <param name="Lookup">Its <c>GetProcByFuncName</c>.</param>
/// <param name="RunsPrograms">Its <c>RunsPrograms</c>: some function is <c>mode: exec</c>.</param>
/// <param name="ProxiesHttp">Its <c>ProxiesHttp</c>: some function is <c>mode: http</c>.</param>
/// <param name="TakesAsyncCalls">Its <c>TakesAsyncCalls</c>: some function is <c>async: true</c>.</param>
/// <param name="Context">Where it is loaded; unload it once it is no longer served.</param>
public sealed record LoadedTable(ImmutableArray<Proc> All, Func<string, Proc?> Lookup, bool RunsPrograms, bool ProxiesHttp, bool TakesAsyncCalls, AssemblyLoadContext Context);
