namespace AotFaas.Async;

/// <summary>Opens the store <c>--async-store</c> names: a NATS JetStream stream (<c>nats://HOST:PORT/STREAM</c>) or a SQLite file.</summary>
public static class CallStores
{
    /// <exception cref="IOException">The store cannot be opened or reached (a refusal to start).</exception>
    public static async Task<ICallStore> OpenAsync(AsyncSettings settings, Func<string, string?> environment, ILogger log) =>
        NatsAddress.IsNats(settings.Store)
            ? await NatsCallStore.OpenAsync(NatsAddress.Parse(settings.Store), settings.Retention, environment, log).ConfigureAwait(false)
            : SqliteCallStore.Open(settings.Store);
}
