using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AotFaas.Tests.Http;

/// <summary>The real server on a free port of 127.0.0.1, serving the given functions, and a client for it.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<HttpClient, TestServer> ByClient = [];

    private readonly FaasServer _server;

    private TestServer(FaasServer server, HttpClient client)
    {
        _server = server;
        Client = client;
    }

    public HttpClient Client { get; }

    /// <summary>The server itself, for its lifecycle.</summary>
    public FaasServer Server => _server;

    /// <summary>The server <paramref name="client"/> talks to, when a TestServer made it.</summary>
    public static TestServer? Of(HttpClient client) => ByClient.TryGetValue(client, out TestServer? server) ? server : null;

    /// <summary>
    /// Starts a server for <paramref name="functions"/>, with <paramref name="limits"/>, a server environment,
    /// other <paramref name="options"/> and a logger factory if given.
    /// </summary>
    public static async Task<TestServer> StartAsync(IEnumerable<Proc> functions, RunLimits? limits = null, Func<string, string?>? environment = null, ServerOptions? options = null, ILoggerFactory? loggerFactory = null, AotFaas.Http.IAsyncCalls? asyncCalls = null)
    {
        Proc[] all = functions.ToArray();
        Dictionary<string, Proc> table = all.ToDictionary(p => p.FuncName);
        options = (options ?? new ServerOptions("http://127.0.0.1:0")) with { Limits = limits ?? options?.Limits ?? new RunLimits() };
        var server = new FaasServer(options, all, name => table.GetValueOrDefault(name), static policy => policy.Proc.Mode == FunctionMode.Http ? new AotFaas.Workers.HttpProxyInvoker(policy, policy.WorkerLog) : new ExecInvoker(policy), loggerFactory ?? NullLoggerFactory.Instance, environment, asyncCalls, instruments: AotFaas.Workers.WorkerMetrics.Register);
        await server.StartAsync();
        var testServer = new TestServer(server, new HttpClient { BaseAddress = new Uri(server.Urls.Single()), Timeout = TimeSpan.FromSeconds(60) });
        ByClient.Add(testServer.Client, testServer);
        return testServer;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _server.DisposeAsync();
    }
}
