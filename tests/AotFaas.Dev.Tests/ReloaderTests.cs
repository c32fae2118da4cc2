using AotFaas.Functions;
using Microsoft.Extensions.Logging;

namespace AotFaas.Dev.Tests;

/// <summary>What a save does, without a server: which versions are served, and what is printed.</summary>
public sealed class ReloaderTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-dev-").FullName;
    private readonly StringWriter _printed = new();
    private readonly List<IReadOnlyList<Proc>> _served = [];
    private readonly Dictionary<string, string> _environment = [];
    private readonly Reloader _reloader;

    public ReloaderTests()
    {
        Manifest = Path.Combine(_folder, "functions.faas");
        _reloader = new Reloader(new ManifestLoader(Manifest), _printed, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, name => _environment.GetValueOrDefault(name), (all, _) => _served.Add(all));
    }

    private string Manifest { get; }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Save(string text)
    {
        File.WriteAllText(Manifest, text);
        string before = _printed.ToString();
        _reloader.Reload();
        return _printed.ToString()[before.Length..];
    }

    [Fact]
    public void A_good_save_is_served_and_prints_nothing_a_broken_one_prints_only_the_build_lines_and_is_not_served()
    {
        File.WriteAllText(Manifest, "f: echo one\n");
        Assert.NotNull(_reloader.LoadFirst().Table);

        Assert.Equal(string.Empty, Save("f: echo two\n"));
        Assert.Equal(["two"], Assert.Single(_served).Single().Argv.ToArray());

        string printed = Save("f: echo three\nbad\n");
        Assert.Equal($"{Manifest}(2,1): error FAAS001: Line not understood: expected '<name>: <command> [args...]', an indented '<key>: <value>' option, or a '#' comment\n", printed);
        Assert.Single(_served);
        Assert.Equal(["two"], _reloader.Served!.All.Single().Argv.ToArray());
    }

    [Fact]
    public void Saving_the_same_bytes_again_reloads_nothing_and_prints_nothing()
    {
        File.WriteAllText(Manifest, "f: echo one\nbad\n");
        _reloader.LoadFirst();
        string first = _printed.ToString();

        Assert.Equal(string.Empty, Save("f: echo one\nbad\n"));
        Assert.Contains("error FAAS001", first, StringComparison.Ordinal);
        Assert.Empty(_served);
        Assert.Null(_reloader.Served);
    }

    [Fact]
    public void A_manifest_broken_at_the_first_load_is_served_once_it_is_fixed()
    {
        File.WriteAllText(Manifest, "bad\n");
        Assert.Null(_reloader.LoadFirst().Table);

        Save("f: echo fixed\n");

        Assert.Equal(["fixed"], Assert.Single(_served).Single().Argv.ToArray());
    }

    [Fact]
    public void A_missing_auth_secret_blocks_the_reload_as_it_blocks_a_start_and_the_last_good_version_keeps_serving()
    {
        File.WriteAllText(Manifest, "f: echo one\n");
        _reloader.LoadFirst();

        string printed = Save("f: echo two\n  auth: bearer $DEV_TEST_MISSING_TOKEN\n");

        Assert.Empty(_served);
        Assert.Equal(["one"], _reloader.Served!.All.Single().Argv.ToArray());
        Assert.Equal(
            "dev.sh: function 'f' checks requests with auth: bearer $DEV_TEST_MISSING_TOKEN, but the environment variable DEV_TEST_MISSING_TOKEN is not set (or empty)\n"
            + $"dev.sh: not reloading {Manifest}: set the variables above (and restart ./dev.sh), or remove the functions' auth option; the last good version keeps serving\n",
            printed);

        _environment["DEV_TEST_MISSING_TOKEN"] = "secret";
        Save("f: echo three\n  auth: bearer $DEV_TEST_MISSING_TOKEN\n");
        Assert.Equal(["three"], Assert.Single(_served).Single().Argv.ToArray());
    }

    [Fact]
    public void A_reload_that_throws_is_logged_and_the_last_good_version_keeps_serving()
    {
        var errors = new List<string>();
        var reloader = new Reloader(new ManifestLoader(Manifest), _printed, new ErrorLog(errors), _ => null, (_, _) => throw new InvalidOperationException("boom"));
        File.WriteAllText(Manifest, "f: echo one\n");
        reloader.LoadFirst();
        File.WriteAllText(Manifest, "f: echo two\n");

        reloader.Reload();

        Assert.Equal($"Reloading {Manifest} failed; the last good version keeps serving: boom", Assert.Single(errors));
        Assert.Equal(["one"], reloader.Served!.All.Single().Argv.ToArray());
    }

    [Fact]
    public void A_deleted_manifest_prints_the_builds_FAAS009_and_keeps_serving()
    {
        File.WriteAllText(Manifest, "f: echo one\n");
        _reloader.LoadFirst();
        File.Delete(Manifest);
        string before = _printed.ToString();

        _reloader.Reload();

        Assert.StartsWith($"error FAAS009: No function manifest found at '{Manifest}'", _printed.ToString()[before.Length..], StringComparison.Ordinal);
        Assert.Empty(_served);
        Assert.Equal(["one"], _reloader.Served!.All.Single().Argv.ToArray());
    }

    private sealed class ErrorLog(List<string> errors) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Error)
            {
                errors.Add($"{formatter(state, exception)}: {exception?.Message}");
            }
        }
    }
}
