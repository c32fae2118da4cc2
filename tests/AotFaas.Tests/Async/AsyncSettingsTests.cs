using AotFaas.Async;

namespace AotFaas.Tests.Async;

public sealed class AsyncSettingsTests
{
    private static AsyncSettings Parse(params (string Name, string Value)[] arguments) =>
        AsyncSettings.Parse([.. arguments.Select(a => new KeyValuePair<string, string>(a.Name, a.Value))], static _ => null);

    [Fact]
    public void The_store_is_a_file_or_a_nats_url_and_anything_else_with_a_scheme_is_a_usage_error()
    {
        Assert.Equal("calls.db", Parse(("--async-store", "calls.db")).Store);
        Assert.Equal("nats://127.0.0.1:4222/calls", Parse(("--async-store", "nats://127.0.0.1:4222/calls")).Store);
        Assert.Equal(Path.Combine(".", AsyncSettings.DefaultStoreName), Parse().Store);
        FormatException tls = Assert.Throws<FormatException>(() => Parse(("--async-store", "tls://127.0.0.1:4222/calls")));
        Assert.Contains("neither a file name nor nats://", tls.Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => Parse(("--async-store", "nats://127.0.0.1:4222/")));
    }
}
