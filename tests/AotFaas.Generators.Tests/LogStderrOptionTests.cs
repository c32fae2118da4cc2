using AotFaas.Generators.Model;
using Microsoft.CodeAnalysis;

namespace AotFaas.Generators.Tests;

/// <summary><c>log-stderr</c>: whether a function's stderr goes to the server's log (issue 14).</summary>
public class LogStderrOptionTests
{
    [Theory]
    [InlineData("true", true)]
    [InlineData("false", false)]
    public void Log_stderr_takes_true_or_false(string value, bool expected)
        => Assert.Equal(expected, GeneratorHarness.Options($"  log-stderr: {value}\n").LogStderr);

    [Fact]
    public void Unset_it_is_left_to_the_server()
        => Assert.Null(GeneratorHarness.Options(string.Empty).LogStderr);

    [Theory]
    [InlineData("off")]
    [InlineData("False")]
    [InlineData("no")]
    [InlineData("true false")]
    public void Any_other_value_is_FAAS008_at_the_value(string value)
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run($"f: cat\n  log-stderr: {value}\n").Run;

        Diagnostic diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("(2,15): FAAS008", GeneratorHarness.Position(diagnostic));
        Assert.Equal($"Bad value for option 'log-stderr': write true or false", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Null(GeneratorHarness.Table(run));
    }

    [Fact]
    public void Given_twice_it_is_FAAS011()
        => Assert.Equal(
            ["(3,3): FAAS011"],
            GeneratorHarness.Positions(GeneratorHarness.Run("f: cat\n  log-stderr: false\n  log-stderr: true\n").Run));

    [Fact]
    public void An_unknown_key_lists_it_among_the_known_ones()
    {
        Diagnostic diagnostic = Assert.Single(GeneratorHarness.Run("f: cat\n  log-stdout: false\n").Run.Diagnostics);

        Assert.Contains(", auth, log-stderr, ", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public void It_is_written_into_the_table_only_when_set()
    {
        string table = GeneratorHarness.Table(GeneratorHarness.Run("quiet: cat\n  log-stderr: false\nloud: cat\n  log-stderr: true\nplain: cat\n").Run)!;

        Assert.Contains("public static readonly Proc Quiet = new Proc(\"quiet\", \"cat\",\n            logStderr: false);\n", table, StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc Loud = new Proc(\"loud\", \"cat\",\n            logStderr: true);\n", table, StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc Plain = new Proc(\"plain\", \"cat\");\n", table, StringComparison.Ordinal);
    }
}
