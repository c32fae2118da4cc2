using AotFaas.Generators.Model;

namespace AotFaas.Generators.Tests;

public class ManifestParserTests
{
    private static ManifestModel Parse(string manifest) => GeneratorHarness.Parse(manifest);

    private static FunctionModel Single(string manifest)
    {
        ManifestModel model = Parse(manifest);
        Assert.DoesNotContain(model.Diagnostics, d => d.Descriptor.DefaultSeverity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error);
        return Assert.Single(model.Functions);
    }

    [Fact]
    public void A_function_line_gives_name_executable_and_arguments()
    {
        FunctionModel function = Single("decodebase64: base64 -d\n");

        Assert.Equal("decodebase64", function.Name);
        Assert.Equal("base64", function.Executable);
        Assert.Equal(["-d"], function.Argv);
        Assert.Equal("base64 -d", function.CommandLine);
        Assert.Equal(1, function.Line);
    }

    [Theory]
    [InlineData("f: sh -c 'printf \"hello, %s\" \"$(cat)\"'", new[] { "-c", "printf \"hello, %s\" \"$(cat)\"" })]
    [InlineData("f: echo \"a \\\"b\\\" \\\\ \\$x \\n\"", new[] { "a \"b\" \\ $x \\n" })]
    [InlineData("f: echo a\\ b c\\'d", new[] { "a b", "c'd" })]
    [InlineData("f: echo a'b'\"c\"d", new[] { "abcd" })]
    [InlineData("f: echo '' \"\"", new[] { "", "" })]
    [InlineData("f: echo a#b", new[] { "a#b" })]
    [InlineData("f: echo a # a comment", new[] { "a" })]
    [InlineData("f:echo\ta\t\tb  ", new[] { "a", "b" })]
    [InlineData("f: echo '#' \"#\" \\#", new[] { "#", "#", "#" })]
    [InlineData("f: echo 'it''s'", new[] { "its" })]
    [InlineData("f: echo 'a\\b'", new[] { "a\\b" })]
    [InlineData("f: echo \"$HOME\" '*' ~", new[] { "$HOME", "*", "~" })]
    public void Command_lines_split_like_a_POSIX_shell_without_expansion(string line, string[] expected)
    {
        FunctionModel function = Single(line);

        Assert.Equal(expected, function.Argv);
    }

    [Fact]
    public void Unquoted_shell_syntax_stays_literal_and_is_pointed_out()
    {
        ManifestModel model = Parse("f: echo $HOME | wc\n");

        FunctionModel function = Assert.Single(model.Functions);
        Assert.Equal(["$HOME", "|", "wc"], function.Argv);
        Assert.Equal(
            ["(1,9): FAAS014", "(1,15): FAAS014"],
            model.Diagnostics.Select(d => $"({d.Location!.Value.Line},{d.Location.Value.Column}): {d.Descriptor.Id}"));
    }

    [Fact]
    public void A_path_is_kept_as_the_executable()
    {
        Assert.Equal("/usr/bin/env", Single("f: /usr/bin/env -i").Executable);
        Assert.Equal("./bin/tool", Single("f: ./bin/tool").Executable);
    }

    [Fact]
    public void Comments_blank_lines_and_trailing_comments_are_ignored()
    {
        ManifestModel model = Parse("""
            # header

               # indented comment
            cat: cat   # the classic
            	
            wc: wc -l
            """);

        Assert.Empty(model.Diagnostics);
        Assert.Equal(["cat", "wc"], model.Functions.Select(f => f.Name));
        Assert.Equal("cat", model.Functions[0].CommandLine);
        Assert.Equal(4, model.Functions[0].Line);
        Assert.Equal(6, model.Functions[1].Line);
    }

    [Fact]
    public void Indented_options_belong_to_the_function_above()
    {
        ManifestModel model = Parse("a: cat\n  content-type: text/plain; charset=utf-8   # comment\nb: cat\n\tcontent-type: image/png\nc: cat\n");

        Assert.Empty(model.Diagnostics);
        Assert.Equal(["text/plain; charset=utf-8", "image/png", null], model.Functions.Select(f => f.Options.ContentType));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("A9")]
    [InlineData("word-count")]
    [InlineData("v1.2_beta")]
    [InlineData("0day")]
    public void Names_of_letters_digits_dot_dash_and_underscore_are_accepted(string name)
        => Assert.Equal(name, Single(name + ": cat").Name);

    [Fact]
    public void A_name_of_exactly_64_characters_is_accepted()
        => Assert.Equal(64, Single(new string('n', 64) + ": cat").Name.Length);

    [Fact]
    public void Names_are_case_sensitive()
    {
        ManifestModel model = Parse("cat: cat\nCat: cat\n");

        Assert.Empty(model.Diagnostics);
        Assert.Equal(2, model.Functions.Count);
    }

    [Fact]
    public void A_byte_order_mark_and_CRLF_line_ends_are_handled()
    {
        ManifestModel model = Parse("\uFEFFcat: cat\r\n  content-type: text/plain\r\nwc: wc\r\n");

        Assert.Empty(model.Diagnostics);
        Assert.Equal(["cat", "wc"], model.Functions.Select(f => f.Name));
        Assert.Equal("text/plain", model.Functions[0].Options.ContentType);
    }

    [Fact]
    public void Parsing_the_same_text_twice_gives_equal_models()
    {
        const string text = "cat: cat\n  content-type: text/plain\n";
        const string broken = "cat: cat\nbad line\n";

        Assert.Equal(Parse(text), Parse(text));
        Assert.Equal(Parse(broken), Parse(broken));
        Assert.NotEqual(Parse(text), Parse(text + "wc: wc\n"));
        Assert.NotEqual(Parse(text), Parse(text.Replace("plain", "html", StringComparison.Ordinal)));
    }
}
