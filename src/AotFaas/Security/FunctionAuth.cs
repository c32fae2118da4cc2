using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using AotFaas.Functions;
using AotFaas.Invokers;
using AotFaas.Shared;
using Microsoft.Extensions.Primitives;

namespace AotFaas.Security;

/// <summary>
/// The <c>auth</c> option of one function, with its secret read from the server's environment once.
/// <c>bearer</c>: the request carries <c>Authorization: Bearer &lt;token&gt;</c>. <c>token</c>: the header the manifest
/// names carries the secret itself (GitLab's <c>X-Gitlab-Token</c>). <c>hmac-sha256</c>: a header carries the hex
/// HMAC-SHA256 of the raw body, as <c>sha256=&lt;hex&gt;</c> (GitHub's form) or bare hex. <c>stripe</c>:
/// <c>Stripe-Signature: t=TIME,v1=HEX[,v1=HEX...]</c>, the HMAC-SHA256 of <c>TIME.BODY</c>. <c>slack</c>:
/// <c>X-Slack-Signature: v0=HEX</c>, the HMAC-SHA256 of <c>v0:TIME:BODY</c>, with TIME in
/// <c>X-Slack-Request-Timestamp</c>. A timestamped signature more than <see cref="ReplayWindow"/> away from the
/// server's clock is refused, so a captured request cannot be replayed later. Every comparison takes the same time
/// whatever the bytes; nothing here logs or returns the secret.
/// </summary>
public sealed class FunctionAuth
{
    private const string BearerPrefix = "Bearer ";
    private const string SignaturePrefix = "sha256=";
    private const string SlackVersion = "v0";

    /// <summary>Stripe's signature header.</summary>
    public const string StripeHeader = "Stripe-Signature";

    /// <summary>Slack's signature and timestamp headers.</summary>
    public const string SlackSignatureHeader = "X-Slack-Signature";
    public const string SlackTimestampHeader = "X-Slack-Request-Timestamp";

    /// <summary>How far a timestamped signature may be from the server's clock, either way: 5 minutes, Stripe's and Slack's own advice.</summary>
    public static readonly TimeSpan ReplayWindow = TimeSpan.FromMinutes(5);

    /// <summary>The most signatures one Stripe header may offer (it sends one per active secret while a secret is rolled).</summary>
    private const int MaxCandidates = 8;

    private readonly byte[] _secret;
    private readonly byte[] _tokenHash;

    private FunctionAuth(AuthScheme scheme, byte[] secret, string? header)
    {
        Scheme = scheme;
        _secret = secret;
        _tokenHash = SHA256.HashData(secret);
        Header = header;
    }

    public AuthScheme Scheme { get; }

    /// <summary>The header that carries the signature (<c>hmac-sha256</c>) or the token (<c>token</c>), or null.</summary>
    public string? Header { get; }

    /// <summary>Whether the check is a signature over the body, which must be in hand before it can be made.</summary>
    public bool SignsBody => Scheme is AuthScheme.HmacSha256 or AuthScheme.Stripe or AuthScheme.Slack;

    /// <summary>
    /// The check <paramref name="proc"/> asks for, or null when it asks for none. Throws when the variable
    /// that should hold the secret is unset or empty: <see cref="MissingSecrets"/> stops the server before
    /// that can happen, and a function whose secret is missing must never run unchecked.
    /// </summary>
    public static FunctionAuth? For(Proc proc, Func<string, string?> serverEnvironment)
    {
        if (proc.Auth == AuthScheme.None)
        {
            return null;
        }

        string? secret = serverEnvironment(proc.AuthSecretVariable!);
        if (string.IsNullOrEmpty(secret))
        {
            throw new InvalidOperationException(MissingMessage(proc));
        }

        return new FunctionAuth(proc.Auth, Encoding.UTF8.GetBytes(secret), proc.AuthHeader);
    }

    /// <summary>A bearer check of <paramref name="token"/>, for the server's own endpoints.</summary>
    public static FunctionAuth ForBearerToken(string token) => new(AuthScheme.Bearer, Encoding.UTF8.GetBytes(token), null);

    /// <summary>One line for each function whose <c>auth</c> secret variable is unset or empty at start-up.</summary>
    public static IReadOnlyList<string> MissingSecrets(IEnumerable<Proc> functions, Func<string, string?> serverEnvironment)
    {
        var missing = new List<string>();
        foreach (Proc proc in functions)
        {
            if (proc.Auth != AuthScheme.None && string.IsNullOrEmpty(serverEnvironment(proc.AuthSecretVariable!)))
            {
                missing.Add(MissingMessage(proc));
            }
        }

        return missing;
    }

    /// <summary>The check of a scheme that needs no body (<c>bearer</c>, <c>token</c>): whether the request's headers pass it.</summary>
    public bool CheckHeaders(IHeaderDictionary headers) => Scheme switch
    {
        AuthScheme.Bearer => CheckBearer(headers.Authorization),
        AuthScheme.Token => headers[Header!] is { Count: 1 } value && value[0] is { Length: > 0 } token && MatchesToken(token.AsSpan().Trim(' ')),
        _ => false,
    };

    /// <summary>Whether <paramref name="authorization"/> (the request's Authorization header) carries the token.</summary>
    public bool CheckBearer(StringValues authorization)
        => authorization.Count == 1 && authorization[0] is string value
            && value.Length > BearerPrefix.Length && value.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase)
            && MatchesToken(value.AsSpan(BearerPrefix.Length).Trim(' '));

    /// <summary>Whether <paramref name="token"/> is the secret: hashes of equal length compared in constant time, so neither the token's bytes nor its length leak.</summary>
    private bool MatchesToken(ReadOnlySpan<char> token)
    {
        Span<byte> offered = stackalloc byte[SHA256.HashSizeInBytes];
        byte[] bytes = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(token.Length));
        try
        {
            int length = Encoding.UTF8.GetBytes(token, bytes);
            SHA256.HashData(bytes.AsSpan(0, length), offered);
            return CryptographicOperations.FixedTimeEquals(offered, _tokenHash);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes, clearArray: true);
        }
    }

    /// <summary>
    /// The signature a request to a body-signing function offers, read from its headers; null when it could never
    /// match (missing, repeated or malformed headers) or its timestamp is more than <see cref="ReplayWindow"/> from
    /// <paramref name="nowUnixSeconds"/>: the request is then refused before its body is read.
    /// </summary>
    public Signature? ReadSignature(IHeaderDictionary headers, long nowUnixSeconds)
    {
        switch (Scheme)
        {
            case AuthScheme.HmacSha256:
                byte[] offered = new byte[SHA256.HashSizeInBytes];
                return headers[Header!] is { Count: 1 } hmac && TryParseHex(Unprefixed(hmac[0].AsSpan().Trim(' '), SignaturePrefix), offered)
                    ? new Signature([], [offered])
                    : null;
            case AuthScheme.Stripe:
                return headers[StripeHeader] is { Count: 1 } stripe ? ReadStripe(stripe[0].AsSpan().Trim(' '), nowUnixSeconds) : null;
            case AuthScheme.Slack:
                byte[] slack = new byte[SHA256.HashSizeInBytes];
                return headers[SlackTimestampHeader] is { Count: 1 } time && time[0] is string timestamp && IsFresh(timestamp, nowUnixSeconds)
                    && headers[SlackSignatureHeader] is { Count: 1 } signature && signature[0].AsSpan().Trim(' ').StartsWith(SlackVersion + "=", StringComparison.Ordinal)
                    && TryParseHex(signature[0].AsSpan().Trim(' ')[(SlackVersion.Length + 1)..], slack)
                    ? new Signature(Encoding.ASCII.GetBytes($"{SlackVersion}:{timestamp}:"), [slack])
                    : null;
            default:
                return null;
        }
    }

    /// <summary>Starts the HMAC of a body under <paramref name="signature"/> (its prefix first); feed it every byte, then <see cref="Signature.Matches"/>.</summary>
    public IncrementalHash BeginBody(Signature signature)
    {
        var hash = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _secret);
        hash.AppendData(signature.Prefix);
        return hash;
    }

    /// <summary><c>t=TIME,v1=HEX[,v1=HEX...]</c>, other keys (v0, Stripe's test scheme) ignored, as Stripe's libraries do.</summary>
    private static Signature? ReadStripe(ReadOnlySpan<char> header, long nowUnixSeconds)
    {
        string? timestamp = null;
        var candidates = new List<byte[]>();
        foreach (Range part in header.Split(','))
        {
            ReadOnlySpan<char> item = header[part].Trim(' ');
            int equals = item.IndexOf('=');
            if (equals <= 0)
            {
                return null;
            }

            ReadOnlySpan<char> key = item[..equals];
            ReadOnlySpan<char> value = item[(equals + 1)..];
            if (key.SequenceEqual("t"))
            {
                if (timestamp is not null)
                {
                    return null;
                }

                timestamp = value.ToString();
            }
            else if (key.SequenceEqual("v1"))
            {
                byte[] candidate = new byte[SHA256.HashSizeInBytes];
                if (candidates.Count == MaxCandidates || !TryParseHex(value, candidate))
                {
                    return null;
                }

                candidates.Add(candidate);
            }
        }

        return timestamp is not null && candidates.Count > 0 && IsFresh(timestamp, nowUnixSeconds)
            ? new Signature(Encoding.ASCII.GetBytes(timestamp + "."), [.. candidates])
            : null;
    }

    /// <summary>Whether <paramref name="timestamp"/> is Unix seconds (digits only) within <see cref="ReplayWindow"/> of now, either way.</summary>
    private static bool IsFresh(string timestamp, long nowUnixSeconds)
        => timestamp.Length is > 0 and <= 12
            && long.TryParse(timestamp, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long seconds)
            && Math.Abs(nowUnixSeconds - seconds) <= (long)ReplayWindow.TotalSeconds;

    private static ReadOnlySpan<char> Unprefixed(ReadOnlySpan<char> value, string prefix)
        => value.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? value[prefix.Length..] : value;

    private static bool TryParseHex(ReadOnlySpan<char> hex, Span<byte> into)
        => hex.Length == 2 * into.Length
            && Convert.FromHexString(hex, into, out _, out int written) == OperationStatus.Done
            && written == into.Length;

    /// <summary>401 with no detail: which part failed is no business of the caller's.</summary>
    public static InvokeResult Unauthorized(FunctionAuth auth)
    {
        InvokeResult refusal = InvokeResult.Refusal(StatusCodes.Status401Unauthorized, "unauthorized");
        refusal.Outcome = "authentication failed";
        if (auth.Scheme == AuthScheme.Bearer)
        {
            refusal.Headers.Add(new("WWW-Authenticate", "Bearer"));
        }

        return refusal;
    }

    private static string MissingMessage(Proc proc)
        => $"function '{proc.FuncName}' checks requests with auth: {FunctionListing.SchemeWord(proc.Auth)} ${proc.AuthSecretVariable}, but the environment variable {proc.AuthSecretVariable} is not set (or empty)";

    /// <summary>
    /// What a request offers for a body-signing scheme: the bytes the HMAC covers before the body (Stripe's and
    /// Slack's timestamp), and the signatures it may equal (Stripe sends one per active secret).
    /// </summary>
    public sealed class Signature(byte[] prefix, byte[][] candidates)
    {
        public byte[] Prefix { get; } = prefix;

        /// <summary>Whether the HMAC that <paramref name="body"/> computed is one of the offered signatures; each is compared in constant time.</summary>
        public bool Matches(IncrementalHash body)
        {
            Span<byte> expected = stackalloc byte[SHA256.HashSizeInBytes];
            body.GetHashAndReset(expected);
            bool matched = false;
            foreach (byte[] candidate in candidates)
            {
                matched |= CryptographicOperations.FixedTimeEquals(candidate, expected);
            }

            return matched;
        }
    }
}
