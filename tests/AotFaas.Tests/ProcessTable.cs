using System.Globalization;

namespace AotFaas.Tests;

/// <summary>Reads /proc to check what a test left behind: processes, zombies, descriptors.</summary>
internal static class ProcessTable
{
    /// <summary>How many descriptors this process has open.</summary>
    public static int OpenDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>
    /// How many pipes and pidfds this process has open: what a run opens, and could leak. Sockets come
    /// and go with HTTP connection pooling, and the test host maps assemblies as it loads them.
    /// </summary>
    public static int OpenRunDescriptors() => Directory.GetFiles("/proc/self/fd").Count(fd =>
    {
        try
        {
            string target = new FileInfo(fd).LinkTarget ?? string.Empty;
            return target.StartsWith("pipe:", StringComparison.Ordinal) || target == "anon_inode:[pidfd]";
        }
        catch (IOException)
        {
            return false;
        }
    });

    /// <summary>The descriptor count once it drops to <paramref name="atMost"/>, or after two seconds.</summary>
    public static async Task<int> SettledDescriptorsAsync(int atMost, bool runDescriptorsOnly = false)
    {
        Func<int> count = runDescriptorsOnly ? OpenRunDescriptors : OpenDescriptors;
        int open = count();
        for (int i = 0; i < 100 && open > atMost; i++)
        {
            await Task.Delay(20);
            open = count();
        }

        return open;
    }

    /// <summary>Descriptors counted by kind (pipe, socket, anon_inode:[pidfd], a path), for failure messages.</summary>
    public static Dictionary<string, int> DescriptorKinds() => Directory.GetFiles("/proc/self/fd")
        .Select(fd =>
        {
            try
            {
                string target = new FileInfo(fd).LinkTarget ?? "?";
                int bracket = target.IndexOf(":[", StringComparison.Ordinal);
                return bracket > 0 && !target.StartsWith("anon_inode", StringComparison.Ordinal) ? target[..bracket] : target;
            }
            catch (IOException)
            {
                return "?";
            }
        })
        .GroupBy(kind => kind)
        .ToDictionary(g => g.Key, g => g.Count());

    /// <summary>What each descriptor of this process points at, for failure messages.</summary>
    public static string DescribeDescriptors() => string.Join('\n', Directory.GetFiles("/proc/self/fd").Select(fd =>
    {
        try
        {
            return Path.GetFileName(fd) + " -> " + new FileInfo(fd).LinkTarget;
        }
        catch (IOException)
        {
            return Path.GetFileName(fd) + " -> ?";
        }
    }));

    /// <summary>The pids whose parent is <paramref name="parent"/>, zombies included.</summary>
    public static int[] ChildrenOf(int parent)
    {
        var children = new List<int>();
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }

            string? stat = ReadStat(pid);
            if (stat is not null && ParentOf(stat) == parent)
            {
                children.Add(pid);
            }
        }

        return children.ToArray();
    }

    /// <summary>The children of this process with their state and command line, for failure messages.</summary>
    public static string DescribeChildren() => string.Join('\n', ChildrenOf(Environment.ProcessId).Select(pid =>
        $"{pid} {ReadStat(pid)} {(File.Exists($"/proc/{pid}/cmdline") ? File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ') : "?")}"));

    /// <summary>Waits until <paramref name="parent"/> has a child and returns its pid.</summary>
    public static async Task<int> FirstChildOfAsync(int parent, int timeoutMilliseconds = 5000)
    {
        for (int waited = 0; waited < timeoutMilliseconds; waited += 10)
        {
            int[] children = ChildrenOf(parent);
            if (children.Length > 0)
            {
                return children[0];
            }

            await Task.Delay(10);
        }

        throw new TimeoutException($"process {parent} started no child within {timeoutMilliseconds} ms");
    }

    /// <summary>True once <paramref name="pid"/> has exited (gone, or a zombie waiting for an unrelated reaper).</summary>
    public static async Task<bool> IsGoneAsync(int pid, int timeoutMilliseconds = 5000)
    {
        for (int waited = 0; ; waited += 20)
        {
            string? stat = ReadStat(pid);
            if (stat is null || StateOf(stat) is 'Z' or 'X')
            {
                return true;
            }

            if (waited >= timeoutMilliseconds)
            {
                return false;
            }

            await Task.Delay(20);
        }
    }

    private static string? ReadStat(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    // /proc/PID/stat: pid (comm) state ppid ...; comm may hold spaces and parentheses, so parse from the last ')'.
    private static char StateOf(string stat) => stat[stat.LastIndexOf(')') + 2];

    private static int ParentOf(string stat)
        => int.Parse(stat[(stat.LastIndexOf(')') + 4)..].Split(' ')[0], CultureInfo.InvariantCulture);
}
