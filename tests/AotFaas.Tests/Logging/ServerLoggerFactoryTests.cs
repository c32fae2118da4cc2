using AotFaas.Logging;
using Microsoft.Extensions.Logging;

namespace AotFaas.Tests.Logging;

/// <summary>
/// The server's own logger factory keeps the levels the framework's factory kept with its filter rules: Information and
/// up, and Warning and up for <c>Microsoft.*</c> (Kestrel's chatter), for a provider that does not filter by itself
/// (the JSON console logger); the line logger's own loggers are handed out as they are.
/// </summary>
public sealed class ServerLoggerFactoryTests
{
    [Fact]
    public void A_provider_that_does_not_filter_gets_Information_and_up_and_Microsoft_categories_from_Warning()
    {
        var provider = new RecordingProvider();
        using var factory = new ServerLoggerFactory(provider, filter: true);
        ILogger ours = factory.CreateLogger("AotFaas.Http.FunctionEndpoint");
        ILogger kestrel = factory.CreateLogger("Microsoft.AspNetCore.Server.Kestrel");
        ILogger named = factory.CreateLogger("MicrosoftLike");

        ours.LogDebug("ours debug");
        ours.LogInformation("ours info");
        kestrel.LogInformation("kestrel info");
        kestrel.LogWarning("kestrel warning");
        named.LogInformation("named info");

        Assert.Equal(["AotFaas.Http.FunctionEndpoint: ours info", "Microsoft.AspNetCore.Server.Kestrel: kestrel warning", "MicrosoftLike: named info"], provider.Entries);
        Assert.False(kestrel.IsEnabled(LogLevel.Information));
        Assert.True(kestrel.IsEnabled(LogLevel.Error));
        Assert.False(ours.IsEnabled(LogLevel.Debug));
        Assert.False(ours.IsEnabled(LogLevel.None));
    }

    [Fact]
    public void The_line_logger_filters_by_itself_and_the_factory_disposes_it()
    {
        var output = new MemoryStream();
        var factory = new ServerLoggerFactory(new LineLoggerProvider(output), filter: false);
        factory.CreateLogger("Microsoft.AspNetCore.Server.Kestrel").LogInformation("kestrel info");
        factory.CreateLogger("AotFaas").LogInformation("Now listening on: {Url}", "http://127.0.0.1:1");

        // Disposing the factory writes what the provider queued and stops it.
        factory.Dispose();
        Assert.Equal("info: AotFaas[0] Now listening on: http://127.0.0.1:1\n", System.Text.Encoding.UTF8.GetString(output.ToArray()));
        Assert.Throws<NotSupportedException>(() => factory.AddProvider(new RecordingProvider()));
    }

    [Fact]
    public void Categories_written_out_are_their_classes_full_names()
    {
        // Written out so that no reflection runs at start-up; log lines and filters name them so.
        Assert.Equal(AotFaas.Http.FunctionEndpoint.LogCategory, typeof(AotFaas.Http.FunctionEndpoint).FullName);
        Assert.Equal(AotFaas.Hosting.CappedSocketTransport.LogCategory, typeof(AotFaas.Hosting.CappedSocketTransport).FullName);
    }

    private sealed class RecordingProvider : ILoggerProvider
    {
        public List<string> Entries { get; } = [];

        public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Recorder(RecordingProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => provider.Entries.Add($"{category}: {formatter(state, exception)}");
        }
    }
}
