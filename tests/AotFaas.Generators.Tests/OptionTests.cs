using AotFaas.Generators.Model;

namespace AotFaas.Generators.Tests;

/// <summary>The run-safety options: values accepted, and every bad value a FAAS008 at the value.</summary>
public class OptionTests
{
    private static ManifestModel Parse(string manifest) => GeneratorHarness.Parse(manifest);

    private static FunctionOptions Options(string optionLines) => GeneratorHarness.Options(optionLines);

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("10s", 10_000)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    public void Timeout_takes_a_duration(string value, long milliseconds)
        => Assert.Equal(milliseconds, Options($"  timeout: {value}\n").Timeout?.Value);

    [Theory]
    [InlineData("512", 512)]
    [InlineData("64KiB", 65_536)]
    [InlineData("16MiB", 16_777_216)]
    [InlineData("1GiB", 1_073_741_824)]
    [InlineData("10MB", 10_000_000)]
    [InlineData("2kb", 2_000)]
    public void Sizes_take_binary_and_decimal_units(string value, long bytes)
    {
        Assert.Equal(bytes, Options($"  max-body: {value}\n").MaxBody?.Value);
        Assert.Equal(bytes, Options($"  max-output: {value}\n").MaxOutput?.Value);
    }

    [Fact]
    public void Limits_take_whole_numbers()
    {
        FunctionOptions options = Options("  max-inflight: 2\n  max-queue: 0\n");

        Assert.Equal(2, options.MaxInflight);
        Assert.Equal(0, options.MaxQueue);
    }

    [Fact]
    public void Env_repeats_and_keeps_values_literally()
    {
        FunctionOptions options = Options("  env: GREETING=hello world\n  env: EMPTY=\n  env: URL=http://x/?a=b#frag  # a comment\n");

        Assert.Equal(["GREETING=hello world", "EMPTY=", "URL=http://x/?a=b#frag"], options.Env);
    }

    [Fact]
    public void Pass_env_takes_names_on_one_line_or_several()
    {
        FunctionOptions options = Options("  pass-env: AWS_REGION, HOME\n  pass-env: TZ AWS_REGION\n");

        Assert.Equal(["AWS_REGION", "HOME", "TZ"], options.PassEnv);
    }

    [Fact]
    public void Workdir_takes_a_path()
        => Assert.Equal("/srv/data dir", Options("  workdir: /srv/data dir\n").WorkDir);

    [Theory]
    [InlineData("  timeout: 10\n", "no unit")]
    [InlineData("  timeout: 10 seconds\n", "unknown unit")]
    [InlineData("  timeout: 0s\n", "out of range")]
    [InlineData("  timeout: -1s\n", "not a duration")]
    [InlineData("  timeout: 8d\n", "unknown unit")]
    [InlineData("  max-body: 16 megs\n", "unknown unit")]
    [InlineData("  max-body: 2TiB\n", "unknown unit")]
    [InlineData("  max-output: 0\n", "out of range")]
    [InlineData("  max-inflight: 0\n", "out of range")]
    [InlineData("  max-inflight: two\n", "not a whole number")]
    [InlineData("  max-queue: -1\n", "not a whole number")]
    [InlineData("  env: NOEQUALS\n", "KEY=VALUE")]
    [InlineData("  env: 1BAD=x\n", "not a variable name")]
    [InlineData("  env: A-B=x\n", "not a variable name")]
    [InlineData("  env: A=1\n  env: A=2\n", "set twice")]
    [InlineData("  pass-env: GOOD, b@d\n", "not a variable name")]
    public void Bad_values_are_FAAS008_at_the_value(string optionLines, string reason)
    {
        ManifestModel model = Parse("f: cat\n" + optionLines);

        DiagnosticInfo diagnostic = Assert.Single(model.Diagnostics);
        Assert.Equal("FAAS008", diagnostic.Descriptor.Id);
        Assert.Contains(reason, diagnostic.MessageArgs[1], StringComparison.Ordinal);
        string line = optionLines.TrimEnd('\n').Split('\n')[^1];
        Assert.Equal(line.IndexOf(':', StringComparison.Ordinal) + 3, diagnostic.Location!.Value.Column);
    }

    [Theory]
    [InlineData("timeout")]
    [InlineData("max-inflight")]
    [InlineData("max-queue")]
    [InlineData("max-body")]
    [InlineData("max-output")]
    [InlineData("workdir")]
    [InlineData("content-type")]
    public void Single_valued_options_given_twice_are_FAAS011(string key)
    {
        string value = key switch { "timeout" => "1s", "max-body" or "max-output" => "1KiB", "workdir" => "/tmp", "content-type" => "a/b", _ => "1" };

        ManifestModel model = Parse($"f: cat\n  {key}: {value}\n  {key}: {value}\n");

        Assert.Equal("FAAS011", Assert.Single(model.Diagnostics).Descriptor.Id);
    }
}
