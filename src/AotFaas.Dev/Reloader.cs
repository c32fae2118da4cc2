using System.Diagnostics;
using AotFaas.Functions;
using AotFaas.Security;

namespace AotFaas.Dev;

/// <summary>
/// What a save does: read the manifest, and when its bytes changed compile it (<see cref="ManifestLoader"/>) and
/// print the diagnostics exactly as the build would, nothing more; a manifest with errors, or whose auth secrets
/// are missing from the environment, leaves the last good version serving. Otherwise the new functions are served
/// from the next request on, and the previous table is unloaded once the requests that hold it are done.
/// </summary>
internal sealed class Reloader(ManifestLoader loader, TextWriter diagnostics, ILogger log, Func<string, string?> environment, Action<IReadOnlyList<Proc>, Func<string, Proc?>> serve)
{
    private bool _read;
    private byte[]? _lastRead;

    /// <summary>The table served now, or null when none has compiled yet.</summary>
    public LoadedTable? Served { get; private set; }

    /// <summary>The first load, before the server starts: prints the diagnostics; the table is not served yet.</summary>
    public LoadedManifest LoadFirst()
    {
        (byte[]? content, bool readable) = Read();
        _read = true;
        _lastRead = content;
        LoadedManifest loaded = loader.Load(content, readable);
        Print(loaded.Diagnostics);
        Served = loaded.Table;
        return loaded;
    }

    /// <summary>Called on each save (never twice at once); whatever goes wrong is logged, and the last good version keeps serving.</summary>
    public void Reload()
    {
        try
        {
            ReloadOnce();
        }
        catch (Exception e)
        {
            // A bug here must not end the server (this runs on a timer thread).
            log.LogError(e, "Reloading {Manifest} failed; the last good version keeps serving", loader.Path);
        }
    }

    private void ReloadOnce()
    {
        long started = Stopwatch.GetTimestamp();
        (byte[]? content, bool readable) = Read();
        if (_read && readable && Same(content, _lastRead))
        {
            // Saved without a change (or a second event of the same save).
            return;
        }

        _read = true;
        _lastRead = content;
        LoadedManifest loaded = loader.Load(content, readable);
        Print(loaded.Diagnostics);
        if (loaded.Table is not LoadedTable table)
        {
            // The build's FAAS lines above say why; the last good version keeps serving.
            return;
        }

        IReadOnlyList<string> missing = FunctionAuth.MissingSecrets(table.All, environment);
        if (missing.Count > 0)
        {
            foreach (string line in missing)
            {
                diagnostics.WriteLine($"dev.sh: {line}");
            }

            diagnostics.WriteLine($"dev.sh: not reloading {loader.Path}: set the variables above (and restart ./dev.sh), or remove the functions' auth option; the last good version keeps serving");
            diagnostics.Flush();
            table.Context.Unload();
            return;
        }

        serve(table.All, table.Lookup);
        LoadedTable? previous = Served;
        Served = table;

        // Collected once no request holds the old table's functions any more.
        previous?.Context.Unload();
        log.LogInformation(
            "Reloaded {Manifest}: {Count} {Functions} in {Milliseconds} ms",
            loader.Path,
            table.All.Length,
            table.All.Length == 1 ? "function" : "functions",
            (int)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    private void Print(IEnumerable<string> lines)
    {
        foreach (string line in lines)
        {
            diagnostics.WriteLine(line);
        }

        diagnostics.Flush();
    }

    /// <summary>The manifest's bytes (null when it is missing or unreadable) and whether it could be read.</summary>
    private (byte[]? Content, bool Readable) Read()
    {
        try
        {
            return (File.ReadAllBytes(loader.Path), true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return (null, true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, false);
        }
    }

    private static bool Same(byte[]? a, byte[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);
}
