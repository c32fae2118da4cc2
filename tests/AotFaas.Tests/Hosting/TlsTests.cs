using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Hosting;
using AotFaas.Testing;
using AotFaas.Tests.Operations;
using Microsoft.Extensions.Logging;

namespace AotFaas.Tests.Hosting;

/// <summary>
/// TLS in process: the certificate files (every PEM key format, a chain, the one-line errors), their renewal, the https
/// listeners (ALPN, the marks the swap passes on) and the hand-over of HTTP/2 connections. Certificates by openssl.
/// </summary>
public sealed class TlsTests : IClassFixture<TlsTests.Pki>
{
    private readonly TestPki _pki;

    public TlsTests(Pki pki)
    {
        _pki = pki.Value;
    }

    [Theory]
    [InlineData(TestPki.KeyFormat.EcPkcs8)]
    [InlineData(TestPki.KeyFormat.EcSec1)]
    [InlineData(TestPki.KeyFormat.RsaPkcs8)]
    [InlineData(TestPki.KeyFormat.RsaPkcs1)]
    public async Task Every_PEM_key_format_is_served(TestPki.KeyFormat format)
    {
        TestPki.Issued issued = _pki.Issue($"format-{format}", format);
        await using FaasServer server = await StartAsync("https://127.0.0.1:0", issued);

        TestPki.Handshake handshake = await _pki.HandshakeAsync(Port(server), "h2", "http/1.1");

        Assert.Equal(issued.Serial, handshake.Serial);
        Assert.Equal(SslPolicyErrors.None, handshake.Errors);
        Assert.Equal("h2", handshake.Protocol);
    }

    [Fact]
    public async Task The_chain_in_the_certificate_file_is_served_and_ALPN_chooses_HTTP_2_or_HTTP_1_1()
    {
        // Signed by the intermediate: a client that trusts only the root needs the intermediate from the server.
        TestPki.Issued issued = _pki.Issue("chained", chain: true);
        await using FaasServer server = await StartAsync("https://127.0.0.1:0", issued);
        var address = new Uri(server.Urls.Single());

        Assert.Equal(SslPolicyErrors.None, (await _pki.HandshakeAsync(Port(server), "h2", "http/1.1")).Errors);
        Assert.Equal("http/1.1", (await _pki.HandshakeAsync(Port(server), "http/1.1")).Protocol);
        foreach (Version version in (Version[])[HttpVersion.Version20, HttpVersion.Version11])
        {
            using HttpClient client = _pki.Client(address, version);
            using HttpResponseMessage response = await client.PostAsync("/function/echo", new StringContent("over tls"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(version, response.Version);
            Assert.Equal("over tls", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public void The_chain_is_sent_as_the_file_gives_it_less_a_self_signed_root_at_its_end()
    {
        TestPki.Issued issued = _pki.Issue("file-chain", chain: true);
        string unrelated = _pki.Issue("file-chain-unrelated").CertificatePath;
        string root = _pki.RootPath;
        string[] blocks = [File.ReadAllText(issued.CertificatePath), File.ReadAllText(unrelated), File.ReadAllText(root)];
        File.WriteAllText(issued.CertificatePath, string.Concat(blocks));

        TlsCertificate certificate = TlsCertificate.Load(issued.CertificatePath, issued.KeyPath, new CapturingLogger().CreateLogger("t"));

        // Not rebuilt from the system's roots: an unrelated certificate stays (the runtime's chain building would drop it).
        Assert.Equal(["CN=AotFaas test intermediate", "CN=localhost"], certificate.Chain.Select(static c => c.Subject));
    }

    [Fact]
    public async Task The_listeners_of_https_addresses_are_marked_for_the_swap_and_listed_as_https()
    {
        TestPki.Issued issued = _pki.Issue("marks");
        int localhostPort = FreePort();
        await using FaasServer server = await StartAsync($"http://127.0.0.1:0;https://127.0.0.1:0;https://localhost:{localhostPort}", issued);

        IReadOnlyList<CappedSocketListener> listeners = server.Transport.Listeners;
        Assert.False(listeners[0].Tls);
        Assert.All(listeners.Skip(1), listener => Assert.True(listener.Tls));
        Assert.InRange(listeners.Count, 3, 4);
        Assert.StartsWith("http://127.0.0.1:", server.Urls[0], StringComparison.Ordinal);
        Assert.StartsWith("https://127.0.0.1:", server.Urls[1], StringComparison.Ordinal);
        Assert.Equal($"https://localhost:{localhostPort}", server.Urls[2]);
    }

    [Fact]
    public async Task While_handing_over_an_HTTP_2_connection_is_closed_with_GOAWAY_and_HTTP_1_1_is_told_Connection_close()
    {
        TestPki.Issued issued = _pki.Issue("handover");
        var log = new CapturingLogger();
        await using FaasServer server = await StartAsync("https://127.0.0.1:0", issued, log);
        var address = new Uri(server.Urls.Single());
        int connections = 0;
        using HttpClient h2 = _pki.Client(address, HttpVersion.Version20, async (context, cancel) =>
        {
            Interlocked.Increment(ref connections);
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(context.DnsEndPoint, cancel);
            return new NetworkStream(socket, ownsSocket: true);
        });
        using HttpClient h1 = _pki.Client(address, HttpVersion.Version11);
        using (HttpResponseMessage before = await h2.PostAsync("/function/echo", new StringContent("before")))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        server.Lifecycle.BeginHandOver();
        using (HttpResponseMessage during = await h2.PostAsync("/function/echo", new StringContent("during")))
        {
            Assert.Equal("during", await during.Content.ReadAsStringAsync());
            Assert.False(during.Headers.Contains("Connection"));
        }

        // GOAWAY: the server ends the connection the client would otherwise keep; the next request opens another.
        // (The one slot left is the listener's, taken while it waits for the next connection.)
        Assert.True(await EventuallyAsync(() => server.Transport.Cap.Open == 1), "the HTTP/2 connection was not closed");
        using (HttpResponseMessage after = await h2.PostAsync("/function/echo", new StringContent("after")))
        {
            Assert.Equal("after", await after.Content.ReadAsStringAsync());
        }

        Assert.Equal(2, connections);
        using (HttpResponseMessage http1 = await h1.PostAsync("/function/echo", new StringContent("http/1.1")))
        {
            Assert.True(http1.Headers.ConnectionClose);
        }

        Assert.DoesNotContain(log.Entries, entry => entry.Level >= LogLevel.Warning);
    }

    [Theory]
    [InlineData("missing", "cannot read the TLS certificate '{cert}': no such file")]
    [InlineData("directory", "cannot read the TLS certificate '{cert}': it is a directory")]
    [InlineData("endless", "cannot read the TLS certificate '{cert}': it is larger than 1 MiB, which no PEM certificate is")]
    [InlineData("large", "cannot read the TLS key '{key}': it is larger than 1 MiB, which no PEM key is")]
    [InlineData("not-pem", "'{cert}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    [InlineData("key-as-certificate", "'{cert}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    [InlineData("certificate-as-key", "'{key}' holds no PEM private key")]
    [InlineData("encrypted", "'{key}' is an encrypted key: give the key unencrypted")]
    [InlineData("mismatch", "the key '{key}' does not match the certificate '{cert}'")]
    [InlineData("rsa-key-for-ec", "'{key}' is not an EC private key, which the certificate '{cert}' needs")]
    public void A_certificate_or_key_that_cannot_be_used_is_one_line_naming_the_file(string mistake, string expected)
    {
        TestPki.Issued good = _pki.Issue("mistake-" + mistake);
        string cert = good.CertificatePath;
        string key = good.KeyPath;
        switch (mistake)
        {
            case "missing":
                cert = Path.Combine(_pki.Folder, "no-such.pem");
                break;
            case "directory":
                cert = _pki.Folder;
                break;
            case "endless":
                // A device that claims a size of 0 and never ends.
                cert = "/dev/zero";
                break;
            case "large":
                File.WriteAllBytes(key, new byte[(1 << 20) + 1]);
                break;
            case "not-pem":
                File.WriteAllBytes(cert, [0x30, 0x82, 0x01, 0x0a]);
                break;
            case "key-as-certificate":
                cert = key;
                break;
            case "certificate-as-key":
                key = cert;
                break;
            case "encrypted":
                key = _pki.Encrypted(key);
                break;
            case "mismatch":
                key = _pki.Issue("mistake-other").KeyPath;
                break;
            case "rsa-key-for-ec":
                key = _pki.Issue("mistake-rsa", TestPki.KeyFormat.RsaPkcs8).KeyPath;
                break;
        }

        var e = Assert.Throws<TlsCertificateException>(() => TlsCertificate.Load(cert, key, new CapturingLogger().CreateLogger("t")));

        Assert.Contains(expected.Replace("{cert}", cert, StringComparison.Ordinal).Replace("{key}", key, StringComparison.Ordinal), e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Renewed_files_are_served_after_the_next_check_and_a_broken_renewal_keeps_the_pair_in_use_with_one_warning()
    {
        TestPki.Issued first = _pki.Issue("renew-1");
        TestPki.Issued second = _pki.Issue("renew-2", TestPki.KeyFormat.RsaPkcs8);
        string live = Directory.CreateDirectory(Path.Combine(_pki.Folder, "live-renew")).FullName;
        string cert = Path.Combine(live, "fullchain.pem");
        string key = Path.Combine(live, "privkey.pem");
        File.CreateSymbolicLink(cert, first.CertificatePath);
        File.CreateSymbolicLink(key, first.KeyPath);
        var log = new CapturingLogger();
        TlsCertificate certificate = TlsCertificate.Load(cert, key, log.CreateLogger("AotFaas"));
        Assert.Equal(first.Serial, certificate.Certificate.SerialNumber);

        // Unchanged: nothing happens.
        certificate.Check();
        Assert.Equal(first.Serial, certificate.Certificate.SerialNumber);

        // certbot switches the links one after the other: caught in between, the new certificate and the old key
        // do not load; that is no warning yet. Once both are switched, the new pair is served.
        Relink(cert, second.CertificatePath);
        certificate.Check();
        Assert.Equal(first.Serial, certificate.Certificate.SerialNumber);
        Relink(key, second.KeyPath);
        certificate.Check();
        Assert.Equal(second.Serial, certificate.Certificate.SerialNumber);
        Assert.DoesNotContain(log.Entries, entry => entry.Level >= LogLevel.Warning);
        Assert.Contains(log.Entries, entry => entry.Message.StartsWith("TLS: the certificate files changed: now serving", StringComparison.Ordinal) && entry.Message.Contains(second.Serial, StringComparison.Ordinal));

        // A broken renewal: the pair in use goes on; the failure is logged once it is seen unchanged, and only once.
        string broken = Path.Combine(_pki.Folder, "broken.pem");
        File.WriteAllText(broken, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n");
        Relink(cert, broken);
        for (int i = 0; i < 4; i++)
        {
            certificate.Check();
        }

        Assert.Equal(second.Serial, certificate.Certificate.SerialNumber);
        CapturingLogger.Entry warning = Assert.Single(log.Entries, entry => entry.Level == LogLevel.Warning);
        Assert.Contains($"cannot be used, so 'CN=localhost' (serial {second.Serial},", warning.Message, StringComparison.Ordinal);
        Assert.Contains($"'{cert}' holds no PEM certificate", warning.Message, StringComparison.Ordinal);

        // Files that disappear (a link removed before it is made again) are a failure like any other.
        File.Delete(cert);
        certificate.Check();
        certificate.Check();
        Assert.Contains(log.Entries, entry => entry.Level == LogLevel.Warning && entry.Message.Contains($"cannot read the TLS certificate '{cert}': no such file", StringComparison.Ordinal));
        Assert.Equal(second.Serial, certificate.Certificate.SerialNumber);
    }

    [Fact]
    public void An_expired_certificate_is_served_with_a_warning_but_does_not_replace_a_valid_one()
    {
        TestPki.Issued expired = _pki.Issue("expired", days: -1);
        var log = new CapturingLogger();
        TlsCertificate served = TlsCertificate.Load(expired.CertificatePath, expired.KeyPath, log.CreateLogger("AotFaas"));
        Assert.Equal(expired.Serial, served.Certificate.SerialNumber);
        Assert.Contains(log.Entries, entry => entry.Level == LogLevel.Warning && entry.Message.Contains(" expired on ", StringComparison.Ordinal) && entry.Message.Contains("clients will refuse it", StringComparison.Ordinal));

        TestPki.Issued valid = _pki.Issue("valid");
        string cert = Path.Combine(_pki.Folder, "expiring.pem");
        string key = Path.Combine(_pki.Folder, "expiring.key");
        File.Copy(valid.CertificatePath, cert);
        File.Copy(valid.KeyPath, key);
        var renewals = new CapturingLogger();
        TlsCertificate certificate = TlsCertificate.Load(cert, key, renewals.CreateLogger("AotFaas"));
        File.Copy(expired.CertificatePath, cert, overwrite: true);
        File.Copy(expired.KeyPath, key, overwrite: true);
        certificate.Check();
        certificate.Check();

        Assert.Equal(valid.Serial, certificate.Certificate.SerialNumber);
        Assert.Contains(renewals.Entries, entry => entry.Level == LogLevel.Warning && entry.Message.Contains($"the new certificate 'CN=localhost' (serial {expired.Serial},", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_new_handshake_has_changed_files_checked_and_a_later_one_gets_the_new_certificate()
    {
        TestPki.Issued first = _pki.Issue("handshake-1");
        TestPki.Issued second = _pki.Issue("handshake-2");
        string cert = Path.Combine(_pki.Folder, "handshake.pem");
        string key = Path.Combine(_pki.Folder, "handshake.key");
        File.Copy(first.CertificatePath, cert);
        File.Copy(first.KeyPath, key);
        await using FaasServer server = await StartAsync("https://127.0.0.1:0", new TestPki.Issued(cert, key, first.Serial));
        Assert.Equal(first.Serial, (await _pki.HandshakeAsync(Port(server))).Serial);

        // Written in place (not renamed): the content is compared, whatever the way of writing.
        File.WriteAllBytes(key, File.ReadAllBytes(second.KeyPath));
        File.WriteAllBytes(cert, File.ReadAllBytes(second.CertificatePath));

        string served = first.Serial;
        for (long deadline = Environment.TickCount64 + 20_000; served != second.Serial && Environment.TickCount64 < deadline;)
        {
            await Task.Delay(100);
            served = (await _pki.HandshakeAsync(Port(server))).Serial;
        }

        Assert.Equal(second.Serial, served);
    }

    private static async Task<FaasServer> StartAsync(string urls, TestPki.Issued certificate, ILoggerFactory? log = null)
    {
        var echo = new Proc("echo", "cat");
        var options = new ServerOptions(urls) { TlsCertificatePath = certificate.CertificatePath, TlsKeyPath = certificate.KeyPath };
        var server = new FaasServer(options, [echo], name => name == "echo" ? echo : null, static policy => new ExecInvoker(policy), log ?? new CapturingLogger());
        await server.StartAsync();
        return server;
    }

    private static int Port(FaasServer server) => new Uri(server.Urls.First(url => url.StartsWith("https://", StringComparison.Ordinal))).Port;

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Relink(string link, string target)
    {
        string aside = link + ".new";
        File.CreateSymbolicLink(aside, target);
        File.Move(aside, link, overwrite: true);
    }

    private static async Task<bool> EventuallyAsync(Func<bool> condition)
    {
        for (int i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(20);
        }

        return condition();
    }

    /// <summary>One set of certificates for the class.</summary>
    public sealed class Pki : IDisposable
    {
        public TestPki Value { get; } = new();

        public void Dispose() => Value.Dispose();
    }
}
