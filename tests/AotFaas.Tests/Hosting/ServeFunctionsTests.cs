using System.Net;
using AotFaas.Functions;
using AotFaas.Tests.Http;

namespace AotFaas.Tests.Hosting;

/// <summary>
/// <c>FaasServer.ServeFunctions</c>, the development server's reload: new requests get the new functions, a request
/// in flight keeps the ones it started with, and what is server-wide (slots, metrics) carries on.
/// </summary>
public sealed class ServeFunctionsTests : IDisposable
{
    private readonly string _release = Path.Combine(Path.GetTempPath(), $"aotfaas-swap-{Guid.NewGuid():N}");

    public void Dispose() => File.Delete(_release);

    /// <summary>A function <paramref name="name"/> that waits for the release file, then prints <paramref name="word"/>.</summary>
    private Proc Held(string name, string word)
        => new(name, "sh", ["-c", $"while [ ! -e '{_release}' ]; do sleep 0.01; done; echo {word}"]);

    private static (IReadOnlyList<Proc> All, Func<string, Proc?> Lookup) Table(params Proc[] functions)
        => (functions, name => functions.FirstOrDefault(proc => proc.FuncName == name));

    [Fact]
    public async Task A_request_in_flight_finishes_under_the_old_definition_while_new_requests_get_the_new_one()
    {
        await using TestServer server = await TestServer.StartAsync([Held("f", "old"), new Proc("gone", "echo", ["gone"])]);
        Task<HttpResponseMessage> inFlight = server.Client.PostAsync("/function/f", new StringContent(string.Empty));
        Assert.True(await GateMetrics.WaitAsync(server.Client, "f", running: 1), "the old run never started");

        (IReadOnlyList<Proc> all, Func<string, Proc?> lookup) = Table(new Proc("f", "echo", ["new"]), new Proc("added", "echo", ["added"]));
        server.Server.ServeFunctions(all, lookup);

        using (HttpResponseMessage fresh = await server.Client.PostAsync("/function/f", new StringContent(string.Empty)))
        {
            Assert.Equal("new\n", await fresh.Content.ReadAsStringAsync());
        }

        using (HttpResponseMessage added = await server.Client.PostAsync("/function/added", new StringContent(string.Empty)))
        {
            Assert.Equal("added\n", await added.Content.ReadAsStringAsync());
        }

        using (HttpResponseMessage gone = await server.Client.PostAsync("/function/gone", new StringContent(string.Empty)))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        Assert.False(inFlight.IsCompleted);
        await File.WriteAllTextAsync(_release, string.Empty);
        using HttpResponseMessage old = await inFlight;
        Assert.Equal(HttpStatusCode.OK, old.StatusCode);
        Assert.Equal("old\n", await old.Content.ReadAsStringAsync());

        // The instruments outlive the swap: both runs of 'f' are counted together.
        string metrics = await server.Client.GetStringAsync("/metrics");
        Assert.Contains("aotfaas_invocations_total{function=\"f\",status=\"200\"} 2\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_server_wide_slots_are_shared_with_the_runs_of_the_old_functions()
    {
        await using TestServer server = await TestServer.StartAsync([Held("f", "old")], new RunLimits { MaxTotalInflight = 1 });
        Task<HttpResponseMessage> inFlight = server.Client.PostAsync("/function/f", new StringContent(string.Empty));
        Assert.True(await GateMetrics.WaitAsync(server.Client, "f", running: 1), "the old run never started");

        (IReadOnlyList<Proc> all, Func<string, Proc?> lookup) = Table(new Proc("g", "echo", ["g"]));
        server.Server.ServeFunctions(all, lookup);

        // --max-total-inflight 1 is taken by the old run: a new set of functions does not bring slots of its own.
        using (HttpResponseMessage refused = await server.Client.PostAsync("/function/g", new StringContent(string.Empty)))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        }

        await File.WriteAllTextAsync(_release, string.Empty);
        (await inFlight).Dispose();
        using HttpResponseMessage served = await server.Client.PostAsync("/function/g", new StringContent(string.Empty));
        Assert.Equal("g\n", await served.Content.ReadAsStringAsync());
    }
}
