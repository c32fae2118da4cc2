namespace AotFaas.Http;

/// <summary>
/// <c>X-Request-Id</c>: the caller's when it is a sensible id (1 to 128 characters of letters, digits
/// and <c>-_.:+/=@</c>, which covers UUIDs, ULIDs, base64 and W3C trace ids), else a new random one
/// (32 hex digits). It is sent back on the response, logged, and given to the program as REQUEST_ID.
/// </summary>
public static class RequestId
{
    public const string Header = "X-Request-Id";

    public const int MaxLength = 128;

    /// <summary>The id to use for a request that sent <paramref name="offered"/> (null or empty when none).</summary>
    public static string For(string? offered) => IsValid(offered) ? offered! : Guid.NewGuid().ToString("N");

    public static bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxLength)
        {
            return false;
        }

        foreach (char c in id)
        {
            if (!char.IsAsciiLetterOrDigit(c) && "-_.:+/=@".IndexOf(c, StringComparison.Ordinal) < 0)
            {
                return false;
            }
        }

        return true;
    }
}
