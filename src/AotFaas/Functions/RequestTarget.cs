using Microsoft.AspNetCore.Http.Features;

namespace AotFaas.Functions;

/// <summary>The part of a request's target after <c>/function/NAME</c> (or <c>/async-function/NAME</c>), as the client wrote it.</summary>
public static class RequestTarget
{
    /// <summary>
    /// The path and query after the function's name, percent-encoding kept (<c>%20</c> stays <c>%20</c>); "/" when
    /// there is none. From the raw request target; for an unusual one (absolute-form), the decoded
    /// <paramref name="pathInfo"/> encoded again, with the query.
    /// </summary>
    public static string After(HttpContext context, string pathInfo)
    {
        string raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? string.Empty;
        string? prefix = raw.StartsWith(FunctionPolicy.PathPrefix, StringComparison.Ordinal) ? FunctionPolicy.PathPrefix
            : raw.StartsWith(AsyncPathPrefix, StringComparison.Ordinal) ? AsyncPathPrefix
            : null;
        if (prefix is not null && !HasDotSegment(raw))
        {
            int rest = raw.AsSpan(prefix.Length).IndexOfAny('/', '?');
            string tail = rest < 0 ? string.Empty : raw[(prefix.Length + rest)..];
            return tail.StartsWith('/') ? tail : "/" + tail;
        }

        string query = context.Request.QueryString.Value ?? string.Empty;
        string path = pathInfo.Length == 0 ? "/" : new PathString(pathInfo).ToUriComponent();
        return path + query;
    }

    /// <summary>
    /// Whether the raw path holds a dot segment (<c>/./</c>, <c>/../</c>, maybe percent-encoded): Kestrel routed by the
    /// path with them resolved (<c>/function/a/../b/x</c> is <c>b</c>'s <c>/x</c>), so the raw text cannot be cut at the
    /// name; the decoded path is used instead.
    /// </summary>
    private static bool HasDotSegment(string raw)
    {
        int query = raw.IndexOf('?');
        ReadOnlySpan<char> path = query < 0 ? raw : raw.AsSpan(0, query);
        return path.Contains("/.", StringComparison.Ordinal) || path.Contains("%2e", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The path prefix of asynchronous calls.</summary>
    public const string AsyncPathPrefix = "/async-function/";
}
