using System.Collections.Immutable;
using System.Globalization;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace AotFaas.Generators.Tests;

/// <summary>Runs <see cref="ManifestGenerator"/> through a real <see cref="CSharpGeneratorDriver"/> on in-memory files.</summary>
internal static class GeneratorHarness
{
    public const string ManifestPath = "/repo/functions.faas";

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToImmutableArray());

    public static CSharpCompilation Compilation(params string[] sources) => CSharpCompilation.Create(
        "AotFaas.Under.Test",
        sources.Select(source => CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Preview))),
        References.Value,
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver Driver(IEnumerable<AdditionalText> files, TestOptionsProvider? options = null) => CSharpGeneratorDriver.Create(
        [new ManifestGenerator().AsSourceGenerator()],
        files,
        new CSharpParseOptions(LanguageVersion.Preview),
        options ?? new TestOptionsProvider(),
        new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator over one manifest; returns the run and the compilation with the generated code.</summary>
    public static (GeneratorDriverRunResult Run, Compilation Output) Run(string manifest, string path = ManifestPath)
    {
        GeneratorDriver driver = Driver([new InMemoryText(path, manifest)]);
        driver = driver.RunGeneratorsAndUpdateCompilation(Compilation(), out Compilation output, out _);
        return (driver.GetRunResult(), output);
    }

    /// <summary>Parses <paramref name="manifest"/> alone, without the generator around it.</summary>
    public static AotFaas.Generators.Model.ManifestModel Parse(string manifest)
        => AotFaas.Generators.Parsing.ManifestParser.Parse(ManifestPath, SourceText.From(manifest), CancellationToken.None);

    /// <summary>The options of a function <c>f: cat</c> with <paramref name="optionLines"/>, which must be free of mistakes.</summary>
    public static AotFaas.Generators.Model.FunctionOptions Options(string optionLines)
    {
        AotFaas.Generators.Model.ManifestModel model = Parse("f: cat\n" + optionLines);
        Assert.Empty(model.Diagnostics);
        return Assert.Single(model.Functions).Options;
    }

    /// <summary>The generated function table of a run, or null when none was generated.</summary>
    public static string? Table(GeneratorDriverRunResult run)
        => run.GeneratedTrees.SingleOrDefault(tree => tree.FilePath.EndsWith("FunctionTable.g.cs", StringComparison.Ordinal))?.ToString();

    /// <summary>The diagnostics of a run as <c>(line,col): ID</c>, the form MSBuild prints.</summary>
    public static string[] Positions(GeneratorDriverRunResult run) => run.Diagnostics
        .Select(Position)
        .ToArray();

    public static string Position(Diagnostic diagnostic)
    {
        if (diagnostic.Location == Location.None)
        {
            return diagnostic.Id;
        }

        LinePosition start = diagnostic.Location.GetLineSpan().StartLinePosition;
        return string.Create(CultureInfo.InvariantCulture, $"({start.Line + 1},{start.Character + 1}): {diagnostic.Id}");
    }
}

/// <summary>An additional file held in memory.</summary>
internal sealed class InMemoryText(string path, string text) : AdditionalText
{
    private readonly SourceText _text = SourceText.From(text);

    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}

/// <summary>Analyzer config options as MSBuild passes them: global properties and per-file metadata.</summary>
internal sealed class TestOptionsProvider(
    IReadOnlyDictionary<string, string>? global = null,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? perFile = null) : AnalyzerConfigOptionsProvider
{
    public override AnalyzerConfigOptions GlobalOptions { get; } = new DictionaryOptions(global ?? new Dictionary<string, string>());

    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => new DictionaryOptions(new Dictionary<string, string>());

    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile)
        => new DictionaryOptions(perFile is not null && perFile.TryGetValue(textFile.Path, out var values) ? values : new Dictionary<string, string>());

    private sealed class DictionaryOptions(IReadOnlyDictionary<string, string> values) : AnalyzerConfigOptions
    {
        public override bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
            => values.TryGetValue(key, out value);
    }
}
