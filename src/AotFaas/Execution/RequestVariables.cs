using System.Globalization;
using System.Text;
using AotFaas.Functions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace AotFaas.Execution;

/// <summary>
/// The environment variables that describe a request to its program, in the shape the function's
/// <c>request-env</c> option asks for: RFC 3875 meta-variables (<c>cgi</c>), the OpenFaaS classic
/// watchdog's names (<c>openfaas</c>), or none. Three headers are never passed: <c>Proxy</c> (httpoxy,
/// CVE-2016-5385: it would become HTTP_PROXY, which many HTTP clients read as their proxy),
/// <c>Proxy-Authorization</c> (a client's credentials for a proxy on the way, never the function's), and
/// <c>Authorization</c> unless the function sets <c>pass-authorization: true</c> (and the header of an
/// <c>auth: token</c> function, which holds its secret). A header whose name
/// holds anything but letters, digits and '-' is not passed either, so that <c>X_Forwarded_For</c>
/// cannot pose as <c>X-Forwarded-For</c> once '-' becomes '_'. The server's own variables come first and
/// a header never takes one of their names (<c>Method: DELETE</c> does not become <c>Http_Method</c>), even
/// when the server leaves it unset (<c>Query</c> on a request without a query string).
/// </summary>
public static class RequestVariables
{
    /// <summary>The value of SERVER_SOFTWARE.</summary>
    public const string ServerSoftware = "aotfaas";

    /// <summary>The variables for this request; empty for <c>request-env: none</c>.</summary>
    /// <param name="context">The request.</param>
    /// <param name="proc">The function, for its options and name.</param>
    /// <param name="pathInfo">The decoded path after <c>/function/{name}</c>, empty or starting with '/'.</param>
    /// <param name="contentLength">The length of the program's stdin when known, else null.</param>
    /// <param name="requestId">The request's id, passed as REQUEST_ID (in the cgi and openfaas modes).</param>
    public static List<KeyValuePair<string, string>> For(HttpContext context, Proc proc, string pathInfo, long? contentLength, string requestId)
    {
        var variables = new List<KeyValuePair<string, string>>(24);
        switch (proc.RequestEnv)
        {
            case RequestEnvMode.Cgi:
                Add(variables, "REQUEST_ID", requestId);
                AddCgi(variables, context, proc, pathInfo, contentLength);
                break;
            case RequestEnvMode.OpenFaas:
                Add(variables, "REQUEST_ID", requestId);
                AddOpenFaas(variables, context, proc, pathInfo, contentLength);
                break;
        }

        return variables;
    }

    /// <summary>Whether a request header may become a variable (see the class remarks).</summary>
    public static bool IsPassed(string name, Proc proc)
    {
        if (name.Length == 0 || name.Equals("Proxy", StringComparison.OrdinalIgnoreCase) || name.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase)
            || (!proc.PassAuthorization && name.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
            || (proc.Auth == AuthScheme.Token && name.Equals(proc.AuthHeader, StringComparison.OrdinalIgnoreCase)))
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    private static void AddCgi(List<KeyValuePair<string, string>> variables, HttpContext context, Proc proc, string pathInfo, long? contentLength)
    {
        HttpRequest request = context.Request;
        ConnectionInfo connection = context.Connection;
        Add(variables, "GATEWAY_INTERFACE", "CGI/1.1");
        Add(variables, "SERVER_SOFTWARE", ServerSoftware);
        Add(variables, "SERVER_PROTOCOL", request.Protocol);
        Add(variables, "SERVER_NAME", request.Host.Host.Length > 0 ? request.Host.Host : connection.LocalIpAddress?.ToString() ?? string.Empty);
        // The port the request came in on (RFC 3875 4.1.15), not one the Host header names.
        Add(variables, "SERVER_PORT", connection.LocalPort.ToString(CultureInfo.InvariantCulture));
        Add(variables, "REQUEST_METHOD", request.Method);
        Add(variables, "SCRIPT_NAME", FunctionPolicy.PathPrefix + proc.FuncName);
        Add(variables, "PATH_INFO", pathInfo);
        Add(variables, "QUERY_STRING", Query(request));
        Add(variables, "REQUEST_URI", context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path + request.QueryString);
        Add(variables, "REMOTE_ADDR", connection.RemoteIpAddress?.ToString() ?? string.Empty);
        Add(variables, "REMOTE_PORT", connection.RemotePort.ToString(CultureInfo.InvariantCulture));
        if (request.ContentType is string contentType)
        {
            Add(variables, "CONTENT_TYPE", contentType);
        }

        if (contentLength is long length)
        {
            Add(variables, "CONTENT_LENGTH", length.ToString(CultureInfo.InvariantCulture));
        }

        foreach (KeyValuePair<string, StringValues> header in request.Headers)
        {
            // CONTENT_TYPE and CONTENT_LENGTH say these already (RFC 3875 section 4.1.18).
            if (!IsPassed(header.Key, proc)
                || header.Key.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)
                || header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            Add(variables, Name("HTTP_", header.Key, upper: true), header.Value.Count == 1 ? header.Value[0] ?? string.Empty : string.Join(", ", header.Value.ToArray()));
        }
    }

    /// <summary>The OpenFaaS watchdog's own variables: no header may take one of these names.</summary>
    private static readonly string[] OpenFaasNames =
    [
        "Http_Method", "Http_ContentLength", "Http_Content_Length", "Http_ContentType", "Http_Transfer_Encoding", "Http_Query", "Http_Path", "Http_Host",
    ];

    private static void AddOpenFaas(List<KeyValuePair<string, string>> variables, HttpContext context, Proc proc, string pathInfo, long? contentLength)
    {
        HttpRequest request = context.Request;
        Add(variables, "Http_Method", request.Method);
        string length = (contentLength ?? -1).ToString(CultureInfo.InvariantCulture);
        Add(variables, "Http_ContentLength", length);
        Add(variables, "Http_Content_Length", length);
        if (request.ContentType is string contentType)
        {
            Add(variables, "Http_ContentType", contentType);
        }

        if (request.Headers.TransferEncoding.Count > 0)
        {
            Add(variables, "Http_Transfer_Encoding", request.Headers.TransferEncoding[0] ?? string.Empty);
        }

        string query = Query(request);
        if (query.Length > 0)
        {
            Add(variables, "Http_Query", query);
        }

        // Behind the OpenFaaS gateway a function sees the path after /function/{name}.
        Add(variables, "Http_Path", pathInfo.Length > 0 ? pathInfo : "/");
        if (request.Host.HasValue)
        {
            Add(variables, "Http_Host", request.Host.Value);
        }

        foreach (KeyValuePair<string, StringValues> header in request.Headers)
        {
            if (!IsPassed(header.Key, proc))
            {
                continue;
            }

            // The watchdog passes each header's first value, under Go's canonical name: Http_X_Custom_Header.
            string name = Name("Http_", header.Key, upper: false);
            if (Array.IndexOf(OpenFaasNames, name) < 0)
            {
                Add(variables, name, header.Value.Count > 0 ? header.Value[0] ?? string.Empty : string.Empty);
            }
        }
    }

    /// <summary>The query string as sent, without its '?'.</summary>
    private static string Query(HttpRequest request)
    {
        string? query = request.QueryString.Value;
        return string.IsNullOrEmpty(query) ? string.Empty : query[1..];
    }

    /// <summary>
    /// <c>HTTP_X_CUSTOM_HEADER</c> (<paramref name="upper"/>) or <c>Http_X_Custom_Header</c> (Go's canonical
    /// form: a capital after each '-', small letters elsewhere) for the header <c>x-custom-header</c>.
    /// </summary>
    private static string Name(string prefix, string header, bool upper)
    {
        var name = new StringBuilder(prefix.Length + header.Length).Append(prefix);
        bool startOfWord = true;
        foreach (char c in header)
        {
            if (c == '-')
            {
                name.Append('_');
                startOfWord = true;
                continue;
            }

            name.Append(upper || startOfWord ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            startOfWord = false;
        }

        return name.ToString();
    }

    private static void Add(List<KeyValuePair<string, string>> variables, string name, string value)
        => variables.Add(new KeyValuePair<string, string>(name, value));
}
