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

    private readonly FileSystemWatcher _watcher;
    private readonly Timer _timer;
    private readonly Lock _running = new();

    public ManifestWatcher(string path, Action saved)
    {
        string fullPath = Path.GetFullPath(path);
        _timer = new Timer(_ =>
        {
            lock (_running)
            {
                saved();
            }
        });
        _watcher = new FileSystemWatcher(Path.GetDirectoryName(fullPath)!, Path.GetFileName(fullPath))
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
}
