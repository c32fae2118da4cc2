using System.Globalization;
using AotFaas.Testing;

namespace AotFaas.EndToEnd;

/// <summary>
/// TLS on the published binary, with certificates made by openssl and real clients: curl over HTTP/1.1 and HTTP/2,
/// openssl s_client to see which certificate a new connection gets across a renewal (certbot's symbolic links), and
/// the one-line errors of a command line or certificate that cannot serve. The swap of an https server is in
/// <see cref="SwapTests"/>.
/// </summary>
[Collection(nameof(PublishedBinary))]
public sealed class TlsTests(PublishedBinary binary, TlsTests.Pki certificates) : IClassFixture<TlsTests.Pki>
{
    private readonly TestPki _pki = certificates.Value;

    [Fact]
    public async Task Curl_gets_HTTP_1_1_and_HTTP_2_by_ALPN_trusting_only_the_root_as_the_server_sends_its_chain()
    {
        TestPki.Issued issued = _pki.Issue("curl", TestPki.KeyFormat.RsaPkcs8, chain: true);
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"https://127.0.0.1:{port}", "--tls-cert", issued.CertificatePath, "--tls-key", issued.KeyPath]);

        Assert.Equal(("hello, tls", "200 1.1"), Curl("--http1.1", "--data-binary", "tls", $"https://127.0.0.1:{port}/function/greet"));
        Assert.Equal(("hello, h2", "200 2"), Curl("--http2", "--data-binary", "h2", $"https://localhost:{port}/function/greet"));
        Assert.Equal(("bad input\n", "500 2"), Curl("--http2", "--data-binary", "x", $"https://127.0.0.1:{port}/function/fail"));
        Assert.Equal((string.Empty, "404 2"), Curl("--http2", "--data-binary", "x", $"https://127.0.0.1:{port}/function/nosuch"));
        Assert.Equal(("GET /a/b q=1", "200 2"), Curl("--http2", $"https://127.0.0.1:{port}/function/whoami/a/b?q=1"));
        Assert.Contains($"Now listening on: https://127.0.0.1:{port}", server.Output, StringComparison.Ordinal);
        Assert.Contains($"TLS: serving 'CN=localhost' (serial {issued.Serial},", server.Output, StringComparison.Ordinal);
        Assert.Contains("chain of 1)", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_chain_is_served_as_the_certificate_file_gives_it_less_its_root()
    {
        // certbot's fullchain.pem holds the server's certificate and the intermediate; some files add more, or the root.
        TestPki.Issued issued = _pki.Issue("file-chain", chain: true);
        string unrelated = _pki.Issue("file-chain-unrelated").CertificatePath;
        File.WriteAllText(issued.CertificatePath, File.ReadAllText(issued.CertificatePath) + File.ReadAllText(unrelated) + File.ReadAllText(_pki.RootPath));
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"https://127.0.0.1:{port}", "--tls-cert", issued.CertificatePath, "--tls-key", issued.KeyPath]);

        (int code, string output) = Repo.Run("sh", ["-c", $"openssl s_client -connect 127.0.0.1:{port} -servername localhost -showcerts </dev/null 2>/dev/null"], TimeSpan.FromSeconds(30));

        Assert.Equal(0, code);
        string[] subjects = [.. output.Split('\n').Where(static line => line.StartsWith(" 0 s:", StringComparison.Ordinal) || line.StartsWith(" 1 s:", StringComparison.Ordinal) || line.StartsWith(" 2 s:", StringComparison.Ordinal) || line.StartsWith(" 3 s:", StringComparison.Ordinal))];
        Assert.Equal([" 0 s:CN = localhost", " 1 s:CN = AotFaas test intermediate", " 2 s:CN = localhost"], subjects);
        Assert.Contains("chain of 2)", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_a_certificate_and_no_URLs_the_port_serves_TLS()
    {
        TestPki.Issued issued = _pki.Issue("port", TestPki.KeyFormat.EcSec1);
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--port", port.ToString(CultureInfo.InvariantCulture), "--tls-cert", issued.CertificatePath, "--tls-key", issued.KeyPath]);

        Assert.Equal(("hello, port", "200 2"), Curl("--http2", "--data-binary", "port", $"https://127.0.0.1:{port}/function/greet"));
    }

    [Fact]
    public async Task A_renewal_by_certbots_symbolic_links_reaches_new_connections_without_a_restart_and_a_broken_one_keeps_the_old_with_one_warning()
    {
        // certbot's layout: live/NAME/fullchain.pem and privkey.pem are links into archive/NAME/, switched one after the other.
        TestPki.Issued first = _pki.Issue("renewal-1", chain: true);
        TestPki.Issued second = _pki.Issue("renewal-2", TestPki.KeyFormat.RsaPkcs8, chain: true);
        string live = Directory.CreateDirectory(Path.Combine(_pki.Folder, "live", "example")).FullName;
        string fullchain = Path.Combine(live, "fullchain.pem");
        string privkey = Path.Combine(live, "privkey.pem");
        Relink(fullchain, first.CertificatePath);
        Relink(privkey, first.KeyPath);
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"https://127.0.0.1:{port}", "--tls-cert", fullchain, "--tls-key", privkey]);
        Assert.Equal(first.Serial, ServedSerial(port));

        Relink(fullchain, second.CertificatePath);
        Relink(privkey, second.KeyPath);

        Assert.True(await EventuallyServedAsync(port, second.Serial), server.Output);
        Assert.Equal(("hello, renewed", "200 2"), Curl("--http2", "--data-binary", "renewed", $"https://127.0.0.1:{port}/function/greet"));
        Assert.Contains($"TLS: the certificate files changed: now serving 'CN=localhost' (serial {second.Serial},", server.Output, StringComparison.Ordinal);

        // A renewal gone wrong: a truncated certificate. The one served goes on; the failure is one warning.
        string broken = Path.Combine(_pki.Folder, "truncated.pem");
        File.WriteAllText(broken, File.ReadAllText(first.CertificatePath)[..100]);
        Relink(fullchain, broken);
        const string Warning = "TLS: the certificate files changed but cannot be used";
        for (long deadline = Environment.TickCount64 + 20_000; !server.Output.Contains(Warning, StringComparison.Ordinal) && Environment.TickCount64 < deadline;)
        {
            Assert.Equal(second.Serial, ServedSerial(port));
            await Task.Delay(200);
        }

        Assert.Contains($"{Warning}, so 'CN=localhost' (serial {second.Serial},", server.Output, StringComparison.Ordinal);
        Assert.Contains($"'{fullchain}' holds no PEM certificate", server.Output, StringComparison.Ordinal);

        // More handshakes, more checks: the same broken files are not logged again.
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(second.Serial, ServedSerial(port));
            await Task.Delay(500);
        }

        Assert.Single(server.Output.Split('\n'), line => line.Contains(Warning, StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_expired_certificate_is_served_with_one_warning()
    {
        TestPki.Issued expired = _pki.Issue("expired", days: -1);
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"https://127.0.0.1:{port}", "--tls-cert", expired.CertificatePath, "--tls-key", expired.KeyPath]);

        Assert.Equal(expired.Serial, ServedSerial(port, verify: false));
        Assert.Contains("warn: AotFaas[0] TLS: the certificate 'CN=localhost'", server.Output, StringComparison.Ordinal);
        Assert.Contains("expired on", server.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https-url-alone", 2, "aotfaas: https://127.0.0.1:{port}: an https URL needs --tls-cert FILE and --tls-key FILE (PEM)")]
    [InlineData("https-aspnetcore-urls", 2, "aotfaas: https://127.0.0.1:{port}: an https URL needs --tls-cert FILE and --tls-key FILE (PEM)")]
    [InlineData("certificate-without-key", 2, "aotfaas: --tls-cert and --tls-key go together: give both (PEM files)")]
    [InlineData("certificate-with-http-url", 2, "aotfaas: --tls-cert is given, but none of the URLs to listen on is https ('http://127.0.0.1:{port}'): write https:// for those that serve TLS")]
    [InlineData("missing-certificate", 1, "aotfaas: cannot read the TLS certificate '{missing}': no such file; refusing to start")]
    [InlineData("key-of-another-certificate", 1, "aotfaas: the key '{other}' does not match the certificate '{cert}'; refusing to start")]
    [InlineData("encrypted-key", 1, "aotfaas: '{encrypted}' is an encrypted key: give the key unencrypted (openssl pkey -in ENCRYPTED -out PLAIN), readable by this server's user only; refusing to start")]
    public void A_command_line_or_certificate_that_cannot_serve_TLS_is_one_line_and_an_exit_code(string mistake, int exitCode, string expected)
    {
        TestPki.Issued issued = _pki.Issue("mistake-" + mistake);
        int port = RunningServer.FreePort();
        string https = $"https://127.0.0.1:{port}";
        string missing = Path.Combine(_pki.Folder, "missing.pem");
        string other = _pki.Issue("other-" + mistake).KeyPath;
        string encrypted = mistake == "encrypted-key" ? _pki.Encrypted(issued.KeyPath) : string.Empty;
        var environment = new Dictionary<string, string> { [RunningServer.HookSecretVariable] = RunningServer.HookSecret };
        string[] args = mistake switch
        {
            "https-url-alone" => ["--urls", https],
            "https-aspnetcore-urls" => [],
            "certificate-without-key" => ["--tls-cert", issued.CertificatePath, "--urls", https],
            "certificate-with-http-url" => ["--tls-cert", issued.CertificatePath, "--tls-key", issued.KeyPath, "--urls", $"http://127.0.0.1:{port}"],
            "missing-certificate" => ["--tls-cert", missing, "--tls-key", issued.KeyPath, "--urls", https],
            "key-of-another-certificate" => ["--tls-cert", issued.CertificatePath, "--tls-key", other, "--urls", https],
            "encrypted-key" => ["--tls-cert", issued.CertificatePath, "--tls-key", encrypted, "--urls", https],
            _ => throw new ArgumentOutOfRangeException(nameof(mistake)),
        };
        if (mistake == "https-aspnetcore-urls")
        {
            environment["ASPNETCORE_URLS"] = https;
        }

        (int code, string output) = Repo.Run(binary.Path, args, TimeSpan.FromSeconds(30), environment);

        string line = expected.Replace("{port}", port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{missing}", missing, StringComparison.Ordinal).Replace("{other}", other, StringComparison.Ordinal)
            .Replace("{cert}", issued.CertificatePath, StringComparison.Ordinal).Replace("{encrypted}", encrypted, StringComparison.Ordinal);
        Assert.Equal(exitCode, code);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(line, lines[0]);
        Assert.Equal(exitCode == 2 ? ["Try 'aotfaas --help'."] : [], lines[1..]);
    }

    /// <summary>curl, trusting only the test root: the body, and the status and HTTP version it got.</summary>
    private (string Body, string Status) Curl(params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string[])["-sS", "--cacert", _pki.RootPath, "-w", "\n%{http_code} %{http_version}", .. args])
        {
            start.ArgumentList.Add(arg);
        }

        using var curl = System.Diagnostics.Process.Start(start)!;
        Task<string> errors = curl.StandardError.ReadToEndAsync();
        string output = curl.StandardOutput.ReadToEnd();
        Assert.True(curl.WaitForExit(30_000), "curl did not finish");
        Assert.True(curl.ExitCode == 0, $"curl {string.Join(' ', args)} exited with {curl.ExitCode}: {errors.Result}");
        int last = output.LastIndexOf('\n');
        return (output[..last], output[(last + 1)..]);
    }

    /// <summary>The serial number of the certificate a new connection gets, as openssl s_client sees it (verified against the root unless told not to).</summary>
    private string ServedSerial(int port, bool verify = true)
    {
        string check = verify ? $"-verify_return_error -CAfile '{_pki.RootPath}' -verify_hostname localhost" : string.Empty;
        (int code, string output) = Repo.Run("sh", ["-c", $"openssl s_client -connect 127.0.0.1:{port} -servername localhost {check} </dev/null 2>/dev/null | openssl x509 -noout -serial"], TimeSpan.FromSeconds(30));
        output = output.Trim();
        Assert.True(code == 0 && output.StartsWith("serial=", StringComparison.Ordinal), $"openssl s_client failed ({code}): {output}");
        return output["serial=".Length..];
    }

    private async Task<bool> EventuallyServedAsync(int port, string serial)
    {
        for (long deadline = Environment.TickCount64 + 20_000; Environment.TickCount64 < deadline; await Task.Delay(200))
        {
            if (ServedSerial(port) == serial)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Points <paramref name="link"/> at <paramref name="target"/> by renaming a new link over it.</summary>
    private static void Relink(string link, string target)
    {
        string aside = link + ".new";
        File.CreateSymbolicLink(aside, target);
        File.Move(aside, link, overwrite: true);
    }

    /// <summary>One set of certificates for the class (the root, an intermediate; each test issues its own).</summary>
    public sealed class Pki : IDisposable
    {
        public TestPki Value { get; } = new();

        public void Dispose() => Value.Dispose();
    }
}
