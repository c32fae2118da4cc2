using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AotFaas.Generators.Tests;

/// <summary>
/// Editing C# must not parse the manifest again; editing the manifest must. (Every other test input is
/// also run twice by <see cref="GeneratorHarness.Generate"/>, which checks the second run is all cached.)
/// </summary>
public class IncrementalityTests
{
    private const string Manifest = "cat: cat\nwc: wc -l\n";

    [Fact]
    public void Editing_an_unrelated_cs_file_leaves_every_step_cached()
    {
        CSharpCompilation compilation = GeneratorHarness.Compilation("class A { }");
        GeneratorDriver driver = GeneratorHarness.Generate([new InMemoryText(GeneratorHarness.ManifestPath, Manifest)], compilation: compilation).Driver;

        driver = driver.RunGenerators(compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class B { }", new CSharpParseOptions(LanguageVersion.Preview))));

        GeneratorRunResult result = driver.GetRunResult().Results[0];
        Assert.All(Outputs(result, TrackingNames.Parse), reason => Assert.Equal(IncrementalStepRunReason.Cached, reason));
        Assert.All(Outputs(result, TrackingNames.Manifests), reason => Assert.Equal(IncrementalStepRunReason.Cached, reason));
        Assert.All(result.TrackedOutputSteps.SelectMany(step => step.Value).SelectMany(run => run.Outputs), output =>
            Assert.Equal(IncrementalStepRunReason.Cached, output.Reason));
    }

    [Fact]
    public void Changing_the_manifest_parses_it_again()
    {
        CSharpCompilation compilation = GeneratorHarness.Compilation("class A { }");
        var original = new InMemoryText(GeneratorHarness.ManifestPath, Manifest);
        GeneratorDriver driver = GeneratorHarness.Generate([original], compilation: compilation).Driver;

        driver = driver.ReplaceAdditionalText(original, new InMemoryText(GeneratorHarness.ManifestPath, Manifest + "tac: tac\n")).RunGenerators(compilation);

        GeneratorRunResult result = driver.GetRunResult().Results[0];
        Assert.Equal([IncrementalStepRunReason.Modified], Outputs(result, TrackingNames.Parse));
        Assert.Contains("\"tac\" => Tac", GeneratorHarness.Table(driver.GetRunResult()), StringComparison.Ordinal);
    }

    [Fact]
    public void Rewriting_the_manifest_with_the_same_text_changes_nothing_downstream()
    {
        CSharpCompilation compilation = GeneratorHarness.Compilation("class A { }");
        var original = new InMemoryText(GeneratorHarness.ManifestPath, Manifest);
        GeneratorDriver driver = GeneratorHarness.Generate([original], compilation: compilation).Driver;

        driver = driver.ReplaceAdditionalText(original, new InMemoryText(GeneratorHarness.ManifestPath, Manifest)).RunGenerators(compilation);

        GeneratorRunResult result = driver.GetRunResult().Results[0];
        Assert.Equal([IncrementalStepRunReason.Unchanged], Outputs(result, TrackingNames.Parse));
        Assert.All(Outputs(result, TrackingNames.Manifests), reason => Assert.Contains(reason, new[] { IncrementalStepRunReason.Unchanged, IncrementalStepRunReason.Cached }));
    }

    [Fact]
    public void The_value_check_finds_a_location_deep_inside_a_model()
    {
        var model = (Name: "f", Places: new[] { new KeyValuePair<string, object>("here", Location.None) });

        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => IncrementalityAssert.HoldsValuesOnly([model], "Test"));
        IncrementalityAssert.HoldsValuesOnly([GeneratorHarness.Parse("cat: cat\n  timeout: 2s\n")], "Test");
    }

    private static IncrementalStepRunReason[] Outputs(GeneratorRunResult result, string step)
        => result.TrackedSteps[step].SelectMany(run => run.Outputs).Select(output => output.Reason).ToArray();
}
