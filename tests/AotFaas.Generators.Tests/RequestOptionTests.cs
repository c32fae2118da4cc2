using AotFaas.Generators.Model;
using Microsoft.CodeAnalysis;

namespace AotFaas.Generators.Tests;

/// <summary>The request and response options (methods, request-env, pass-authorization, response, auth).</summary>
public class RequestOptionTests
{
    private static ManifestModel Parse(string manifest) => GeneratorHarness.Parse(manifest);

    private static FunctionOptions Options(string optionLines) => GeneratorHarness.Options(optionLines);

    private static DiagnosticInfo Error(string optionLines)
        => Assert.Single(Parse("f: cat\n" + optionLines).Diagnostics);

    [Fact]
    public void Methods_take_a_list_in_order_without_repeats()
        => Assert.Equal(["GET", "POST", "PROPFIND", "VERSION-CONTROL"], Options("  methods: GET, POST GET PROPFIND VERSION-CONTROL\n").Methods);

    [Fact]
    public void Unset_options_keep_the_defaults()
    {
        FunctionOptions options = Options(string.Empty);

        Assert.Empty(options.Methods);
        Assert.Null(options.RequestEnv);
        Assert.Null(options.PassAuthorization);
        Assert.Null(options.Response);
        Assert.Null(options.AuthScheme);
    }

    [Theory]
    [InlineData("cgi")]
    [InlineData("openfaas")]
    [InlineData("none")]
    public void Request_env_takes_its_three_modes(string mode)
        => Assert.Equal(mode, Options($"  request-env: {mode}\n").RequestEnv);

    [Theory]
    [InlineData("raw")]
    [InlineData("cgi")]
    public void Response_takes_raw_or_cgi(string mode)
        => Assert.Equal(mode, Options($"  response: {mode}\n").Response);

    [Theory]
    [InlineData("true", true)]
    [InlineData("false", false)]
    public void Pass_authorization_takes_true_or_false(string value, bool expected)
        => Assert.Equal(expected, Options($"  pass-authorization: {value}\n").PassAuthorization);

    [Fact]
    public void Auth_bearer_names_the_variable()
    {
        FunctionOptions options = Options("  auth: bearer $API_TOKEN\n");

        Assert.Equal(("bearer", "API_TOKEN", (string?)null), (options.AuthScheme, options.AuthSecretVariable, options.AuthHeader));
    }

    [Theory]
    [InlineData("hmac-sha256 $HOOK_SECRET", "X-Hub-Signature-256")]
    [InlineData("hmac-sha256 $HOOK_SECRET X-Hub-Signature-256", "X-Hub-Signature-256")]
    [InlineData("hmac-sha256 $HOOK_SECRET X-Signature", "X-Signature")]
    public void Auth_hmac_names_the_variable_and_the_header(string value, string header)
    {
        FunctionOptions options = Options($"  auth: {value}\n");

        Assert.Equal(("hmac-sha256", "HOOK_SECRET", header), (options.AuthScheme, options.AuthSecretVariable, options.AuthHeader));
    }

    [Theory]
    [InlineData("token $GITLAB_TOKEN X-Gitlab-Token", "token", "GITLAB_TOKEN", "X-Gitlab-Token")]
    [InlineData("stripe $STRIPE_WHSEC", "stripe", "STRIPE_WHSEC", null)]
    [InlineData("slack $SLACK_SIGNING_SECRET", "slack", "SLACK_SIGNING_SECRET", null)]
    public void Auth_token_stripe_and_slack_name_their_variable_and_the_token_its_header(string value, string scheme, string variable, string? header)
    {
        FunctionOptions options = Options($"  auth: {value}\n");

        Assert.Equal((scheme, variable, header), (options.AuthScheme, options.AuthSecretVariable, options.AuthHeader));
    }

    [Theory]
    [InlineData("  methods: get\n", "write GET")]
    [InlineData("  methods: POST, g3t\n", "not an HTTP method")]
    [InlineData("  methods: CONNECT\n", "tunnel")]
    [InlineData("  request-env: CGI\n", "cgi, openfaas, none")]
    [InlineData("  response: json\n", "raw, cgi")]
    [InlineData("  pass-authorization: yes\n", "true or false")]
    [InlineData("  auth: basic $X\n", "bearer $VARIABLE")]
    [InlineData("  auth: bearer\n", "bearer $VARIABLE")]
    [InlineData("  auth: bearer $A $B\n", "bearer $VARIABLE")]
    [InlineData("  auth: bearer $1X\n", "not a variable name")]
    [InlineData("  auth: hmac-sha256 $S X-Sig(1)\n", "not a header name")]
    [InlineData("  auth: token $T\n", "then the header that carries it")]
    [InlineData("  auth: token $T Authorization\n", "auth: bearer $T")]
    [InlineData("  auth: token $T X-Token(\n", "not a header name")]
    [InlineData("  auth: stripe $S Stripe-Signature\n", "endpoint's signing secret")]
    [InlineData("  auth: slack\n", "app's signing secret")]
    [InlineData("  auth: gitlab $T\n", "'token $VARIABLE Header-Name', 'stripe $VARIABLE' or 'slack $VARIABLE'")]
    [InlineData("  auth: token $GITLAB_TOKEN X-Gitlab-Token\n  pass-env: GITLAB_TOKEN\n", "never reaches the program")]
    [InlineData("  pass-env: API_TOKEN\n  auth: bearer $API_TOKEN\n", "never reaches the program")]
    [InlineData("  auth: hmac-sha256 $SECRET\n  pass-env: HOME SECRET\n", "never reaches the program")]
    [InlineData("  auth: bearer $API_TOKEN\n  pass-authorization: true\n", "pass-authorization cannot be true")]
    [InlineData("  pass-authorization: true\n  auth: bearer $API_TOKEN\n", "pass-authorization cannot be true")]
    public void Bad_values_are_FAAS008_at_the_value(string optionLines, string reason)
    {
        DiagnosticInfo diagnostic = Error(optionLines);

        Assert.Equal("FAAS008", diagnostic.Descriptor.Id);
        Assert.Contains(reason, diagnostic.MessageArgs[1], StringComparison.Ordinal);
        string line = optionLines.TrimEnd('\n').Split('\n')[^1];
        Assert.Equal(line.IndexOf(':', StringComparison.Ordinal) + 3, diagnostic.Location!.Value.Column);
    }

    [Fact]
    public void Pass_authorization_is_allowed_with_hmac()
        => Assert.True(Options("  auth: hmac-sha256 $S\n  pass-authorization: true\n").PassAuthorization);

    [Theory]
    [InlineData("hook: cat\n  auth: bearer s3cr3t-t0ken\n", "(2,16): FAAS015")]
    [InlineData("hook: cat\n  auth: hmac-sha256   abc123 X-Sig\n", "(2,23): FAAS015")]
    [InlineData("hook: cat\n  auth: token s3cr3t X-Gitlab-Token\n", "(2,15): FAAS015")]
    [InlineData("hook: cat\n  auth: stripe whsec_s3cr3t\n", "(2,16): FAAS015")]
    [InlineData("hook: cat\n  auth: slack s3cr3t\n", "(2,15): FAAS015")]
    public void A_secret_written_in_the_manifest_is_FAAS015_at_the_secret_and_names_the_lines_scheme(string manifest, string position)
    {
        GeneratorDriverRunResult run = GeneratorHarness.Run(manifest).Run;
        string scheme = manifest.Split("auth:")[1].Trim().Split(' ')[0];

        Assert.Equal([position], GeneratorHarness.Positions(run));
        Assert.Equal(DiagnosticSeverity.Error, run.Diagnostics[0].Severity);
        Assert.DoesNotContain("s3cr3t", run.Diagnostics[0].GetMessage(), StringComparison.Ordinal);
        Assert.EndsWith($"for example auth: {scheme} $API_TOKEN", run.Diagnostics[0].GetMessage(), StringComparison.Ordinal);
        Assert.Null(GeneratorHarness.Table(run));
    }

    [Fact]
    public void The_options_reach_the_generated_table()
    {
        const string manifest = """
            hook: cat
              methods: PUT POST
              request-env: openfaas
              response: cgi
              pass-authorization: true
              auth: hmac-sha256 $HOOK_SECRET X-Signature
            """;

        string table = GeneratorHarness.Table(GeneratorHarness.Run(manifest).Run)!;

        Assert.Contains("""
                        methods: ["PUT", "POST"],
                        requestEnv: RequestEnvMode.OpenFaas,
                        passAuthorization: true,
                        response: ResponseMode.Cgi,
                        auth: AuthScheme.HmacSha256,
                        authSecretVariable: "HOOK_SECRET",
                        authHeader: "X-Signature");
            """, table, StringComparison.Ordinal);
    }
}
