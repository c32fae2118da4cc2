using System.Runtime.CompilerServices;
using AotFaas.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace AotFaas.Dev.Tests;

/// <summary>A long editing session does not pile up tables: each one replaced is collected once no request holds it.</summary>
public sealed class UnloadTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-dev-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task The_tables_a_server_served_and_replaced_are_unloaded()
    {
        string manifest = Path.Combine(_folder, "functions.faas");
        File.WriteAllText(manifest, "f: echo 0\n");
        FaasServer? server = null;
        var reloader = new Reloader(new ManifestLoader(manifest), TextWriter.Null, NullLogger.Instance, _ => null, (all, lookup) => server!.ServeFunctions(all, lookup));
        server = Serve(reloader);
        await using (server)
        {
            await server.StartAsync();
            using var client = new HttpClient { BaseAddress = new Uri(server.Urls.Single()) };
            var replaced = new List<WeakReference>();
            for (int i = 1; i <= 10; i++)
            {
                replaced.Add(Served(reloader));
                File.WriteAllText(manifest, $"f: echo {i}\n");
                reloader.Reload();
                using HttpResponseMessage response = await client.PostAsync("/function/f", new StringContent(string.Empty));
                Assert.Equal($"{i}\n", await response.Content.ReadAsStringAsync());
                _ = await client.GetStringAsync("/metrics");
            }

            for (int i = 0; i < 20 && replaced.Any(table => table.IsAlive); i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                await Task.Delay(10);
            }

            Assert.Equal(string.Empty, string.Join(", ", replaced.Select((table, i) => table.IsAlive ? $"table {i} is still loaded" : null).OfType<string>()));
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static FaasServer Serve(Reloader reloader)
    {
        LoadedTable first = reloader.LoadFirst().Table!;
        return new FaasServer(new ServerOptions("http://127.0.0.1:0"), first.All, first.Lookup, DevInvokers.Create, NullLoggerFactory.Instance);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference Served(Reloader reloader) => new(reloader.Served!.Context);
}
