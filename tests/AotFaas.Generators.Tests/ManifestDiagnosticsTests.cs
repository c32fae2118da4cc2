using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace AotFaas.Generators.Tests;

/// <summary>Every manifest mistake is reported at its line and column, and stops generation.</summary>
public class ManifestDiagnosticsTests
{
    private static Diagnostic Only(string manifest, string expectedPosition)
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run(manifest).Run;

        Assert.Equal([expectedPosition], GeneratorHarness.Positions(run));
        Diagnostic diagnostic = run.Diagnostics[0];
        Assert.Equal(GeneratorHarness.ManifestPath, diagnostic.Location.GetLineSpan().Path);
        if (diagnostic.Severity == DiagnosticSeverity.Error)
        {
            Assert.Null(GeneratorHarness.Table(run));
        }

        return diagnostic;
    }

    [Fact]
    public void A_line_that_is_neither_function_option_nor_comment_is_FAAS001()
    {
        Diagnostic d = Only("cat: cat\nthis is not a function\n", "(2,1): FAAS001");
        Assert.Contains("'<name>: <command> [args...]'", d.GetMessage());
    }

    [Fact]
    public void A_backslash_ending_the_line_is_FAAS001_at_the_backslash()
        => Only("f: echo a\\", "(1,10): FAAS001");

    [Fact]
    public void An_indented_line_without_a_colon_is_FAAS001()
        => Only("cat: cat\n  content-type text/plain\n", "(2,3): FAAS001");

    [Theory]
    [InlineData("my func: cat", "(1,3): FAAS002", "' ' is not allowed")]
    [InlineData("-x: cat", "(1,1): FAAS002", "starts with a letter or a digit")]
    [InlineData(": cat", "(1,1): FAAS002", "empty")]
    [InlineData("caf\u00e9: cat", "(1,4): FAAS002", "'\u00e9' is not allowed")]
    [InlineData("a/b: cat", "(1,2): FAAS002", "'/' is not allowed")]
    public void An_invalid_name_is_FAAS002_at_the_offending_character(string manifest, string position, string reason)
        => Assert.Contains(reason, Only(manifest, position).GetMessage());

    [Fact]
    public void A_name_longer_than_64_characters_is_FAAS002()
        => Assert.Contains("65 characters", Only(new string('n', 65) + ": cat", "(1,1): FAAS002").GetMessage());

    [Theory]
    [InlineData("hook: cat\n  methods: GET POST\n  auth: hmac-sha256 $HOOK_SECRET\n", "(3,9): FAAS016", "GET")]
    [InlineData("hook: cat\n  auth: hmac-sha256 $HOOK_SECRET X-Sig\n  methods: POST,HEAD\n", "(3,12): FAAS016", "HEAD")]
    [InlineData("hook: cat\n\tauth:   hmac-sha256 $S   # signed\n\tmethods: HEAD GET\n", "(3,11): FAAS016", "HEAD")]
    public void Hmac_on_GET_or_HEAD_is_FAAS016_at_the_option_that_completes_the_pair(string manifest, string position, string method)
    {
        string message = Only(manifest, position).GetMessage();

        Assert.Contains($"remove {method} from methods", message, StringComparison.Ordinal);
        Assert.Contains("auth: bearer $VARIABLE", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hook: cat\n  methods: POST PUT DELETE\n  auth: hmac-sha256 $S\n")]
    [InlineData("hook: cat\n  auth: hmac-sha256 $S\n")]
    [InlineData("api: cat\n  methods: GET HEAD POST\n  auth: bearer $TOKEN\n")]
    [InlineData("hook: cat\n  auth: hmac-sha256 $S\nlist: cat\n  methods: GET\n")]
    public void Hmac_with_methods_that_carry_a_body_and_bearer_with_GET_are_fine(string manifest)
        => Assert.Empty(GeneratorHarness.Run(manifest).Run.Diagnostics);

    [Fact]
    public void A_duplicate_name_is_FAAS003_at_the_second_one_naming_the_first()
    {
        Diagnostic d = Only("cat: cat\nwc: wc\ncat: tac\n", "(3,1): FAAS003");
        Assert.Contains("line 1", d.GetMessage());
    }

    [Theory]
    [InlineData("cat:\n", "(1,4): FAAS004")]
    [InlineData("cat:    # nothing here\n", "(1,4): FAAS004")]
    [InlineData("cat: '' -x\n", "(1,6): FAAS004")]
    public void A_function_without_a_command_is_FAAS004(string manifest, string position)
        => Only(manifest, position);

    [Theory]
    [InlineData("f: echo 'abc", "(1,9): FAAS005", "single")]
    [InlineData("f: echo \"abc\\\"", "(1,9): FAAS005", "double")]
    [InlineData("f: echo ok \"it's", "(1,12): FAAS005", "double")]
    public void An_unterminated_quote_is_FAAS005_at_the_opening_quote(string manifest, string position, string kind)
        => Assert.Contains(kind, Only(manifest, position).GetMessage());

    [Fact]
    public void An_unknown_option_is_FAAS006_listing_the_known_ones()
    {
        Diagnostic d = Only("cat: cat\n  content-typ: text/plain\n", "(2,3): FAAS006");
        Assert.Contains("content-type", d.GetMessage());
    }

    [Fact]
    public void An_option_before_any_function_is_FAAS007()
        => Only("  content-type: text/plain\ncat: cat\n", "(1,3): FAAS007");

    [Theory]
    [InlineData("cat: cat\n  content-type: textplain\n", "(2,17): FAAS008")]
    [InlineData("cat: cat\n  content-type: text/\n", "(2,17): FAAS008")]
    [InlineData("cat: cat\n  content-type: text/plain; charset\n", "(2,17): FAAS008")]
    [InlineData("cat: cat\n  content-type:\n", "(2,16): FAAS008")]
    [InlineData("cat: cat\n  content-type:   # only a comment\n", "(2,19): FAAS008")]
    public void A_bad_option_value_is_FAAS008_at_the_value(string manifest, string position)
        => Only(manifest, position);

    [Fact]
    public void An_option_given_twice_is_FAAS011_naming_the_first()
    {
        Diagnostic d = Only("cat: cat\n  content-type: a/b\n  content-type: c/d\n", "(3,3): FAAS011");
        Assert.Contains("line 2", d.GetMessage());
    }

    [Theory]
    [InlineData("")]
    [InlineData("# nothing but comments\n\n")]
    public void A_manifest_without_functions_is_warning_FAAS010_and_still_generates(string manifest)
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run(manifest).Run;

        Diagnostic d = Assert.Single(run.Diagnostics);
        Assert.Equal("FAAS010", d.Id);
        Assert.Equal(DiagnosticSeverity.Warning, d.Severity);
        Assert.NotNull(GeneratorHarness.Table(run));
    }

    [Fact]
    public void Every_mistake_in_a_manifest_is_reported_not_only_the_first()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run("cat: cat\nbad\n-x: y\n  content-type: nope\nwc: 'wc\n").Run;

        Assert.Equal(["(2,1): FAAS001", "(3,1): FAAS002", "(5,5): FAAS005"], GeneratorHarness.Positions(run));
        Assert.Null(GeneratorHarness.Table(run));
    }

    [Fact]
    public void Options_of_a_broken_function_are_not_reported_as_orphans()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run("-x: cat\n  content-type: text/plain\n").Run;

        Assert.Equal(["(1,1): FAAS002"], GeneratorHarness.Positions(run));
    }

    [Fact]
    public void No_manifest_in_the_build_is_FAAS009_naming_where_it_was_looked_for()
    {
        var options = new TestOptionsProvider(new Dictionary<string, string> { ["build_property.FaasManifestFullPath"] = "/repo/missing.faas" });
        GeneratorDriver driver = GeneratorHarness.Generate([], options).Driver;

        Diagnostic d = Assert.Single(driver.GetRunResult().Diagnostics);
        Assert.Equal("FAAS009", d.Id);
        Assert.Contains("/repo/missing.faas", d.GetMessage());
        Assert.Null(GeneratorHarness.Table(driver.GetRunResult()));
    }

    [Fact]
    public void Two_manifests_in_the_build_are_FAAS012()
    {
        GeneratorDriver driver = GeneratorHarness.Generate([new InMemoryText("/a/functions.faas", "cat: cat"), new InMemoryText("/b/more.faas", "wc: wc")]).Driver;

        Diagnostic d = Assert.Single(driver.GetRunResult().Diagnostics);
        Assert.Equal("FAAS012", d.Id);
        Assert.Contains("/b/more.faas", d.GetMessage());
    }

    [Fact]
    public void An_unreadable_manifest_is_FAAS013()
    {
        GeneratorDriver driver = GeneratorHarness.Generate([new UnreadableText("/repo/functions.faas")]).Driver;

        Assert.Equal("FAAS013", Assert.Single(driver.GetRunResult().Diagnostics).Id);
    }

    [Fact]
    public void The_manifest_is_found_by_its_item_metadata_whatever_its_name()
    {
        var options = new TestOptionsProvider(perFile: new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["/elsewhere/my-functions.txt"] = new Dictionary<string, string> { ["build_metadata.AdditionalFiles.AotFaasManifest"] = "true" },
            ["/repo/notes.faas"] = new Dictionary<string, string> { ["build_metadata.AdditionalFiles.AotFaasManifest"] = "false" },
        });
        GeneratorDriver driver = GeneratorHarness.Generate(
            [new InMemoryText("/elsewhere/my-functions.txt", "cat: cat"), new InMemoryText("/repo/notes.faas", "not: a manifest ("), new InMemoryText("/repo/README.md", "# readme")],
            options).Driver;

        Assert.Empty(driver.GetRunResult().Diagnostics);
        Assert.Contains("\"cat\" => Cat", GeneratorHarness.Table(driver.GetRunResult()), StringComparison.Ordinal);
    }

    private sealed class UnreadableText(string path) : AdditionalText
    {
        public override string Path { get; } = path;

        public override SourceText? GetText(CancellationToken cancellationToken = default) => null;
    }
}
