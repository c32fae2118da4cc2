namespace AotFaas.Dev;

/// <summary>
/// Calls back once a manifest has been saved and has stayed quiet for <see cref="Quiet"/>. Editors save by
/// writing the file, or by writing another one and renaming it over (or moving the old one away first), so
/// writes, creations, renames and deletions of that name in its folder all count. The callback runs on a
/// timer thread, never twice at once.
/// </summary>
internal sealed class ManifestWatcher : IDisposable
{
    /// <summary>How long the file must stay untouched before it is read: one save is often several writes.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(40);

    /// <summary>
    /// How long an empty file is given to fill: a save that truncates the file and then writes it may be caught
    /// in between, and serving an empty manifest for a moment would answer 404 to everything. Still empty after
    /// that, it is read as it is (the build's FAAS010).
    /// </summary>
    public static readonly TimeSpan EmptyGrace = TimeSpan.FromMilliseconds(250);

    private readonly string _fullPath;
    private readonly FileSystemWatcher _watcher;
    private readonly Timer _timer;
    private readonly Lock _running = new();
    private bool _waitedForContent;

    public ManifestWatcher(string path, Action saved)
    {
        _fullPath = Path.GetFullPath(path);
        _timer = new Timer(_ =>
        {
            lock (_running)
            {
                if (!_waitedForContent && IsEmpty(_fullPath))
                {
                    _waitedForContent = true;
                    _timer!.Change(EmptyGrace, Timeout.InfiniteTimeSpan);
                    return;
                }

                _waitedForContent = false;
                saved();
            }
        });
        _watcher = new FileSystemWatcher(Path.GetDirectoryName(_fullPath)!, Path.GetFileName(_fullPath))
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime | NotifyFilters.Attributes,
            IncludeSubdirectories = false,
        };
        _watcher.Changed += Touched;
        _watcher.Created += Touched;
        _watcher.Deleted += Touched;
        _watcher.Renamed += Touched;

        // Events were lost (the kernel's queue overflowed): read the file anyway.
        _watcher.Error += (_, _) => Check();
        _watcher.EnableRaisingEvents = true;
    }

    /// <summary>Reads the file once, as a save would (after <see cref="Quiet"/>).</summary>
    public void Check() => Touched(this, null!);

    public void Dispose()
    {
        _watcher.Dispose();
        _timer.Dispose();
    }

    private void Touched(object sender, FileSystemEventArgs e) => _timer.Change(Quiet, Timeout.InfiniteTimeSpan);

    private static bool IsEmpty(string path)
    {
        try
        {
            return new FileInfo(path) is { Exists: true, Length: 0 };
        }
        catch (IOException)
        {
            return false;
        }
    }
}
