using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace AotFaas.Hosting;

/// <summary>
/// The certificate the https listeners serve (<c>--tls-cert</c>, <c>--tls-key</c>), read again when its files change.
/// <para>
/// A handshake checks the files at most once per <see cref="CheckInterval"/>, on the thread pool, and goes on with the
/// certificate in use: the check reads both files and compares them with the bytes in use. Reading two small files
/// costs microseconds, sees every way of replacing them (in place, a rename, a symbolic link switched, as certbot does
/// in <c>/etc/letsencrypt/live</c>, or a folder's link switched, as Kubernetes does for secrets, a copy that keeps the
/// modification time), needs no inotify watch or thread, and costs nothing while no handshake arrives, when nobody
/// needs the new certificate. New files that load replace the pair for the handshakes after; files that do not load
/// (half written, a new certificate beside the old key while certbot switches one link after the other, a key that
/// does not match) leave the pair in use serving, and are a broken renewal, logged once, only when a later check finds
/// them unchanged.
/// </para>
/// </summary>
public sealed class TlsCertificate
{
    /// <summary>How often, at most, a handshake has the files checked.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private readonly string _certificatePath;
    private readonly string _keyPath;
    private readonly ILogger _log;
    private CertificatePair _current;
    private Failure? _failure;
    private long _nextCheck;
    private int _checking;

    private TlsCertificate(string certificatePath, string keyPath, CertificatePair current, ILogger log)
    {
        _certificatePath = certificatePath;
        _keyPath = keyPath;
        _current = current;
        _log = log;
        _nextCheck = Environment.TickCount64 + (long)CheckInterval.TotalMilliseconds;
    }

    /// <summary>The certificate served now (the server's, with its private key).</summary>
    public X509Certificate2 Certificate => Volatile.Read(ref _current).Certificate;

    /// <summary>The chain sent after it.</summary>
    public IReadOnlyList<X509Certificate2> Chain => Volatile.Read(ref _current).Context.IntermediateCertificates;

    /// <summary>Reads the certificate (and the chain after it) and the key, and logs what is served.</summary>
    /// <exception cref="TlsCertificateException">A file cannot be read, is not PEM, or the key does not match; one line says which.</exception>
    public static TlsCertificate Load(string certificatePath, string keyPath, ILogger log)
    {
        CertificatePair pair = CertificatePair.Load(certificatePath, CertificatePair.Read(certificatePath, "certificate"), keyPath, CertificatePair.Read(keyPath, "key"));
        log.LogInformation("TLS: serving {Certificate} from {CertificatePath} and {KeyPath}; both are read again when they change", pair.Description, certificatePath, keyPath);
        WarnIfNotValidNow(pair, log);
        return new TlsCertificate(certificatePath, keyPath, pair, log);
    }

    /// <summary>
    /// Kestrel's per-handshake callback (<see cref="TlsHandshakeCallbackOptions.OnConnection"/>): the certificate in use,
    /// with its chain; Kestrel adds the ALPN protocols (h2, http/1.1). Has the files checked when one is due.
    /// </summary>
    public ValueTask<SslServerAuthenticationOptions> OnHandshakeAsync(TlsHandshakeCallbackContext context)
    {
        long now = Environment.TickCount64;
        if (now >= Volatile.Read(ref _nextCheck) && Interlocked.CompareExchange(ref _checking, 1, 0) == 0)
        {
            Volatile.Write(ref _nextCheck, now + (long)CheckInterval.TotalMilliseconds);
            ThreadPool.UnsafeQueueUserWorkItem(static certificate => certificate.CheckInBackground(), this, preferLocal: false);
        }

        return ValueTask.FromResult(new SslServerAuthenticationOptions { ServerCertificateContext = Volatile.Read(ref _current).Context });
    }

    /// <summary>
    /// Reads the files and, when they changed, loads them: the new pair is served from the next handshake on, or, when
    /// it does not load, the pair in use goes on, and the failure is logged when a later check finds the files as they were.
    /// </summary>
    internal void Check()
    {
        CertificatePair current = Volatile.Read(ref _current);
        byte[]? certificate = null;
        byte[]? key = null;
        string? unreadable = null;
        try
        {
            certificate = CertificatePair.Read(_certificatePath, "certificate");
            key = CertificatePair.Read(_keyPath, "key");
        }
        catch (TlsCertificateException e)
        {
            unreadable = e.Message;
        }

        if (unreadable is null && certificate.AsSpan().SequenceEqual(current.CertificateBytes) && key.AsSpan().SequenceEqual(current.KeyBytes))
        {
            _failure = null;
            return;
        }

        if (_failure is Failure seen && seen.IsOf(certificate, key, unreadable))
        {
            if (!seen.Logged)
            {
                _log.LogWarning("TLS: the certificate files changed but cannot be used, so {Certificate} goes on serving: {Reason}", current.Description, seen.Reason);
                _failure = seen with { Logged = true };
            }

            return;
        }

        string reason = unreadable ?? string.Empty;
        if (unreadable is null)
        {
            try
            {
                CertificatePair next = CertificatePair.Load(_certificatePath, certificate!, _keyPath, key!);
                if (next.Validity(DateTime.UtcNow) is string invalid && current.Validity(DateTime.UtcNow) is null)
                {
                    reason = $"the new certificate {next.Description} {invalid}";
                }
                else
                {
                    Volatile.Write(ref _current, next);
                    _failure = null;
                    _log.LogInformation("TLS: the certificate files changed: now serving {Certificate}", next.Description);
                    WarnIfNotValidNow(next, _log);
                    return;
                }
            }
            catch (TlsCertificateException e)
            {
                reason = e.Message;
            }
        }

        // Maybe caught halfway through a renewal: the next check decides.
        _failure = new Failure(certificate, key, unreadable, reason, Logged: false);
    }

    private void CheckInBackground()
    {
        try
        {
            Check();
        }
        catch (Exception e)
        {
            // Never out of a thread-pool item: it would end the server. The pair in use goes on.
            _log.LogWarning("TLS: checking the certificate files failed ({Type}: {Message}); the certificate in use goes on serving", e.GetType().Name, e.Message);
        }
        finally
        {
            Volatile.Write(ref _checking, 0);
        }
    }

    private static void WarnIfNotValidNow(CertificatePair pair, ILogger log)
    {
        if (pair.Validity(DateTime.UtcNow) is string invalid)
        {
            log.LogWarning("TLS: the certificate {Certificate} {Invalid}: clients will refuse it; it is served until its files are replaced", pair.Description, invalid);
        }
    }

    /// <summary>Changed files that did not load: their bytes (or why they could not be read), and whether that was logged.</summary>
    private sealed record Failure(byte[]? Certificate, byte[]? Key, string? Unreadable, string Reason, bool Logged)
    {
        public bool IsOf(byte[]? certificate, byte[]? key, string? unreadable)
            => Unreadable is not null
                ? Unreadable == unreadable
                : unreadable is null && Certificate.AsSpan().SequenceEqual(certificate) && Key.AsSpan().SequenceEqual(key);
    }
}
