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
          log-stderr: false
        v1.2_beta: printf 'café \u00e9\n'
        web: ./web --port 9000
          mode: http
          replicas: 2
          ready: /healthz?deep=1
          idle-stop: 10m
          start-timeout: 45s
          async: true
          async-queue: 500
        """;

    [Fact]
    public void The_generated_table_matches_the_checked_in_file()
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run(Manifest).Run;

        Assert.Empty(run.Diagnostics);
        AssertMatchesExpectedFile("FunctionTable.g.cs", GeneratorHarness.Table(run)!);
    }

    [Fact]
    public void A_broken_manifest_shows_its_own_errors_and_nothing_else()
    {
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run("cat: 'cat\n");

        Assert.Equal("FAAS005", Assert.Single(run.Diagnostics).Id);
        Assert.Empty(run.GeneratedTrees);
        Assert.Null(output.GetTypeByMetadataName("AotFaas.Functions.FunctionTable"));
        Assert.NotNull(output.GetTypeByMetadataName("AotFaas.Functions.Proc"));
        Assert.DoesNotContain(output.GetDiagnostics(), d => d.Severity >= DiagnosticSeverity.Warning);
    }

    [Theory]
    [InlineData("cat: cat\n", "true", "false")]
    [InlineData("cat: cat\n  mode: exec\n", "true", "false")]
    [InlineData("web: ./web\n  mode: http\n", "false", "true")]
    [InlineData("web: ./web\n  mode: http\napi: ./api\n  mode: http\n", "false", "true")]
    [InlineData("web: ./web\n  mode: http\ncat: cat\n", "true", "true")]
    [InlineData("# no function yet\n", "false", "false")]
    public void The_table_says_which_ways_of_running_the_manifest_uses(string manifest, string runsPrograms, string proxiesHttp)
    {
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run(manifest);

        // An empty manifest is warning FAAS010, and still a table.
        Assert.All(run.Diagnostics, d => Assert.Equal("FAAS010", d.Id));
        Assert.Contains($"public const bool RunsPrograms = {runsPrograms};", GeneratorHarness.Table(run)!, StringComparison.Ordinal);
        Assert.Contains($"public const bool ProxiesHttp = {proxiesHttp};", GeneratorHarness.Table(run)!, StringComparison.Ordinal);
        Assert.DoesNotContain(output.GetDiagnostics(), d => d.Severity >= DiagnosticSeverity.Warning);
        Assert.Equal((runsPrograms, proxiesHttp), Invoke(output, table => (Constant(table, "RunsPrograms"), Constant(table, "ProxiesHttp"))));
    }

    [Fact]
    public void Only_the_options_a_function_sets_are_written()
    {
        string table = GeneratorHarness.Table(GeneratorHarness.Run("cat: cat\nwc: wc -l\n  max-queue: 0\n").Run)!;

        Assert.Contains("public static readonly Proc Cat = new Proc(\"cat\", \"cat\");\n", table, StringComparison.Ordinal);
        Assert.Contains("public static readonly Proc Wc = new Proc(\"wc\", \"wc\", [\"-l\"],\n            maxQueue: 0);\n", table, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("max-body: 512", "maxBody: 512", "MaxBody", "512")]
    [InlineData("max-body: 64kib", "maxBody: 64 * 1024", "MaxBody", "65536")]
    [InlineData("max-body: 3GiB", "maxBody: 3L * 1024 * 1024 * 1024", "MaxBody", "3221225472")]
    [InlineData("max-output: 10MB", "maxOutput: 10 * 1000 * 1000", "MaxOutput", "10000000")]
    [InlineData("max-output: 2GB", "maxOutput: 2 * 1000 * 1000 * 1000", "MaxOutput", "2000000000")]
    [InlineData("timeout: 1500ms", "timeoutMilliseconds: 1500", "Timeout", "00:00:01.5000000")]
    [InlineData("timeout: 10s", "timeoutMilliseconds: 10 * 1000", "Timeout", "00:00:10")]
    [InlineData("timeout: 2m", "timeoutMilliseconds: 2 * 60 * 1000", "Timeout", "00:02:00")]
    [InlineData("timeout: 168h", "timeoutMilliseconds: 168 * 60 * 60 * 1000", "Timeout", "7.00:00:00")]
    public void Sizes_and_durations_are_written_in_the_manifest_unit(string option, string argument, string property, string value)
    {
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run("f: cat\n  " + option + "\n");

        Assert.Contains(argument + ");", GeneratorHarness.Table(run), StringComparison.Ordinal);
        Assert.Equal(value, Invoke(output, table => Property(Lookup(table, "f"), property)));
    }

    [Fact]
    public void Every_option_reaches_Proc()
    {
        const string Manifest = """
            f: sh -c 'cat'
              content-type: text/plain
              workdir: /srv
              env: A=1
              env: B=2
              pass-env: TZ, LANG
              methods: PUT POST
              request-env: openfaas
              pass-authorization: true
              response: cgi
              auth: hmac-sha256 $HOOK_SECRET X-Signature
              log-stderr: false
            g: cat
              request-env: none
              auth: bearer $TOKEN
            """;
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run(Manifest);

        Assert.Empty(run.Diagnostics);
        Invoke(output, table =>
        {
            object f = Lookup(table, "f")!;
            Assert.Equal("sh -c 'cat'", Property(f, "CommandLine"));
            Assert.Equal("text/plain", Property(f, "ContentType"));
            Assert.Equal("/srv", Property(f, "WorkDir"));
            Assert.Equal("A=1,B=2", Items(f, "Env"));
            Assert.Equal("TZ,LANG", Items(f, "PassEnv"));
            Assert.Equal("PUT,POST", Items(f, "Methods"));
            Assert.Equal("OpenFaas", Property(f, "RequestEnv"));
            Assert.Equal("True", Property(f, "PassAuthorization"));
            Assert.Equal("Cgi", Property(f, "Response"));
            Assert.Equal("HmacSha256", Property(f, "Auth"));
            Assert.Equal("HOOK_SECRET", Property(f, "AuthSecretVariable"));
            Assert.Equal("X-Signature", Property(f, "AuthHeader"));
            Assert.Equal("False", Property(f, "LogStderr"));

            object g = Lookup(table, "g")!;
            Assert.Equal("cat", Property(g, "CommandLine"));
            Assert.Equal("POST", Items(g, "Methods"));
            Assert.Equal("None", Property(g, "RequestEnv"));
            Assert.Equal("Raw", Property(g, "Response"));
            Assert.Equal("Bearer", Property(g, "Auth"));
            Assert.Equal("TOKEN", Property(g, "AuthSecretVariable"));
            Assert.Null(Property(g, "AuthHeader"));
            Assert.Null(Property(g, "Timeout"));
            Assert.Null(Property(g, "LogStderr"));
            return 0;
        });
    }

    [Fact]
    public void Every_http_option_reaches_Proc()
    {
        const string Manifest = """
            web: ./web
              mode: http
              replicas: 4
              ready: /ready?full=1
              idle-stop: 90s
              start-timeout: 1500ms
            api: ./api
              mode: http
            cat: cat
            """;
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run(Manifest);

        Assert.Empty(run.Diagnostics);
        Invoke(output, table =>
        {
            object web = Lookup(table, "web")!;
            Assert.Equal("Http", Property(web, "Mode"));
            Assert.Equal("4", Property(web, "Replicas"));
            Assert.Equal("/ready?full=1", Property(web, "ReadyPath"));
            Assert.Equal("00:01:30", Property(web, "IdleStop"));
            Assert.Equal("00:00:01.5000000", Property(web, "StartTimeout"));

            // Unset, each is left to the server: one worker, a TCP connect, never stopped, its start timeout.
            object api = Lookup(table, "api")!;
            Assert.Equal("Http", Property(api, "Mode"));
            Assert.Null(Property(api, "Replicas"));
            Assert.Null(Property(api, "ReadyPath"));
            Assert.Null(Property(api, "IdleStop"));
            Assert.Null(Property(api, "StartTimeout"));

            Assert.Equal("Exec", Property(Lookup(table, "cat"), "Mode"));
            return 0;
        });
    }

    [Fact]
    public void Function_names_that_match_a_type_or_member_the_table_uses_get_a_suffix()
    {
        (GeneratorDriverRunResult run, Compilation output) = GeneratorHarness.Run(
            "auth-scheme: cat\n  auth: bearer $TOKEN\nto-string: cat\n  response: cgi\nrequest_env_mode: cat\n  request-env: none\n");

        Assert.Empty(run.Diagnostics);
        Assert.Contains("public static readonly Proc AuthScheme_2 = ", GeneratorHarness.Table(run), StringComparison.Ordinal);
        Assert.DoesNotContain(output.GetDiagnostics(), d => d.Severity >= DiagnosticSeverity.Warning);
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

        Invoke(output, table =>
        {
            Assert.Equal("wc", Property(Lookup(table, "wc"), "Executable"));
            Assert.Equal("text/plain", Property(Lookup(table, "wc"), "ContentType"));
            Assert.Equal("WC", Property(Lookup(table, "WC"), "FuncName"));
            Assert.Equal("wc -l", Property(Lookup(table, "wc"), "CommandLine"));
            Assert.Equal("cat", Property(Lookup(table, "cat"), "CommandLine"));
            Assert.Null(Property(Lookup(table, "cat"), "ContentType"));
            Assert.Null(Lookup(table, "Cat"));
            Assert.Null(Lookup(table, "nope"));
            Assert.Null(Lookup(table, ""));
            return 0;
        });
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

    /// <summary>Loads the compiled <paramref name="output"/> and runs <paramref name="use"/> on its FunctionTable type.</summary>
    internal static T Invoke<T>(Compilation output, Func<Type, T> use)
    {
        using var image = new MemoryStream();
        Assert.True(output.Emit(image).Success);
        var context = new System.Runtime.Loader.AssemblyLoadContext("generated", isCollectible: true);
        try
        {
            image.Position = 0;
            return use(context.LoadFromStream(image).GetType("AotFaas.Functions.FunctionTable")!);
        }
        finally
        {
            context.Unload();
        }
    }

    internal static string Constant(Type table, string name) => table.GetField(name)!.GetRawConstantValue()!.ToString()!.ToLowerInvariant();

    internal static object? Lookup(Type table, string name) => table.GetMethod("GetProcByFuncName")!.Invoke(null, [name]);

    internal static string? Property(object? proc, string name) => proc?.GetType().GetProperty(name)!.GetValue(proc)?.ToString();

    private static string Items(object proc, string name)
        => string.Join(",", (IEnumerable<string>)proc.GetType().GetProperty(name)!.GetValue(proc)!);
}
