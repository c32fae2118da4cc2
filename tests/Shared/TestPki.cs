using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace AotFaas.Testing;

/// <summary>
/// Certificates made by <c>openssl</c> in a folder of their own, as an operator makes them: a root CA, an intermediate
/// CA, and server certificates for localhost, 127.0.0.1 and ::1 with keys in each PEM format the server reads.
/// Shared by the unit tests (tests/AotFaas.Tests) and the end-to-end tests.
/// </summary>
public sealed class TestPki : IDisposable
{
    private int _serial = 0x1000;

    public TestPki()
    {
        Folder = Directory.CreateTempSubdirectory("aotfaas-pki-").FullName;
        OpenSsl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", At("root.key"), "-out", RootPath,
            "-days", "30", "-subj", "/CN=AotFaas test root", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        File.WriteAllText(At("intermediate.ext"), "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n");
        OpenSsl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", At("intermediate.key"), "-out", At("intermediate.csr"), "-subj", "/CN=AotFaas test intermediate");
        OpenSsl("x509", "-req", "-in", At("intermediate.csr"), "-CA", RootPath, "-CAkey", At("root.key"), "-set_serial", NextSerial(), "-days", "30",
            "-extfile", At("intermediate.ext"), "-out", At("intermediate.pem"));
        File.WriteAllText(At("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n");
    }

    /// <summary>How a server key is written.</summary>
    public enum KeyFormat
    {
        /// <summary><c>-----BEGIN PRIVATE KEY-----</c> holding an EC key (openssl genpkey).</summary>
        EcPkcs8,

        /// <summary><c>-----BEGIN EC PRIVATE KEY-----</c>, after an <c>EC PARAMETERS</c> block (openssl ecparam -genkey).</summary>
        EcSec1,

        /// <summary><c>-----BEGIN PRIVATE KEY-----</c> holding an RSA key (openssl genpkey; certbot's default).</summary>
        RsaPkcs8,

        /// <summary><c>-----BEGIN RSA PRIVATE KEY-----</c> (openssl genrsa -traditional).</summary>
        RsaPkcs1,
    }

    public string Folder { get; }

    /// <summary>The root CA's certificate, PEM: what a client trusts (curl --cacert).</summary>
    public string RootPath => At("root.pem");

    /// <summary>The root CA, for a .NET client's custom trust.</summary>
    public X509Certificate2 Root => X509CertificateLoader.LoadCertificateFromFile(RootPath);

    /// <summary>
    /// A server certificate <paramref name="name"/>.pem (with the intermediate after it when <paramref name="chain"/>, as
    /// certbot's fullchain.pem; else signed by the root) and its key <paramref name="name"/>.key.
    /// </summary>
    public Issued Issue(string name, KeyFormat format = KeyFormat.EcPkcs8, bool chain = false, int days = 30)
    {
        string key = At(name + ".key");
        switch (format)
        {
            case KeyFormat.EcPkcs8:
                OpenSsl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key);
                break;
            case KeyFormat.EcSec1:
                OpenSsl("ecparam", "-name", "prime256v1", "-genkey", "-out", key);
                break;
            case KeyFormat.RsaPkcs8:
                OpenSsl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key);
                break;
            case KeyFormat.RsaPkcs1:
                OpenSsl("genrsa", "-traditional", "-out", key, "2048");
                break;
        }

        string csr = At(name + ".csr");
        string leaf = At(name + ".leaf.pem");
        string issuer = chain ? "intermediate" : "root";
        OpenSsl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=localhost");
        OpenSsl("x509", "-req", "-in", csr, "-CA", At(issuer + ".pem"), "-CAkey", At(issuer + ".key"), "-set_serial", NextSerial(), "-days",
            days.ToString(System.Globalization.CultureInfo.InvariantCulture), "-extfile", At("server.ext"), "-out", leaf);
        string certificate = At(name + ".pem");
        File.WriteAllText(certificate, File.ReadAllText(leaf) + (chain ? File.ReadAllText(At("intermediate.pem")) : string.Empty));
        return new Issued(certificate, key, X509CertificateLoader.LoadCertificateFromFile(leaf).SerialNumber);
    }

    /// <summary>The key at <paramref name="keyPath"/>, encrypted with a passphrase (PKCS#8, <c>ENCRYPTED PRIVATE KEY</c>).</summary>
    public string Encrypted(string keyPath)
    {
        string encrypted = keyPath + ".encrypted";
        OpenSsl("pkcs8", "-topk8", "-in", keyPath, "-out", encrypted, "-passout", "pass:secret");
        return encrypted;
    }

    /// <summary>
    /// A TLS handshake with 127.0.0.1:<paramref name="port"/> as a client that trusts only the root: the certificate
    /// served, whether its chain checked out (only when the server sent the intermediate, for one that needs it), and
    /// the protocol ALPN chose among <paramref name="alpn"/>.
    /// </summary>
    public async Task<Handshake> HandshakeAsync(int port, params string[] alpn)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        X509Certificate2? served = null;
        SslPolicyErrors errors = SslPolicyErrors.None;
        await using var tls = new SslStream(client.GetStream());
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [.. (alpn.Length > 0 ? alpn : ["http/1.1"]).Select(static name => new SslApplicationProtocol(name))],
            CertificateChainPolicy = TrustOnlyRoot(),
            RemoteCertificateValidationCallback = (_, certificate, _, policyErrors) =>
            {
                served = certificate is null ? null : new X509Certificate2(certificate);
                errors = policyErrors;
                return true;
            },
        };
        await tls.AuthenticateAsClientAsync(options);
        return new Handshake(served!.SerialNumber, errors, tls.NegotiatedApplicationProtocol.ToString());
    }

    /// <summary>An HTTP client that trusts only the root (the server must send its chain).</summary>
    public HttpClient Client(Uri address, Version version, Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>>? connect = null)
        => new(new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = TrustOnlyRoot() },
            ConnectCallback = connect,
        })
        {
            BaseAddress = address,
            DefaultRequestVersion = version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(60),
        };

    public void Dispose() => Directory.Delete(Folder, recursive: true);

    private X509ChainPolicy TrustOnlyRoot()
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
        policy.CustomTrustStore.Add(Root);
        return policy;
    }

    private string NextSerial() => "0x" + Interlocked.Increment(ref _serial).ToString("X", System.Globalization.CultureInfo.InvariantCulture);

    private string At(string file) => Path.Combine(Folder, file);

    private void OpenSsl(params string[] args)
    {
        var start = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Folder };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> errors = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"openssl {string.Join(' ', args)} failed ({process.ExitCode}):\n{output.Result}{errors.Result}");
        }
    }

    /// <summary>A server certificate's files and its serial number (as <see cref="X509Certificate.GetSerialNumberString"/> writes it).</summary>
    public sealed record Issued(string CertificatePath, string KeyPath, string Serial);

    /// <summary>What a client saw of a handshake.</summary>
    public sealed record Handshake(string Serial, SslPolicyErrors Errors, string Protocol);
}
