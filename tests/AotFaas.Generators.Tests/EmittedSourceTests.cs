using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;

namespace AotFaas.Generators.Tests;

/// <summary>The generated C#: compared verbatim with a checked-in file, and compiled.</summary>
public class EmittedSourceTests
{
    /// <summary>Exercises identifiers (dashes, dots, digits, collisions, reserved names) and literal escaping.</summary>
    private const string Manifest = """
        # sample
        cat: cat
        decodebase64: base64 -d
          content-type: application/octet-stream
        greet: sh -c 'printf "hello, %s" "$(cat)"'
          content-type: text/plain; charset=utf-8
        word-count: wc -w
        word_count: wc -w
        2fa: echo "tab\there" 'back\slash' "<xml & stuff>"
        all: echo all
          timeout: 1500ms
          max-inflight: 3
          max-queue: 0
          max-body: 64KiB
          max-output: 1MiB
          env: GREETING=hello "world"
          env: EMPTY=
          pass-env: TZ, LANG
          workdir: /srv/app
        v1.2_beta: printf 'café \u00e9\n'
        """;

    [Fact]
    public void The_generated_table_matches_the_checked_in_file()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run(Manifest).Run;

        Assert.Empty(run.Diagnostics);
        AssertMatchesExpectedFile("FunctionTable.g.cs", GeneratorHarness.Table(run)!);
    }

    [Fact]
    public void The_generated_Proc_type_matches_the_checked_in_file()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run(Manifest).Run;

        AssertMatchesExpectedFile("Proc.g.cs", run.GeneratedTrees.Single(tree => tree.FilePath.EndsWith("Proc.g.cs", StringComparison.Ordinal)).ToString());
    }

    [Fact]
    public void The_Proc_type_is_there_even_when_the_manifest_has_errors_so_only_manifest_errors_show()
    {
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run("cat: 'cat\n");

        Assert.Equal("FAAS005", Assert.Single(run.Diagnostics).Id);
        Assert.NotNull(output.GetTypeByMetadataName("AotFaas.Functions.Proc"));
        Assert.Null(output.GetTypeByMetadataName("AotFaas.Functions.FunctionTable"));
    }

    [Fact]
    public void The_generated_table_compiles_without_warnings()
    {
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run(Manifest);

        Assert.Empty(run.Diagnostics);
        Assert.DoesNotContain(output.GetDiagnostics(), d => d.Severity >= DiagnosticSeverity.Warning);
    }

    [Fact]
    public void The_generated_switch_finds_each_function_and_nothing_else()
    {
        (_, Compilation output) = GeneratorHarness.Run("cat: cat\nwc: wc -l\n  content-type: text/plain\nWC: wc\n");
        using var image = new MemoryStream();
        Assert.True(output.Emit(image).Success);

        var context = new System.Runtime.Loader.AssemblyLoadContext("generated", isCollectible: true);
        try
        {
            image.Position = 0;
            Type table = context.LoadFromStream(image).GetType("AotFaas.Functions.FunctionTable")!;
            object? Lookup(string name) => table.GetMethod("GetProcByFuncName")!.Invoke(null, [name]);
            string? Property(object? proc, string name) => proc?.GetType().GetProperty(name)!.GetValue(proc)?.ToString();

            Assert.Equal("wc", Property(Lookup("wc"), "Executable"));
            Assert.Equal("text/plain", Property(Lookup("wc"), "ContentType"));
            Assert.Equal("WC", Property(Lookup("WC"), "FuncName"));
            Assert.Equal("wc -l", Property(Lookup("wc"), "CommandLine"));
            Assert.Null(Lookup("Cat"));
            Assert.Null(Lookup("nope"));
            Assert.Null(Lookup(""));
        }
        finally
        {
            context.Unload();
        }
    }

    [Fact]
    public void Nothing_is_generated_when_the_manifest_has_an_error()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run("cat: cat\nwc: 'wc\n").Run;

        Assert.NotEmpty(run.Diagnostics);
        Assert.Null(GeneratorHarness.Table(run));
    }

    /// <summary>Compares with a file under Expected/; AOTFAAS_UPDATE_EXPECTED=1 rewrites the file instead.</summary>
    private static void AssertMatchesExpectedFile(string name, string actual)
    {
        string path = ExpectedFile(name);
        if (Environment.GetEnvironmentVariable("AOTFAAS_UPDATE_EXPECTED") == "1")
        {
            File.WriteAllText(path, actual);
        }

        Assert.Equal(File.ReadAllText(path), actual);
    }

    private static string ExpectedFile(string name, [CallerFilePath] string thisFile = "")
        => Path.Combine(Path.GetDirectoryName(thisFile)!, "Expected", name);
}
