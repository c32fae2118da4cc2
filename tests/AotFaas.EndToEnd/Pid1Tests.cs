using System.Globalization;

namespace AotFaas.EndToEnd;

/// <summary>
/// The binary as PID 1, as <c>deploy/Dockerfile</c> runs it: every orphan in its PID namespace becomes its
/// child, and it must reap them all, so that a long-lived container does not fill up with zombies.
/// </summary>
[Collection(nameof(PublishedBinary))]
public sealed class Pid1Tests(PublishedBinary binary)
{
    [Fact]
    public async Task As_pid_1_it_reaps_every_orphan_its_runs_leave()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            // A PID namespace needs root here; CI runs as root.
            return;
        }

        int port = RunningServer.FreePort();
        await using RunningServer unshare = await RunningServer.StartAsync(
            "unshare", port, ["--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM", binary.Path, "--urls", $"http://127.0.0.1:{port}"]);
        int server = ChildrenOf(unshare.ProcessId).Single();

        for (int i = 0; i < 10; i++)
        {
            foreach (string function in (string[])["background", "daemon"])
            {
                using HttpResponseMessage response = await unshare.Client.PostAsync("/function/" + function, new ByteArrayContent([]));
                Assert.Equal("started\n", await response.Content.ReadAsStringAsync());
            }
        }

        // Each run left a `sleep` behind (one in its group, one in a session of its own): all killed and reaped.
        int[] left = [];
        for (int i = 0; i < 250; i++)
        {
            left = ChildrenOf(server);
            if (left.Length == 0)
            {
                break;
            }

            await Task.Delay(20);
        }

        Assert.True(left.Length == 0, "children of PID 1 left: " + string.Join(", ", left.Select(Describe)));
        using HttpResponseMessage still = await unshare.Client.PostAsync("/function/cat", new StringContent("still here"));
        Assert.Equal("still here", await still.Content.ReadAsStringAsync());
    }

    private static int[] ChildrenOf(int pid)
    {
        string children = File.ReadAllText($"/proc/{pid}/task/{pid}/children");
        return children.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
    }

    private static string Describe(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/stat").Split(' ')[..3].Aggregate((a, b) => a + " " + b);
        }
        catch (IOException)
        {
            return pid + " (gone)";
        }
    }
}
