namespace AotFaas.Async;

/// <summary>
/// Which <c>X-Callback-Url</c>s a call may name (<c>--callback-allow HOST[:PORT],...</c>): a callback is a request the
/// server makes on a caller's behalf, to anywhere it can reach (a server-side request forgery), so only the hosts the
/// operator listed may be called: an absolute http or https URL whose host is one of them, on the port given there,
/// or on the scheme's default port when none is. Nothing is allowed by default.
/// </summary>
public sealed class CallbackPolicy
{
    private readonly (string Host, int? Port)[] _allowed;

    private CallbackPolicy((string Host, int? Port)[] allowed) => _allowed = allowed;

    /// <summary>No callback allowed.</summary>
    public static CallbackPolicy None { get; } = new([]);

    /// <summary>The hosts of <c>--callback-allow</c> (comma-separated, repeatable); null with the reason when one is malformed.</summary>
    public static CallbackPolicy? Parse(IEnumerable<string> values, out string? error)
    {
        error = null;
        var allowed = new List<(string, int?)>();
        foreach (string value in values)
        {
            foreach (string entry in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!Uri.TryCreate("http://" + entry, UriKind.Absolute, out Uri? uri) || uri.PathAndQuery != "/" || uri.UserInfo.Length > 0 || entry.Contains('/', StringComparison.Ordinal))
                {
                    error = $"'{entry}' is not HOST or HOST:PORT";
                    return null;
                }

                bool portGiven = entry.LastIndexOf(':') > entry.LastIndexOf(']');
                allowed.Add((uri.IdnHost, portGiven ? uri.Port : null));
            }
        }

        return new CallbackPolicy([.. allowed]);
    }

    /// <summary>The callback <paramref name="url"/> when it may be called, or null with the reason.</summary>
    public Uri? Check(string url, out string? reason)
    {
        reason = null;
        if (url.AsSpan().IndexOfAny(" \t,") >= 0)
        {
            reason = "the callback URL must be one URL, without blanks or commas (percent-encode them)";
            return null;
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.UserInfo.Length > 0)
        {
            reason = "the callback URL must be an absolute http or https URL without credentials";
            return null;
        }

        foreach ((string host, int? port) in _allowed)
        {
            if (string.Equals(uri.IdnHost, host, StringComparison.OrdinalIgnoreCase) && (port is null ? uri.IsDefaultPort : uri.Port == port))
            {
                return uri;
            }
        }

        reason = _allowed.Length == 0
            ? "callbacks are not allowed on this server (see --callback-allow)"
            : $"the callback host {uri.Authority} is not one --callback-allow lists";
        return null;
    }
}
