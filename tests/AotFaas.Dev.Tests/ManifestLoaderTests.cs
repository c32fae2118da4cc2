using System.Collections.Immutable;
using System.Reflection;
using System.Text;
using AotFaas.Functions;

namespace AotFaas.Dev.Tests;

/// <summary>
/// The development server's manifest, loaded at run time, against what the build makes of it: the same table
/// (this assembly's <see cref="FunctionTable"/> was compiled from every-option.faas by the generator, as the
/// server's build compiles functions.faas) and the same diagnostic lines (taken from a real build's output).
/// </summary>
public sealed class ManifestLoaderTests
{
    private static readonly string EveryOption = Path.Combine(AppContext.BaseDirectory, "every-option.faas");

    private static LoadedManifest Load(string manifest, string path = "functions.faas")
        => new ManifestLoader(path).Load(Encoding.UTF8.GetBytes(manifest));

    [Fact]
    public void The_table_loaded_at_run_time_is_the_one_the_build_compiled_field_by_field()
    {
        LoadedManifest loaded = new ManifestLoader(EveryOption).Load(File.ReadAllBytes(EveryOption));

        Assert.Empty(loaded.Diagnostics);
        LoadedTable table = Assert.IsType<LoadedTable>(loaded.Table);
        Assert.Equal(FunctionTable.All.Select(proc => proc.FuncName), table.All.Select(proc => proc.FuncName));
        for (int i = 0; i < FunctionTable.All.Length; i++)
        {
            AssertSame(FunctionTable.All[i], table.All[i]);
            AssertSame(FunctionTable.GetProcByFuncName(FunctionTable.All[i].FuncName)!, table.Lookup(FunctionTable.All[i].FuncName)!);
        }

        Assert.Null(table.Lookup("nope"));
        Assert.Null(table.Lookup("PLAIN"));
        Assert.Equal(FunctionTable.RunsPrograms, table.RunsPrograms);
        Assert.Equal(FunctionTable.ProxiesHttp, table.ProxiesHttp);
        Assert.Equal(FunctionTable.TakesAsyncCalls, table.TakesAsyncCalls);
        Assert.True(table.TakesAsyncCalls);
    }

    [Theory]
    [InlineData("cat: cat\n", true, false, false)]
    [InlineData("web: ./web\n  mode: http\n", false, true, false)]
    [InlineData("web: ./web\n  mode: http\ncat: cat\n", true, true, false)]
    [InlineData("cat: cat\n  async: false\n", true, false, false)]
    [InlineData("cat: cat\n  async: true\n", true, false, true)]
    [InlineData("web: ./web\n  mode: http\n  async: true\ncat: cat\n", true, true, true)]
    public void The_loaded_table_says_which_ways_of_running_the_manifest_uses(string manifest, bool runsPrograms, bool proxiesHttp, bool takesAsyncCalls)
    {
        LoadedTable table = Assert.IsType<LoadedTable>(Load(manifest).Table);

        Assert.Equal((runsPrograms, proxiesHttp, takesAsyncCalls), (table.RunsPrograms, table.ProxiesHttp, table.TakesAsyncCalls));
    }

    [Fact]
    public void Every_property_of_Proc_is_set_by_some_function_of_every_option_faas()
    {
        // Otherwise the comparison above would not see a property that the loaded table got wrong.
        var defaults = new Proc("x", "y");
        foreach (PropertyInfo property in typeof(Proc).GetProperties().Where(p => p.Name is not (nameof(Proc.FuncName) or nameof(Proc.Executable) or nameof(Proc.CommandLine))))
        {
            Assert.True(
                FunctionTable.All.Any(proc => !Same(property.GetValue(proc), property.GetValue(defaults))),
                $"no function of every-option.faas sets {property.Name}: add one");
        }
    }

    [Fact]
    public void A_broken_manifest_gives_the_lines_the_build_prints_and_no_table()
    {
        LoadedManifest loaded = Load("cat: cat\n  content-typ: text/plain\nok: true\nbad: \"unterminated\ncat: echo again\n");

        // What 'dotnet build -p:FaasManifest=functions.faas' printed, less MSBuild's ' [project]' at the end.
        Assert.Equal(
            [
                "functions.faas(2,3): error FAAS006: Unknown option 'content-typ'; known options: content-type, timeout, max-inflight, max-queue, max-body, max-output, env, pass-env, workdir, methods, request-env, pass-authorization, response, auth, log-stderr, mode, replicas, ready, idle-stop, start-timeout, async, async-queue",
                "functions.faas(4,6): error FAAS005: Unterminated double quote: close it on the same line",
                "functions.faas(5,1): error FAAS003: Function 'cat' is already defined on line 1; function names must be unique",
            ],
            loaded.Diagnostics.ToArray());
        Assert.Null(loaded.Table);
    }

    [Fact]
    public void The_path_is_the_one_given()
    {
        LoadedManifest loaded = Load("bad\n", "manifests/../my functions.faas");

        Assert.StartsWith("manifests/../my functions.faas(1,1): error FAAS001: Line not understood: ", Assert.Single(loaded.Diagnostics), StringComparison.Ordinal);
    }

    [Fact]
    public void Warnings_print_as_the_build_prints_them_and_do_not_block()
    {
        LoadedManifest loaded = Load("pipe: echo a | b\n");

        Assert.Equal(
            ["functions.faas(1,14): warning FAAS014: '|' is passed to the program as a literal argument: no shell runs the command line; write sh -c '...' to use a shell on purpose"],
            loaded.Diagnostics.ToArray());
        Proc pipe = Assert.Single(Assert.IsType<LoadedTable>(loaded.Table).All);
        Assert.Equal(["a", "|", "b"], pipe.Argv.ToArray());
    }

    [Fact]
    public void An_empty_manifest_is_a_warning_and_an_empty_table()
    {
        LoadedManifest loaded = Load("# nothing here\n");

        Assert.Equal(["functions.faas(1,1): warning FAAS010: The manifest defines no functions: every request will get 404"], loaded.Diagnostics.ToArray());
        LoadedTable table = Assert.IsType<LoadedTable>(loaded.Table);
        Assert.Empty(table.All);
        Assert.False(table.RunsPrograms);
        Assert.False(table.ProxiesHttp);
        Assert.False(table.TakesAsyncCalls);
    }

    [Fact]
    public void A_missing_manifest_is_the_builds_FAAS009_naming_the_full_path()
    {
        LoadedManifest loaded = new ManifestLoader("/nonexistent/functions.faas").Load(content: null);

        // The build prints this line behind MSBuild's 'CSC : ' (a diagnostic with no place in a file).
        Assert.Equal(
            ["error FAAS009: No function manifest found at '/nonexistent/functions.faas': create functions.faas, or pass another one with ./publish.sh MANIFEST or -p:FaasManifest=PATH"],
            loaded.Diagnostics.ToArray());
        Assert.Null(loaded.Table);
    }

    [Fact]
    public void Only_the_manifest_advice_stays_a_warning_as_in_the_servers_build()
        => Assert.Equal(["FAAS010", "FAAS014"], ManifestLoader.ManifestWarnings);

    [Fact]
    public void Each_load_is_its_own_collectible_assembly()
    {
        LoadedTable first = Load("f: echo one\n").Table!;
        LoadedTable second = Load("f: echo two\n").Table!;

        Assert.True(first.Context.IsCollectible);
        Assert.NotSame(first.Context, second.Context);
        Assert.Equal(["one"], first.Lookup("f")!.Argv.ToArray());
        Assert.Equal(["two"], second.Lookup("f")!.Argv.ToArray());
    }

    private static void AssertSame(Proc built, Proc loaded)
    {
        foreach (PropertyInfo property in typeof(Proc).GetProperties())
        {
            object? expected = property.GetValue(built);
            object? actual = property.GetValue(loaded);
            Assert.True(Same(expected, actual), $"{built.FuncName}.{property.Name}: the build has '{Show(expected)}', the loaded table '{Show(actual)}'");
        }
    }

    private static bool Same(object? a, object? b) => (a, b) switch
    {
        (ImmutableArray<string> x, ImmutableArray<string> y) => x.SequenceEqual(y),
        _ => Equals(a, b),
    };

    private static string? Show(object? value) => value is ImmutableArray<string> list ? "[" + string.Join(", ", list) + "]" : value?.ToString();
}
