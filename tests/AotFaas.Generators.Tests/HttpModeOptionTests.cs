using System.Globalization;
using AotFaas.Generators.Model;
using Microsoft.CodeAnalysis;

namespace AotFaas.Generators.Tests;

/// <summary>
/// <c>mode</c> and the options of <c>mode: http</c> functions (replicas, ready, idle-stop, start-timeout): values
/// accepted, every bad value a FAAS008 at the value, and the options that do not apply to a function's mode
/// FAAS017 or FAAS018 at their key, whichever line comes first.
/// </summary>
public class HttpModeOptionTests
{
    private const string Http = "  mode: http\n";

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
    [InlineData("exec")]
    [InlineData("http")]
    public void Mode_takes_exec_or_http(string mode)
        => Assert.Equal(mode, Options($"  mode: {mode}\n").Mode);

    [Fact]
    public void Unset_the_options_are_left_to_the_server()
    {
        FunctionOptions options = Options(string.Empty);

        Assert.Null(options.Mode);
        Assert.Null(options.Replicas);
        Assert.Null(options.Ready);
        Assert.Null(options.IdleStop);
        Assert.Null(options.StartTimeout);
    }

    [Fact]
    public void An_http_function_takes_every_option_of_its_own()
    {
        FunctionOptions options = Options(Http + "  replicas: 4\n  ready: /healthz?deep=1&who=%20me  # probed\n  idle-stop: 10m\n  start-timeout: 1500ms\n");

        Assert.Equal("http", options.Mode);
        Assert.Equal(4, options.Replicas);
        Assert.Equal("/healthz?deep=1&who=%20me", options.Ready);
        Assert.Equal(new Amount(10, "m", 600_000), options.IdleStop);
        Assert.Equal(new Amount(1500, "ms", 1500), options.StartTimeout);
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData("64", 64)]
    public void Replicas_go_from_1_to_64(string value, int replicas)
        => Assert.Equal(replicas, Options(Http + $"  replicas: {value}\n").Replicas);

    [Theory]
    [InlineData("/")]
    [InlineData("/ready")]
    [InlineData("//twice/")]
    [InlineData("/a/b.c?x=1&y=[2]~!$'()*+,;=:@")]
    public void Ready_takes_a_path_and_a_query(string path)
        => Assert.Equal(path, Options(Http + $"  ready: {path}\n").Ready);

    [Fact]
    public void Ready_takes_a_path_of_1024_characters()
    {
        string path = "/" + new string('a', 1023);

        Assert.Equal(path, Options(Http + $"  ready: {path}\n").Ready);
    }

    [Theory]
    [InlineData("worker", "write one of exec, http")]
    [InlineData("HTTP", "write one of exec, http")]
    [InlineData("http exec", "write one of exec, http")]
    public void A_mode_other_than_exec_or_http_is_FAAS008_at_the_value(string value, string reason)
    {
        Diagnostic diagnostic = Only($"f: cat\n  mode: {value}\n", "(2,9): FAAS008");

        Assert.Equal($"Bad value for option 'mode': {reason}", Message(diagnostic));
    }

    [Theory]
    [InlineData("0", "'0' is out of range: 1 to 64")]
    [InlineData("65", "'65' is out of range: 1 to 64")]
    [InlineData("two", "'two' is not a whole number")]
    [InlineData("2x", "'2x' is not a whole number")]
    public void Replicas_out_of_range_or_not_a_number_are_FAAS008_at_the_value(string value, string reason)
    {
        Diagnostic diagnostic = Only($"f: cat\n{Http}  replicas: {value}\n", "(3,13): FAAS008");

        Assert.Equal($"Bad value for option 'replicas': {reason}", Message(diagnostic));
    }

    [Theory]
    [InlineData("healthz", "write a path that starts with '/', for example /healthz")]
    [InlineData("http://localhost/healthz", "write a path that starts with '/', for example /healthz")]
    [InlineData("/health check", "a space cannot be in a path: ASCII letters, digits and punctuation without spaces; percent-encode anything else (%20 for a space)")]
    [InlineData("/health\tcheck", "U+0009 cannot be in a path: ASCII letters, digits and punctuation without spaces; percent-encode anything else (%20 for a space)")]
    [InlineData("/health\u007f", "U+007F cannot be in a path: ASCII letters, digits and punctuation without spaces; percent-encode anything else (%20 for a space)")]
    [InlineData("/sant\u00e9", "'\u00e9' cannot be in a path: ASCII letters, digits and punctuation without spaces; percent-encode anything else (%20 for a space)")]
    [InlineData("/\U0001F600", "'\U0001F600' cannot be in a path: ASCII letters, digits and punctuation without spaces; percent-encode anything else (%20 for a space)")]
    [InlineData("/healthz#top", "a fragment ('#...') is never sent to the server: leave it out")]
    public void A_ready_value_that_is_not_a_request_path_is_FAAS008_at_the_value(string value, string reason)
    {
        Diagnostic diagnostic = Only($"f: cat\n{Http}  ready: {value}\n", "(3,10): FAAS008");

        Assert.Equal($"Bad value for option 'ready': {reason}", Message(diagnostic));
    }

    [Fact]
    public void A_ready_path_longer_than_1024_characters_is_FAAS008()
    {
        Diagnostic diagnostic = Only($"f: cat\n{Http}  ready: /{new string('a', 1024)}\n", "(3,10): FAAS008");

        Assert.Equal("Bad value for option 'ready': the path is 1025 characters long; the limit is 1024", Message(diagnostic));
    }

    [Theory]
    [InlineData("idle-stop", "0s", "'0s' is out of range: more than 0 and at most 7 days")]
    [InlineData("idle-stop", "8d", "unknown unit 'd' in '8d'; use ms, s, m or h")]
    [InlineData("idle-stop", "169h", "'169h' is out of range: more than 0 and at most 7 days")]
    [InlineData("start-timeout", "0ms", "'0ms' is out of range: more than 0 and at most 7 days")]
    [InlineData("start-timeout", "30", "'30' has no unit; write 500ms, 10s, 2m or 1h")]
    [InlineData("start-timeout", "soon", "'soon' is not a duration; write a whole number and a unit: 500ms, 10s, 2m or 1h")]
    public void Idle_stop_and_start_timeout_take_a_duration_more_than_0(string key, string value, string reason)
    {
        Diagnostic diagnostic = Only($"f: cat\n{Http}  {key}: {value}\n", $"(3,{key.Length + 5}): FAAS008");

        Assert.Equal($"Bad value for option '{key}': {reason}", Message(diagnostic));
    }

    [Theory]
    [InlineData("request-env: none", "the worker reads the request itself")]
    [InlineData("request-env: cgi", "the worker reads the request itself")]
    [InlineData("response: cgi", "the worker writes its HTTP response itself")]
    [InlineData("max-output: 1MiB", "it limits a program's stdout, and the worker answers over HTTP")]
    [InlineData("content-type: text/plain", "the worker sets its own headers")]
    public void An_exec_option_on_an_http_function_is_FAAS017_at_its_key_before_or_after_mode(string option, string reason)
    {
        string key = option.Substring(0, option.IndexOf(':', StringComparison.Ordinal));
        string expected = $"'{key}' does not apply to a function with 'mode: http': {reason}";

        Assert.Equal(expected, Message(Only($"f: cat\n  mode: http\n  {option}\n", "(3,3): FAAS017")));
        Assert.Equal(expected, Message(Only($"f: cat\n  {option}\n  mode: http\n", "(2,3): FAAS017")));
        Assert.Equal(expected, Message(Only($"# a function\nf: cat\n  timeout: 5s\n\t{option}   # here\n  replicas: 2\n  mode: http\n", "(4,2): FAAS017")));
    }

    [Theory]
    [InlineData("env: PORT=8080")]
    [InlineData("pass-env: HOME, PORT")]
    public void Setting_PORT_on_an_http_function_is_FAAS017_since_the_server_sets_it(string option)
    {
        string key = option.Substring(0, option.IndexOf(':', StringComparison.Ordinal));
        string expected = $"'{key} PORT' does not apply to a function with 'mode: http': the server sets PORT to each worker's own port";

        Assert.Equal(expected, Message(Only($"f: cat\n  {option}\n  mode: http\n", "(2,3): FAAS017")));
        Assert.Empty(GeneratorHarness.Run($"f: cat\n  {option}\n").Run.Diagnostics);
        Assert.Empty(GeneratorHarness.Run("f: cat\n  env: PORTS=1\n  pass-env: PORTAL\n  mode: http\n").Run.Diagnostics);
    }

    [Theory]
    [InlineData("replicas: 2")]
    [InlineData("ready: /healthz")]
    [InlineData("idle-stop: 5m")]
    [InlineData("start-timeout: 10s")]
    public void An_http_option_on_another_function_is_FAAS018_at_its_key_with_mode_exec_before_after_or_unset(string option)
    {
        string key = option.Substring(0, option.IndexOf(':', StringComparison.Ordinal));
        string expected = $"'{key}' applies only to a function with 'mode: http'";

        Assert.Equal(expected, Message(Only($"f: cat\n  {option}\n", "(2,3): FAAS018")));
        Assert.Equal(expected, Message(Only($"f: cat\n  mode: exec\n    {option}\n", "(3,5): FAAS018")));
        Assert.Equal(expected, Message(Only($"f: cat\n  {option}\n  mode: exec\n", "(2,3): FAAS018")));
    }

    [Fact]
    public void Every_option_that_does_not_apply_is_reported_in_line_order_and_per_function()
    {
        const string Manifest = """
            web: ./server --port 8080
              content-type: text/html
              replicas: 3
              response: cgi
              mode: http
              max-output: 1MiB
              request-env: openfaas
            cat: cat
              ready: /healthz
              request-env: none
              idle-stop: 1m
            api: ./api
              mode: http
              start-timeout: 5s
            """;
        GeneratorDriverRunResult run = GeneratorHarness.Run(Manifest).Run;

        Assert.Equal(
            ["(2,3): FAAS017", "(4,3): FAAS017", "(6,3): FAAS017", "(7,3): FAAS017", "(9,3): FAAS018", "(11,3): FAAS018"],
            GeneratorHarness.Positions(run));
        Assert.Null(GeneratorHarness.Table(run));
    }

    [Fact]
    public void A_bad_mode_reports_only_itself()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run("f: cat\n  replicas: 2\n  request-env: none\n  mode: htttp\n").Run;

        Assert.Equal(["(4,9): FAAS008"], GeneratorHarness.Positions(run));
    }

    [Fact]
    public void A_bad_value_is_reported_once_not_again_as_an_option_of_the_wrong_mode()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run("f: cat\n  replicas: many\n  mode: http\n  response: rawish\n").Run;

        Assert.Equal(["(2,13): FAAS008", "(4,13): FAAS008"], GeneratorHarness.Positions(run));
    }

    [Fact]
    public void The_options_that_keep_applying_are_fine_on_an_http_function()
    {
        const string Manifest = """
            api: ./api --listen 127.0.0.1:9000
              mode: http
              timeout: 10s
              max-inflight: 8
              max-queue: 100
              max-body: 1MiB
              env: GREETING=hello
              pass-env: TZ
              workdir: /srv/api
              methods: PUT POST
              pass-authorization: true
              auth: hmac-sha256 $HOOK_SECRET
              log-stderr: false
              replicas: 2
              ready: /ready
              idle-stop: 15m
              start-timeout: 45s
            """;

        Assert.Empty(GeneratorHarness.Run(Manifest).Run.Diagnostics);
    }

    [Fact]
    public void Given_twice_they_are_FAAS011()
        => Assert.Equal(
            ["(3,3): FAAS011", "(5,3): FAAS011"],
            GeneratorHarness.Positions(GeneratorHarness.Run("f: cat\n  mode: http\n  mode: http\n  ready: /a\n  ready: /b\n").Run));

    [Fact]
    public void An_unknown_key_lists_them_last_among_the_known_ones()
    {
        Diagnostic diagnostic = Assert.Single(GeneratorHarness.Run("f: cat\n  replica: 2\n").Run.Diagnostics);

        Assert.Contains(", log-stderr, mode, replicas, ready, idle-stop, start-timeout, ", Message(diagnostic), StringComparison.Ordinal);
    }

    [Fact]
    public void They_are_written_into_the_table_only_when_set()
    {
        const string Manifest = """
            api: ./api
              start-timeout: 2m
              ready: /healthz?x="y"
              mode: http
              replicas: 3
              idle-stop: 30s
            web: ./web
              mode: http
            cat: cat
              mode: exec
            wc: wc
            """;
        GeneratorDriverRunResult run = GeneratorHarness.Run(Manifest).Run;
        string table = GeneratorHarness.Table(run)!;

        Assert.Empty(run.Diagnostics);
        Assert.Contains(
            "public static readonly Proc Api = new Proc(\"api\", \"./api\",\n            mode: FunctionMode.Http,\n            replicas: 3,\n"
            + "            readyPath: \"/healthz?x=\\\"y\\\"\",\n            idleStopMilliseconds: 30 * 1000,\n            startTimeoutMilliseconds: 2 * 60 * 1000);\n",
            table,
            StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc Web = new Proc(\"web\", \"./web\",\n            mode: FunctionMode.Http);\n", table, StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc Cat = new Proc(\"cat\", \"cat\",\n            mode: FunctionMode.Exec);\n", table, StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc Wc = new Proc(\"wc\", \"wc\");\n", table, StringComparison.Ordinal);
    }

    [Fact]
    public void Function_names_that_match_the_tables_constants_or_the_mode_enum_get_a_suffix()
    {
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run(
            "runs-programs: cat\nproxies-http: ./w\n  mode: http\nfunction-mode: cat\n  mode: exec\n");
        string table = GeneratorHarness.Table(run)!;

        Assert.Empty(run.Diagnostics);
        Assert.Contains("public static readonly Proc RunsPrograms_2 = ", table, StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc ProxiesHttp_2 = ", table, StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc FunctionMode_2 = ", table, StringComparison.Ordinal);
        Assert.DoesNotContain(output.GetDiagnostics(), d => d.Severity >= DiagnosticSeverity.Warning);
    }
}
