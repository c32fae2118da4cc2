using AotFaas.Shared;

namespace AotFaas.Async;

/// <summary>The server-wide settings of asynchronous calls.</summary>
/// <param name="Store">Where calls are kept (<c>--async-store</c>): a SQLite file, or a NATS JetStream stream (<see cref="NatsAddress"/>).</param>
/// <param name="Retention">How long an ended call's state and output are kept (<c>--async-retention</c>).</param>
/// <param name="Callbacks">Which callback URLs calls may name (<c>--callback-allow</c>).</param>
public sealed record AsyncSettings(string Store, TimeSpan Retention, CallbackPolicy Callbacks)
{
    /// <summary>How many calls of a function may wait when its <c>async-queue</c> does not say.</summary>
    public const int DefaultQueue = 1000;

    /// <summary>The store's file name when <c>--async-store</c> does not say, in <c>$STATE_DIRECTORY</c> or the working directory.</summary>
    public const string DefaultStoreName = "aotfaas-async.db";

    /// <summary>How long an ended call is kept when <c>--async-retention</c> does not say.</summary>
    public static readonly TimeSpan DefaultRetention = TimeSpan.FromHours(1);

    /// <summary>The help of the options, printed by <c>--help</c> of a binary that has asynchronous calls.</summary>
    public const string Usage = """
        Asynchronous calls (functions with async: true):
          POST /async-function/{name}[/{path}]   checked as a synchronous call, then stored and
                                     answered 202 with X-Call-Id and Location; it runs later.
          GET /async-function/{name}/calls/{id}  the call's state, status and output (JSON).
          --async-store PATH         The SQLite file calls are kept in (default: aotfaas-async.db in
                                     $STATE_DIRECTORY, else in the working directory), or
                                     nats://HOST[:PORT]/STREAM: a NATS JetStream stream shared by
                                     several servers (credentials: NATS_USER and NATS_PASSWORD, or
                                     NATS_TOKEN).
          --async-retention DURATION How long an ended call's state and output are kept (default 1h).
          --callback-allow HOST[:PORT],...  Hosts an X-Callback-Url may name (without a port: the
                                     scheme's default); none by default. Repeatable.

        """;

    /// <summary>The settings from the server's <paramref name="arguments"/> (the server options' AsyncArguments).</summary>
    /// <exception cref="FormatException">A value is malformed (said as a usage error).</exception>
    public static AsyncSettings Parse(IReadOnlyList<KeyValuePair<string, string>> arguments, Func<string, string?> environment)
    {
        string? store = null;
        TimeSpan retention = DefaultRetention;
        var allowed = new List<string>();
        foreach ((string name, string value) in arguments)
        {
            switch (name)
            {
                case "--async-store":
                    store = value.Length > 0 ? value : throw new FormatException($"{name}: a file name or nats://HOST[:PORT]/STREAM is needed");
                    if (NatsAddress.IsNats(store))
                    {
                        NatsAddress.Parse(store);
                    }
                    else if (store.Contains("://", StringComparison.Ordinal))
                    {
                        // tls://, redis://...: not a file name either.
                        throw new FormatException($"{name}: '{store}' is neither a file name nor nats://HOST[:PORT]/STREAM (TLS to NATS is not supported yet)");
                    }

                    break;
                case "--async-retention":
                    retention = Quantity.ParseDuration(value, out long milliseconds) is string error
                        ? throw new FormatException($"{name}: {error}")
                        : TimeSpan.FromMilliseconds(milliseconds);
                    break;
                default:
                    allowed.Add(value);
                    break;
            }
        }

        CallbackPolicy callbacks = CallbackPolicy.Parse(allowed, out string? malformed) ?? throw new FormatException($"--callback-allow: {malformed}");
        store ??= Path.Combine(environment("STATE_DIRECTORY") is { Length: > 0 } state ? state.Split(':')[0] : ".", DefaultStoreName);
        return new AsyncSettings(store, retention, callbacks);
    }
}
