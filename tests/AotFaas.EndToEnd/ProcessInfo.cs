using System.Globalization;

namespace AotFaas.EndToEnd;

/// <summary>What /proc says about a process: CPU time, limits, children, pid namespace ids.</summary>
public static class ProcessInfo
{
    /// <summary>User plus system CPU time, in clock ticks (fields 14 and 15 of /proc/PID/stat).</summary>
    public static long CpuTicks(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

        // fields[0] is field 3 (state).
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    /// <summary>The soft and hard "Max open files" of /proc/PID/limits.</summary>
    public static (string Soft, string Hard) OpenFilesLimit(int pid)
    {
        string line = File.ReadAllLines($"/proc/{pid}/limits").Single(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        string[] words = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (words[0], words[1]);
    }

    /// <summary>The direct children of <paramref name="pid"/>, whichever of its threads started them.</summary>
    public static int[] Children(int pid)
    {
        var children = new List<int>();
        try
        {
            foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    children.AddRange(File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)));
                }
                catch (IOException)
                {
                    // The thread ended meanwhile.
                }
            }
        }
        catch (IOException)
        {
            // The process ended.
        }

        return [.. children];
    }

    /// <summary>The pid of <paramref name="pid"/> in its innermost pid namespace (the last NSpid entry).</summary>
    public static int InnermostPid(int pid)
    {
        string line = File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("NSpid:", StringComparison.Ordinal));
        return int.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[^1], CultureInfo.InvariantCulture);
    }

    /// <summary>Whether <paramref name="pid"/> is gone or a zombie within 5 s.</summary>
    public static async Task<bool> IsGoneAsync(int pid)
    {
        for (int i = 0; i < 250; i++)
        {
            string stat = $"/proc/{pid}/stat";
            try
            {
                if ((await File.ReadAllTextAsync(stat)).Contains(") Z ", StringComparison.Ordinal))
                {
                    return true;
                }
            }
            catch (IOException)
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }

    /// <summary>Polls <paramref name="condition"/> every 20 ms for up to <paramref name="seconds"/>; false if it never held.</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, int seconds = 10)
    {
        for (long deadline = Environment.TickCount64 + (seconds * 1000L); Environment.TickCount64 < deadline; await Task.Delay(20))
        {
            if (condition())
            {
                return true;
            }
        }

        return condition();
    }
}
