using System.Collections.Immutable;
using System.Globalization;
using AotFaas.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace AotFaas.Generators.Tests;

/// <summary>
/// Runs <see cref="ManifestGenerator"/> through a real <see cref="CSharpGeneratorDriver"/> on in-memory files.
/// Every test input goes through <see cref="Generate"/>, which also checks that the generator is incremental.
/// </summary>
internal static class GeneratorHarness
{
    public const string ManifestPath = "/repo/functions.faas";

    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Preview);

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToImmutableArray());

    /// <summary>
    /// What the server compiles the table with: its implicit usings (ImplicitUsings=enable) and its Proc
    /// and enums, embedded from src/AotFaas/Functions by the csproj.
    /// </summary>
    private static readonly Lazy<ImmutableArray<SyntaxTree>> ServerSources = new(() =>
    {
        const string ImplicitUsings = """
            global using System;
            global using System.Collections.Generic;
            global using System.IO;
            global using System.Linq;
            global using System.Net.Http;
            global using System.Threading;
            global using System.Threading.Tasks;
            """;
        var assembly = typeof(GeneratorHarness).Assembly;
        var trees = assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith("ServerSource/", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(name =>
            {
                using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
                return CSharpSyntaxTree.ParseText(reader.ReadToEnd(), ParseOptions, path: name);
            });
        return [CSharpSyntaxTree.ParseText(ImplicitUsings, ParseOptions, path: "ImplicitUsings.cs"), .. trees];
    });

    /// <summary>A compilation of the server's Proc and <paramref name="sources"/>, ready for the generated table.</summary>
    public static CSharpCompilation Compilation(params string[] sources) => CSharpCompilation.Create(
        "AotFaas.Under.Test",
        ServerSources.Value.Concat(sources.Select(source => CSharpSyntaxTree.ParseText(source, ParseOptions))),
        References.Value,
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    /// <summary>
    /// Runs the generator over <paramref name="files"/>; then runs it again over the same input and checks,
    /// as NetEscapades does for every test, that the second run is all cached and that no step holds a
    /// compilation, symbol, syntax node or location (<see cref="IncrementalityAssert"/>). Returns the driver
    /// after the first run (for tests that go on editing), its result, and the compilation with the output.
    /// </summary>
    public static (GeneratorDriver Driver, GeneratorDriverRunResult Run, Compilation Output) Generate(
        IEnumerable<AdditionalText> files, TestOptionsProvider? options = null, CSharpCompilation? compilation = null)
    {
        CSharpCompilation input = compilation ?? Compilation();
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            [new ManifestGenerator().AsSourceGenerator()],
            files,
            ParseOptions,
            options ?? new TestOptionsProvider(),
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
        driver = driver.RunGeneratorsAndUpdateCompilation(input, out Compilation output, out _);

        GeneratorDriverRunResult again = driver.RunGenerators(input.Clone()).GetRunResult();
        IncrementalityAssert.SecondRunIsCached(driver.GetRunResult(), again);
        return (driver, driver.GetRunResult(), output);
    }

    /// <summary>Runs the generator over one manifest; returns the run and the compilation with the generated code.</summary>
    public static (GeneratorDriverRunResult Run, Compilation Output) Run(string manifest, string path = ManifestPath)
    {
        (_, GeneratorDriverRunResult run, Compilation output) = Generate([new InMemoryText(path, manifest)]);
        return (run, output);
    }

    /// <summary>The model the generator's parse step makes of <paramref name="manifest"/>.</summary>
    public static ManifestModel Parse(string manifest)
    {
        GeneratorRunResult result = Assert.Single(Generate([new InMemoryText(ManifestPath, manifest)]).Run.Results);
        IncrementalGeneratorRunStep parse = Assert.Single(result.TrackedSteps[TrackingNames.Parse]);
        return Assert.IsType<ManifestModel>(Assert.Single(parse.Outputs).Value);
    }

    /// <summary>The options of a function <c>f: cat</c> with <paramref name="optionLines"/>, which must be free of mistakes.</summary>
    public static FunctionOptions Options(string optionLines)
    {
        ManifestModel model = Parse("f: cat\n" + optionLines);
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
