using System.Collections.ObjectModel;
using System.Globalization;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace AotFaas.Hosting;

/// <summary>A certificate with its key and chain, as SslStream serves it, and the file bytes it was read from.</summary>
internal sealed class CertificatePair(byte[] certificateBytes, byte[] keyBytes, X509Certificate2 certificate, SslStreamCertificateContext context)
{
    /// <summary>Larger files are not PEM certificates or keys (a chain of ten certificates is about 20 KiB).</summary>
    private const long MaxFileSize = 1 << 20;

    private const string RsaOid = "1.2.840.113549.1.1.1";
    private const string EcOid = "1.2.840.10045.2.1";

    /// <summary>A file's bytes; the reason in one line when it cannot be read.</summary>
    public static byte[] Read(string path, string what)
    {
        string reason;
        try
        {
            if (Directory.Exists(path))
            {
                reason = "it is a directory";
            }
            else if (ReadAtMost(path, MaxFileSize) is byte[] bytes)
            {
                return bytes;
            }
            else
            {
                reason = $"it is larger than {MaxFileSize >> 20} MiB, which no PEM {what} is";
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            reason = "no such file";
        }
        catch (UnauthorizedAccessException)
        {
            reason = "permission denied";
        }
        catch (IOException e)
        {
            // On Linux the runtime's IOException carries the errno; its message may be a bare resource key in this build.
            reason = e.HResult is > 0 and < 4096 ? Marshal.GetPInvokeErrorMessage(e.HResult) : $"{e.GetType().Name} 0x{e.HResult:x8}";
        }

        throw new TlsCertificateException($"cannot read the TLS {what} '{path}': {reason}");
    }

    /// <summary>
    /// The bytes of the file, or null past <paramref name="limit"/>; read up to it rather than by the size the file
    /// claims, which a device such as /dev/zero gives as 0 and never ends.
    /// </summary>
    private static byte[]? ReadAtMost(string path, long limit)
    {
        using FileStream file = File.OpenRead(path);
        var bytes = new MemoryStream();
        byte[] buffer = new byte[16 << 10];
        for (int read; (read = file.Read(buffer, 0, (int)Math.Min(buffer.Length, limit + 1 - bytes.Length))) > 0;)
        {
            bytes.Write(buffer, 0, read);
            if (bytes.Length > limit)
            {
                return null;
            }
        }

        return bytes.ToArray();
    }

    /// <summary>The PEM blocks of a file, in order: label and decoded bytes.</summary>
    private static List<(string Label, byte[] Data)> PemBlocks(byte[] file)
    {
        var blocks = new List<(string, byte[])>();
        ReadOnlySpan<char> text = Encoding.ASCII.GetString(file);
        while (PemEncoding.TryFind(text, out PemFields fields))
        {
            byte[] data = new byte[fields.DecodedDataLength];
            if (Convert.TryFromBase64Chars(text[fields.Base64Data], data, out int written))
            {
                blocks.Add((text[fields.Label].ToString(), data[..written]));
            }

            text = text[fields.Location.End..];
        }

        return blocks;
    }

    public byte[] CertificateBytes { get; } = certificateBytes;

    public byte[] KeyBytes { get; } = keyBytes;

    public X509Certificate2 Certificate { get; } = certificate;

    public SslStreamCertificateContext Context { get; } = context;

    /// <summary>Subject, serial number, end of validity and chain, for the log.</summary>
    public string Description => $"'{Certificate.Subject}' (serial {Certificate.SerialNumber}, valid until {Utc(Certificate.NotAfter)}{(Context.IntermediateCertificates.Count > 0 ? $", chain of {Context.IntermediateCertificates.Count}" : string.Empty)})";

    /// <summary>Null when the certificate is valid at <paramref name="utcNow"/>, else why not.</summary>
    public string? Validity(DateTime utcNow)
        => utcNow > Certificate.NotAfter.ToUniversalTime() ? $"expired on {Utc(Certificate.NotAfter)}"
        : utcNow < Certificate.NotBefore.ToUniversalTime() ? $"is not valid before {Utc(Certificate.NotBefore)}"
        : null;

    /// <summary>
    /// The first certificate of the certificate file is the server's, the others its chain, sent with it (certbot's
    /// fullchain.pem); the key is PKCS#8 (<c>PRIVATE KEY</c>), <c>RSA PRIVATE KEY</c> or <c>EC PRIVATE KEY</c>.
    /// </summary>
    public static CertificatePair Load(string certificatePath, byte[] certificateFile, string keyPath, byte[] keyFile)
    {
        var certificates = new List<X509Certificate2>();
        foreach ((string label, byte[] data) in PemBlocks(certificateFile))
        {
            if (label == "CERTIFICATE")
            {
                try
                {
                    certificates.Add(X509CertificateLoader.LoadCertificate(data));
                }
                catch (CryptographicException)
                {
                    throw new TlsCertificateException($"'{certificatePath}': PEM certificate {certificates.Count + 1} is not an X.509 certificate");
                }
            }
        }

        if (certificates.Count == 0)
        {
            throw new TlsCertificateException($"'{certificatePath}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }

        (string Label, byte[] Data)? key = null;
        foreach ((string label, byte[] data) in PemBlocks(keyFile))
        {
            if (label == "ENCRYPTED PRIVATE KEY")
            {
                throw new TlsCertificateException($"'{keyPath}' is an encrypted key: give the key unencrypted (openssl pkey -in ENCRYPTED -out PLAIN), readable by this server's user only");
            }

            if (label is "PRIVATE KEY" or "RSA PRIVATE KEY" or "EC PRIVATE KEY")
            {
                key = (label, data);
                break;
            }
        }

        if (key is not (string keyLabel, byte[] keyData))
        {
            throw new TlsCertificateException($"'{keyPath}' holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)");
        }

        X509Certificate2 server = certificates[0];
        X509Certificate2 withKey = server.PublicKey.Oid.Value switch
        {
            RsaOid => WithKey(server, RSA.Create(), "RSA", keyLabel, keyData, certificatePath, keyPath),
            EcOid => WithKey(server, ECDsa.Create(), "EC", keyLabel, keyData, certificatePath, keyPath),
            string other => throw new TlsCertificateException($"'{certificatePath}': the certificate's key type ({other}) is not supported: RSA or ECDSA"),
            null => throw new TlsCertificateException($"'{certificatePath}': the certificate's key type is unknown"),
        };

        var chain = new X509Certificate2Collection();
        for (int i = 1; i < certificates.Count; i++)
        {
            chain.Add(certificates[i]);
        }

        return new CertificatePair(certificateFile, keyFile, withKey, ContextOf(withKey, chain));
    }

    /// <summary>
    /// What SslStream serves: the certificate and the chain as the file gives them (a self-signed root at its end
    /// left out), as nginx and Go's servers do. <see cref="SslStreamCertificateContext.Create(X509Certificate2, X509Certificate2Collection?, bool, SslCertificateTrust?)"/>
    /// would build the chain instead, against the system's trusted roots: it reads every certificate of
    /// /etc/ssl/certs, about 45 ms of a start with TLS (measured), for nothing a server needs (and may fetch an OCSP
    /// response over the network). Its private constructor takes the chain as it is; a runtime without that
    /// constructor gets the public way.
    /// </summary>
    private static SslStreamCertificateContext ContextOf(X509Certificate2 server, X509Certificate2Collection chain)
    {
        var intermediates = new List<X509Certificate2>(chain);
        if (intermediates.Count > 0 && intermediates[^1].SubjectName.RawData.AsSpan().SequenceEqual(intermediates[^1].IssuerName.RawData))
        {
            intermediates.RemoveAt(intermediates.Count - 1);
        }

        try
        {
            return NewContext(server, intermediates.AsReadOnly(), null);
        }
        catch (MissingMethodException)
        {
            return SslStreamCertificateContext.Create(server, chain, offline: true);
        }
    }

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    private static extern SslStreamCertificateContext NewContext(X509Certificate2 target, ReadOnlyCollection<X509Certificate2> intermediates, SslCertificateTrust? trust);

    private static X509Certificate2 WithKey(X509Certificate2 server, AsymmetricAlgorithm key, string type, string label, byte[] data, string certificatePath, string keyPath)
    {
        string mismatch = $"the key '{keyPath}' does not match the certificate '{certificatePath}'";
        try
        {
            switch (label)
            {
                case "PRIVATE KEY":
                    key.ImportPkcs8PrivateKey(data, out _);
                    break;
                case "RSA PRIVATE KEY" when key is RSA rsa:
                    rsa.ImportRSAPrivateKey(data, out _);
                    break;
                case "EC PRIVATE KEY" when key is ECDsa ec:
                    ec.ImportECPrivateKey(data, out _);
                    break;
                default:
                    throw new TlsCertificateException($"{mismatch}: it is an {label}, the certificate's key is {type}");
            }
        }
        catch (CryptographicException)
        {
            throw new TlsCertificateException($"'{keyPath}' is not an {type} private key, which the certificate '{certificatePath}' needs");
        }

        try
        {
            return key is RSA rsaKey ? server.CopyWithPrivateKey(rsaKey) : server.CopyWithPrivateKey((ECDsa)key);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            throw new TlsCertificateException(mismatch);
        }
    }

    private static string Utc(DateTime time) => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
}

/// <summary>The TLS certificate or key cannot be used; the message says why, in one line.</summary>
public sealed class TlsCertificateException(string message) : InvalidOperationException(message);
