using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Http;

namespace AotFaas.Hosting;

/// <summary>Wires the web host: Kestrel on the chosen URLs and the function endpoint.</summary>
public static class FaasServer
{
    /// <summary>Builds the server for <paramref name="functions"/>; start it with <c>RunAsync</c> or <c>StartAsync</c>.</summary>
    public static WebApplication Build(ServerOptions options, Func<string, Proc?> functions, ProcessEnvironment? environment = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseUrls(options.Urls);
        builder.WebHost.ConfigureKestrel(static kestrel => kestrel.AddServerHeader = false);

        // One line per invocation comes from FunctionEndpoint; the framework's per-request lines would double it.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

        WebApplication app = builder.Build();
        var endpoint = new FunctionEndpoint(
            functions,
            new FunctionRunner(environment ?? ProcessEnvironment.FromCurrentProcess()),
            app.Services.GetRequiredService<ILogger<FunctionEndpoint>>());
        app.MapPost(FunctionEndpoint.Route, endpoint.HandleAsync);
        return app;
    }
}
