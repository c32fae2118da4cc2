using System.Globalization;
using AotFaas.Generators.Model;
using Microsoft.CodeAnalysis;

namespace AotFaas.Generators.Tests;

/// <summary>
/// <c>async</c> and <c>async-queue</c>: values accepted, every bad value a FAAS008 at the value, <c>async-queue</c>
/// without <c>async: true</c> FAAS019 at its key whichever line comes first, what the table gets, and
/// <c>FunctionTable.TakesAsyncCalls</c>.
/// </summary>
public class AsyncOptionTests
{
    private const string Async = "  async: true\n";

    private static FunctionOptions Options(string optionLines) => GeneratorHarness.Options(optionLines);

    private static string Message(Diagnostic diagnostic) => diagnostic.GetMessage(CultureInfo.InvariantCulture);

    /// <summary>The one diagnostic of <paramref name="manifest"/>, at <paramref name="position"/>; no table is generated.</summary>
    private static Diagnostic Only(string manifest, string position)
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run(manifest).Run;

        Assert.Equal([position], GeneratorHarness.Positions(run));
        Assert.Null(GeneratorHarness.Table(run));
        return run.Diagnostics[0];
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("false", false)]
    public void Async_takes_true_or_false(string value, bool takesAsync)
        => Assert.Equal(takesAsync, Options($"  async: {value}   # comment\n").Async);

    [Fact]
    public void Unset_they_are_left_to_the_server()
    {
        FunctionOptions options = Options(string.Empty);

        Assert.Null(options.Async);
        Assert.Null(options.AsyncQueue);
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData("1000", 1000)]
    [InlineData("1000000", 1000000)]
    public void Async_queue_goes_from_1_to_a_million(string value, int queue)
    {
        FunctionOptions options = Options(Async + $"  async-queue: {value}\n");

        Assert.Equal(true, options.Async);
        Assert.Equal(queue, options.AsyncQueue);
    }

    [Fact]
    public void Async_queue_may_come_before_async()
    {
        FunctionOptions options = Options("  async-queue: 20\n" + Async);

        Assert.Equal((true, 20), (options.Async, options.AsyncQueue));
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("True")]
    [InlineData("1")]
    [InlineData("on")]
    [InlineData("true false")]
    public void An_async_other_than_true_or_false_is_FAAS008_at_the_value(string value)
    {
        Diagnostic diagnostic = Only($"f: cat\n  async: {value}\n", "(2,10): FAAS008");

        Assert.Equal("Bad value for option 'async': write true or false", Message(diagnostic));
    }

    [Theory]
    [InlineData("0", "'0' is out of range: 1 to 1000000")]
    [InlineData("1000001", "'1000001' is out of range: 1 to 1000000")]
    [InlineData("many", "'many' is not a whole number")]
    [InlineData("10k", "'10k' is not a whole number")]
    [InlineData("1.5", "'1.5' is not a whole number")]
    public void An_async_queue_out_of_range_or_not_a_number_is_FAAS008_at_the_value(string value, string reason)
    {
        Diagnostic diagnostic = Only($"f: cat\n{Async}  async-queue: {value}\n", "(3,16): FAAS008");

        Assert.Equal($"Bad value for option 'async-queue': {reason}", Message(diagnostic));
    }

    [Fact]
    public void An_empty_value_is_FAAS008()
    {
        Diagnostic diagnostic = Only("f: cat\n  async:\n", "(2,9): FAAS008");

        Assert.Equal("Bad value for option 'async': the option needs a value", Message(diagnostic));
    }

    [Fact]
    public void Async_queue_without_async_true_is_FAAS019_at_its_key_with_async_false_before_after_or_unset()
    {
        const string Expected = "'async-queue' applies only to a function with 'async: true'";

        Assert.Equal(Expected, Message(Only("f: cat\n  async-queue: 10\n", "(2,3): FAAS019")));
        Assert.Equal(Expected, Message(Only("f: cat\n  async: false\n    async-queue: 10\n", "(3,5): FAAS019")));
        Assert.Equal(Expected, Message(Only("f: cat\n  async-queue: 10\n  async: false\n", "(2,3): FAAS019")));
        Assert.Equal(Expected, Message(Only("# a function\nf: cat\n  timeout: 5s\n\tasync-queue: 10   # here\n  async: false\n", "(4,2): FAAS019")));
        Assert.Equal("FAAS019", Only("f: cat\n  async-queue: 10\n", "(2,3): FAAS019").Id);
    }

    [Fact]
    public void Async_queue_with_async_true_is_fine_in_either_order()
    {
        Assert.Empty(GeneratorHarness.Run("f: cat\n  async: true\n  async-queue: 10\n").Run.Diagnostics);
        Assert.Empty(GeneratorHarness.Run("f: cat\n  async-queue: 10\n  async: true\n").Run.Diagnostics);
    }

    [Fact]
    public void Async_true_on_one_function_does_not_cover_another()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run("a: cat\n  async: true\nb: cat\n  async-queue: 5\nc: cat\n  async-queue: 5\n  async: true\n").Run;

        Assert.Equal(["(4,3): FAAS019"], GeneratorHarness.Positions(run));
    }

    [Fact]
    public void A_bad_async_reports_only_itself()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run("f: cat\n  async-queue: 10\n  async: yes\n").Run;

        Assert.Equal(["(3,10): FAAS008"], GeneratorHarness.Positions(run));
    }

    [Fact]
    public void A_bad_async_queue_is_reported_once_not_again_as_needing_async()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run("f: cat\n  async-queue: none\n").Run;

        Assert.Equal(["(2,16): FAAS008"], GeneratorHarness.Positions(run));
    }

    [Fact]
    public void FAAS019_comes_in_line_order_among_the_mode_diagnostics()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run("f: cat\n  replicas: 2\n  async-queue: 5\n  ready: /healthz\n").Run;

        Assert.Equal(["(2,3): FAAS018", "(3,3): FAAS019", "(4,3): FAAS018"], GeneratorHarness.Positions(run));
    }

    [Theory]
    [InlineData("  mode: exec\n")]
    [InlineData("  mode: http\n  replicas: 2\n")]
    [InlineData("")]
    public void Async_works_with_either_mode(string modeLines)
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run("f: ./f\n" + modeLines + "  async: true\n  async-queue: 100\n").Run;

        Assert.Empty(run.Diagnostics);
        Assert.NotNull(GeneratorHarness.Table(run));
    }

    [Fact]
    public void Given_twice_they_are_FAAS011()
        => Assert.Equal(
            ["(3,3): FAAS011", "(5,3): FAAS011"],
            GeneratorHarness.Positions(GeneratorHarness.Run("f: cat\n  async: true\n  async: true\n  async-queue: 1\n  async-queue: 2\n").Run));

    [Fact]
    public void An_unknown_key_lists_them_last_among_the_known_ones()
    {
        Diagnostic diagnostic = Assert.Single(GeneratorHarness.Run("f: cat\n  asynch: true\n").Run.Diagnostics);

        Assert.EndsWith(", idle-stop, start-timeout, async, async-queue", Message(diagnostic), StringComparison.Ordinal);
    }

    [Fact]
    public void They_are_written_into_the_table_only_when_set()
    {
        const string Manifest = """
            jobs: ./jobs
              async-queue: 250
              async: true
            web: ./web
              mode: http
              async: true
            sync: cat
              async: false
            wc: wc
            """;
        GeneratorDriverRunResult run = GeneratorHarness.Run(Manifest).Run;
        string table = GeneratorHarness.Table(run)!;

        Assert.Empty(run.Diagnostics);
        Assert.Contains("public static readonly Proc Jobs = new Proc(\"jobs\", \"./jobs\",\n            takesAsync: true,\n            asyncQueue: 250);\n", table, StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc Web = new Proc(\"web\", \"./web\",\n            mode: FunctionMode.Http,\n            takesAsync: true);\n", table, StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc Sync = new Proc(\"sync\", \"cat\",\n            takesAsync: false);\n", table, StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc Wc = new Proc(\"wc\", \"wc\");\n", table, StringComparison.Ordinal);
    }

    [Fact]
    public void They_reach_Proc()
    {
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run("jobs: ./jobs\n  async: true\n  async-queue: 1000000\nweb: ./web\n  mode: http\n  async: true\nsync: cat\n  async: false\nwc: wc\n");

        Assert.Empty(run.Diagnostics);
        EmittedSourceTests.Invoke(output, table =>
        {
            object jobs = EmittedSourceTests.Lookup(table, "jobs")!;
            Assert.Equal("True", EmittedSourceTests.Property(jobs, "TakesAsync"));
            Assert.Equal("1000000", EmittedSourceTests.Property(jobs, "AsyncQueue"));

            // Unset, the queue's length is left to the server (1000).
            object web = EmittedSourceTests.Lookup(table, "web")!;
            Assert.Equal("True", EmittedSourceTests.Property(web, "TakesAsync"));
            Assert.Null(EmittedSourceTests.Property(web, "AsyncQueue"));

            foreach (string name in new[] { "sync", "wc" })
            {
                object proc = EmittedSourceTests.Lookup(table, name)!;
                Assert.Equal("False", EmittedSourceTests.Property(proc, "TakesAsync"));
                Assert.Null(EmittedSourceTests.Property(proc, "AsyncQueue"));
            }

            return 0;
        });
    }

    [Theory]
    [InlineData("cat: cat\n", "false")]
    [InlineData("cat: cat\n  async: false\n", "false")]
    [InlineData("cat: cat\n  async: true\n", "true")]
    [InlineData("web: ./web\n  mode: http\n  async: true\n", "true")]
    [InlineData("cat: cat\nweb: ./web\n  mode: http\njobs: ./jobs\n  async-queue: 3\n  async: true\n", "true")]
    [InlineData("web: ./web\n  mode: http\n", "false")]
    [InlineData("# no function yet\n", "false")]
    public void The_table_says_whether_some_function_takes_asynchronous_calls(string manifest, string takesAsyncCalls)
    {
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run(manifest);

        // An empty manifest is warning FAAS010, and still a table.
        Assert.All(run.Diagnostics, d => Assert.Equal("FAAS010", d.Id));
        Assert.Contains($"public const bool TakesAsyncCalls = {takesAsyncCalls};", GeneratorHarness.Table(run)!, StringComparison.Ordinal);
        Assert.DoesNotContain(output.GetDiagnostics(), d => d.Severity >= DiagnosticSeverity.Warning);
        Assert.Equal(takesAsyncCalls, EmittedSourceTests.Invoke(output, table => EmittedSourceTests.Constant(table, "TakesAsyncCalls")));
    }

    [Fact]
    public void A_function_named_like_the_tables_constant_gets_a_suffix()
    {
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run("takes-async-calls: cat\n  async: true\ntakes_async_calls: cat\n");
        string table = GeneratorHarness.Table(run)!;

        Assert.Empty(run.Diagnostics);
        Assert.Contains("public static readonly Proc TakesAsyncCalls_2 = ", table, StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc TakesAsyncCalls_3 = ", table, StringComparison.Ordinal);
        Assert.DoesNotContain(output.GetDiagnostics(), d => d.Severity >= DiagnosticSeverity.Warning);
    }
}
