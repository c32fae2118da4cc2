using System.Collections.Concurrent;

namespace AotFaas.Dev.Tests;

/// <summary>The saves the development server notices: in place, renamed over, emptied. Each waits for its call, at most ten seconds.</summary>
public sealed class ManifestWatcherTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("aotfaas-watch-").FullName;
    private readonly BlockingCollection<string> _seen = [];
    private readonly ManifestWatcher _watcher;

    public ManifestWatcherTests()
    {
        Manifest = Path.Combine(_folder, "functions.faas");
        File.WriteAllText(Manifest, "f: echo 0\n");
        _watcher = new ManifestWatcher(Manifest, () => _seen.Add(File.Exists(Manifest) ? File.ReadAllText(Manifest) : "(missing)"));
    }

    private string Manifest { get; }

    public void Dispose()
    {
        _watcher.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>What the callback read next; null when it was not called within ten seconds.</summary>
    private string? Next() => _seen.TryTake(out string? text, TimeSpan.FromSeconds(10)) ? text : null;

    /// <summary>The last call of a burst (one save may be seen as several events).</summary>
    private string? Settled(string expected)
    {
        string? text;
        while ((text = Next()) is not null && text != expected)
        {
        }

        return text;
    }

    [Fact]
    public void A_write_in_place_is_seen()
    {
        File.WriteAllText(Manifest, "f: echo 1\n");

        Assert.Equal("f: echo 1\n", Settled("f: echo 1\n"));
    }

    [Fact]
    public void A_file_written_aside_and_renamed_over_is_seen()
    {
        string aside = Path.Combine(_folder, ".functions.faas.swp");
        File.WriteAllText(aside, "f: echo 2\n");
        File.Move(aside, Manifest, overwrite: true);

        Assert.Equal("f: echo 2\n", Settled("f: echo 2\n"));
    }

    [Fact]
    public void The_old_file_moved_away_and_a_new_one_created_is_seen()
    {
        File.Move(Manifest, Manifest + "~");
        File.WriteAllText(Manifest, "f: echo 3\n");

        Assert.Equal("f: echo 3\n", Settled("f: echo 3\n"));
    }

    [Fact]
    public void A_manifest_left_empty_is_read_as_it_is_after_the_grace()
    {
        File.WriteAllText(Manifest, string.Empty);

        Assert.Equal(string.Empty, Settled(string.Empty));
    }
}
