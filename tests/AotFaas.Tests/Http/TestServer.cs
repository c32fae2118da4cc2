using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace AotFaas.Tests.Http;

/// <summary>The real server on a free port of 127.0.0.1, serving the given functions, and a client for it.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly FaasServer _server;

    private TestServer(FaasServer server, HttpClient client)
    {
        _server = server;
        Client = client;
    }

    public HttpClient Client { get; }

    /// <summary>Starts a server for <paramref name="functions"/>, with <paramref name="limits"/> and a server environment if given.</summary>
    public static async Task<TestServer> StartAsync(IEnumerable<Proc> functions, RunLimits? limits = null, Func<string, string?>? environment = null)
    {
        Dictionary<string, Proc> table = functions.ToDictionary(p => p.FuncName);
        var options = new ServerOptions("http://127.0.0.1:0") { Limits = limits ?? new RunLimits() };
        var server = new FaasServer(options, name => table.GetValueOrDefault(name), NullLoggerFactory.Instance, environment);
        await server.StartAsync();
        return new TestServer(server, new HttpClient { BaseAddress = new Uri(server.Urls.Single()), Timeout = TimeSpan.FromSeconds(60) });
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _server.DisposeAsync();
    }
}
