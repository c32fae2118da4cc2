using System.Text;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Security;

namespace AotFaas.Operations;

/// <summary>
/// What an operator asks of the server, beside the functions: <c>/_/health</c> and <c>/healthz</c>
/// (200 while serving, 503 once draining), <c>/metrics</c> (Prometheus text), and, when switched on,
/// <c>/system/functions</c> (an OpenFaaS-style listing) and <c>/</c> (the try-it page). Each answers
/// GET and HEAD; another method is 405.
/// </summary>
public sealed class OperationsEndpoints
{
    public const string HealthPath = "/_/health";
    public const string HealthzPath = "/healthz";
    public const string MetricsPath = "/metrics";

    private static readonly byte[] Ok = "OK\n"u8.ToArray();
    private static readonly byte[] Draining = "draining\n"u8.ToArray();

    private readonly ServerLifecycle _lifecycle;
    private readonly PrometheusExporter? _metrics;
    private readonly IReadOnlyList<Proc> _functions;
    private readonly FunctionCatalog _catalog;
    private readonly bool _systemApi;
    private readonly FunctionAuth? _systemApiToken;
    private readonly Lazy<byte[]>? _portal;

    /// <param name="lifecycle">Serving or draining.</param>
    /// <param name="metrics">The exporter behind <c>/metrics</c>, or null when metrics are off.</param>
    /// <param name="functions">The compiled functions, for the listing and the page.</param>
    /// <param name="catalog">Their policies, for invocation counts.</param>
    /// <param name="systemApi">Whether <c>/system/functions</c> is served.</param>
    /// <param name="systemApiToken">The bearer token it requires, or null for none.</param>
    /// <param name="portal">Whether the page is served at <c>/</c>.</param>
    public OperationsEndpoints(ServerLifecycle lifecycle, PrometheusExporter? metrics, IReadOnlyList<Proc> functions, FunctionCatalog catalog, bool systemApi, string? systemApiToken, bool portal)
    {
        _lifecycle = lifecycle;
        _metrics = metrics;
        _functions = functions;
        _catalog = catalog;
        _systemApi = systemApi;
        _systemApiToken = systemApiToken is null ? null : FunctionAuth.ForBearerToken(systemApiToken);
        _portal = portal ? new Lazy<byte[]>(() => Portal.Page(functions)) : null;
    }

    /// <summary>Serving or draining, and the count of exceptions that escaped a handler.</summary>
    public ServerLifecycle Lifecycle => _lifecycle;

    /// <summary>Answers <paramref name="path"/> when it is one of these endpoints; null when it is not.</summary>
    public Task? TryHandle(HttpContext context, string path)
    {
        Func<HttpContext, Task>? handler = path switch
        {
            HealthPath or HealthzPath => Health,
            MetricsPath when _metrics is not null => Metrics,
            SystemApi.Path when _systemApi => Functions,
            SystemApi.InfoPath when _systemApi => Info,
            _ when _systemApi && path.StartsWith(SystemApi.FunctionPath, StringComparison.Ordinal) => Function,
            "/" when _portal is not null => Page,
            _ => null,
        };
        if (handler is null)
        {
            return null;
        }

        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            context.Response.Headers.Allow = "GET, HEAD";
            return WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes($"{path} answers GET and HEAD, not {context.Request.Method}\n"));
        }

        context.Response.Headers.CacheControl = "no-store";
        return handler(context);
    }

    private Task Health(HttpContext context) => _lifecycle.IsDraining
        ? WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "text/plain; charset=utf-8", Draining)
        : WriteAsync(context, StatusCodes.Status200OK, "text/plain; charset=utf-8", Ok);

    private Task Metrics(HttpContext context)
        => WriteAsync(context, StatusCodes.Status200OK, PrometheusExporter.ContentType, Encoding.UTF8.GetBytes(_metrics!.Scrape()));

    private Task Functions(HttpContext context)
        => Unauthorized(context) ?? Json(context, SystemApi.List(_functions, _catalog, _lifecycle));

    private Task Info(HttpContext context) => Unauthorized(context) ?? Json(context, SystemApi.Info());

    /// <summary><c>/system/function/NAME</c>: its status, or 404 (as the gateway answers for a function it does not know).</summary>
    private Task Function(HttpContext context)
    {
        if (Unauthorized(context) is Task refused)
        {
            return refused;
        }

        string name = context.Request.Path.Value![SystemApi.FunctionPath.Length..];
        Proc? proc = _functions.FirstOrDefault(f => f.FuncName == name);
        return proc is null
            ? WriteAsync(context, StatusCodes.Status404NotFound, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes("function not found\n"))
            : Json(context, SystemApi.Describe(proc, _catalog, _lifecycle));
    }

    /// <summary>The 401 when the system API has a token and the request does not carry it; null when it may go on.</summary>
    private Task? Unauthorized(HttpContext context)
    {
        if (_systemApiToken is null || _systemApiToken.CheckBearer(context.Request.Headers.Authorization))
        {
            return null;
        }

        context.Response.Headers.WWWAuthenticate = "Bearer";
        return WriteAsync(context, StatusCodes.Status401Unauthorized, "text/plain; charset=utf-8", "unauthorized\n"u8.ToArray());
    }

    private static Task Json(HttpContext context, byte[] body) => WriteAsync(context, StatusCodes.Status200OK, "application/json; charset=utf-8", body);

    private Task Page(HttpContext context)
        => WriteAsync(context, StatusCodes.Status200OK, "text/html; charset=utf-8", _portal!.Value);

    private static Task WriteAsync(HttpContext context, int status, string contentType, byte[] body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.ContentLength = body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }
}
