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
/// <c>bearer</c>: the request carries <c>Authorization: Bearer &lt;token&gt;</c>. <c>hmac-sha256</c>: a header
/// carries the hex HMAC-SHA256 of the raw body, as <c>sha256=&lt;hex&gt;</c> (GitHub's form) or bare hex.
/// Every comparison takes the same time whatever the bytes; nothing here logs or returns the secret.
/// </summary>
public sealed class FunctionAuth
{
    private const string BearerPrefix = "Bearer ";
    private const string SignaturePrefix = "sha256=";

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

    /// <summary>The header that carries the signature (<c>hmac-sha256</c>), or null.</summary>
    public string? Header { get; }

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

    /// <summary>Whether <paramref name="authorization"/> (the request's Authorization header) carries the token.</summary>
    public bool CheckBearer(StringValues authorization)
    {
        if (authorization.Count != 1 || authorization[0] is not string value
            || value.Length <= BearerPrefix.Length || !value.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // Hashes of equal length compared in constant time: neither the token's bytes nor its length leak.
        Span<byte> offered = stackalloc byte[SHA256.HashSizeInBytes];
        ReadOnlySpan<char> token = value.AsSpan(BearerPrefix.Length).Trim(' ');
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

    /// <summary>Starts the HMAC of a body; feed it every byte, then <see cref="CheckSignature"/>.</summary>
    public IncrementalHash BeginBody() => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _secret);

    /// <summary>Whether <paramref name="signature"/> (the signature header) is the HMAC that <paramref name="body"/> computed.</summary>
    public static bool CheckSignature(StringValues signature, IncrementalHash body)
    {
        Span<byte> expected = stackalloc byte[SHA256.HashSizeInBytes];
        body.GetHashAndReset(expected);
        Span<byte> offered = stackalloc byte[SHA256.HashSizeInBytes];
        return TryParseSignature(signature, offered) && CryptographicOperations.FixedTimeEquals(offered, expected);
    }

    /// <summary>
    /// Whether <paramref name="signature"/> is one value of 64 hex digits, bare or after <c>sha256=</c>: one that is not
    /// can never match, so the request is refused before its body is read.
    /// </summary>
    public static bool IsWellFormedSignature(StringValues signature) => TryParseSignature(signature, stackalloc byte[SHA256.HashSizeInBytes]);

    private static bool TryParseSignature(StringValues signature, Span<byte> offered)
    {
        if (signature.Count != 1 || signature[0] is not string value)
        {
            return false;
        }

        ReadOnlySpan<char> hex = value.AsSpan().Trim(' ');
        if (hex.StartsWith(SignaturePrefix, StringComparison.OrdinalIgnoreCase))
        {
            hex = hex[SignaturePrefix.Length..];
        }

        return hex.Length == 2 * SHA256.HashSizeInBytes
            && Convert.FromHexString(hex, offered, out _, out int written) == OperationStatus.Done
            && written == offered.Length;
    }

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
    {
        string scheme = proc.Auth == AuthScheme.Bearer ? OptionValues.Bearer : OptionValues.HmacSha256;
        return $"function '{proc.FuncName}' checks requests with auth: {scheme} ${proc.AuthSecretVariable}, but the environment variable {proc.AuthSecretVariable} is not set (or empty)";
    }
}
