using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Tests.Http;

namespace AotFaas.Tests.Containment;

/// <summary>A server whose functions try to escape their run: processes that leave their group, slow peers, unsigned bodies.</summary>
public sealed class ContainmentFixture : IAsyncLifetime
{
    public const string HookSecret = "containment-secret";

    private const string HopperScript = """
        my $file = shift;
        if (my $p = fork) { waitpid($p, 0); print "started\n"; exit 0 }
        require POSIX; POSIX::setsid();
        if (fork) { exit 0 }
        close STDIN; close STDOUT; close STDERR;
        for my $i (1 .. 200) {
            open(my $f, '>>', $file); print $f "$$\n"; close $f;
            select(undef, undef, undef, 0.05);
            if (fork) { exit 0 }
        }
        """;

    private TestServer? _server;

    public HttpClient Client { get; private set; } = null!;

    /// <summary>Everything the server and Kestrel logged.</summary>
    public global::AotFaas.Tests.Operations.CapturingLogger Log { get; } = new();

    /// <summary>What signed bodies being received hold, server-wide.</summary>
    public global::AotFaas.Security.UnverifiedBodies Unverified => _server!.Server.UnverifiedBodies;

    /// <summary>Errors Kestrel logged (an exception it met while finishing a request), for assertions.</summary>
    public string[] KestrelErrors() => Log.Entries
        .Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error && e.Category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal))
        .Select(e => $"[{e.Category} {e.EventId.Id} {e.EventId.Name}] {e.Message} {e.Exception}")
        .ToArray();

    public Uri Address => Client.BaseAddress!;

    /// <summary>A folder for pid files and marks written by the functions.</summary>
    public string Scratch { get; } = Directory.CreateTempSubdirectory("aotfaas-contain-").FullName;

    public async Task InitializeAsync()
    {
        string s = Scratch;
        Proc[] procs =
        [
            new("cat", "cat", [], maxQueue: 100),

            // The case: a setsid descendant that keeps stdout and stderr open.
            new("escape-pipes", "sh", ["-c", $"setsid sh -c 'echo $$ > {s}/escape-pipes.pid; exec sleep 31346' & sleep 0.3; echo parent-done"], timeoutMilliseconds: 3000, maxInflight: 1, maxQueue: 0),

            // Only stderr is held (stdout goes nowhere), from a process that left the group with setpgid.
            new("escape-stderr", "perl", ["-e", $"if (fork() == 0) {{ setpgrp(0, 0); open(my $f, '>', '{s}/escape-stderr.pid'); print $f $$; close $f; open(STDOUT, '>', '/dev/null'); sleep 31346; exit 0 }} select(undef, undef, undef, 0.3); print \"parent-done\\n\""], timeoutMilliseconds: 3000, maxInflight: 1, maxQueue: 0),

            // A real daemon: double fork, new session, every descriptor closed. No pipe says it is there.
            // It waits for the daemon's pid file, so the daemon is surely running when the run ends.
            new("daemon", "sh", ["-c", $"rm -f {s}/daemon.pid; (setsid sh -c 'echo $$ > {s}/daemon.pid; exec sleep 31346' < /dev/null > /dev/null 2>&1 &); while [ ! -s {s}/daemon.pid ]; do sleep 0.01; done; echo started"]),

            // A helper double-forked into a session of its own that the run still waits for: it must not be killed early.
            new("helper", "sh", ["-c", $"rm -f {s}/helper.out; (setsid sh -c 'echo $$ > {s}/helper.pid; sleep 0.8; echo helper-done > {s}/helper.out' < /dev/null > /dev/null 2>&1 &); while [ ! -s {s}/helper.out ]; do sleep 0.05; done; cat {s}/helper.out"], timeoutMilliseconds: 10_000),

            // A line of processes that forks every 50 ms and lets the parent exit, so each one is younger than every
            // run in flight; it stops by itself after 200 hops (10 s). And runs to keep others in flight meanwhile.
            new("hopper", "perl", ["-e", HopperScript, $"{s}/hopper.pids"]),
            new("busy", "sleep", ["1"], maxInflight: 20, timeoutMilliseconds: 10_000),

            // 10 MiB of output, two slots and no queue: slow readers must not hold the slots.
            new("big", "sh", ["-c", $"echo $$ >> {s}/big.pids; exec head -c 10485760 /dev/zero"], maxInflight: 2, maxQueue: 0, timeoutMilliseconds: 5000),

            // A signed webhook with one slot and a short deadline.
            new("hook", "cat", [], auth: AuthScheme.HmacSha256, authSecretVariable: "HOOK_SECRET", authHeader: "X-Hub-Signature-256", timeoutMilliseconds: 1500, maxInflight: 1, maxQueue: 0, maxBody: 64L << 20),

            // Signed, with a long deadline (to hold unverified bodies open) or a small limit.
            new("hook-long", "cat", [], auth: AuthScheme.HmacSha256, authSecretVariable: "HOOK_SECRET", authHeader: "X-Hub-Signature-256", timeoutMilliseconds: 30_000, maxBody: 64L << 20),
            new("hook-small", "cat", [], auth: AuthScheme.HmacSha256, authSecretVariable: "HOOK_SECRET", authHeader: "X-Hub-Signature-256", maxBody: 1 << 20),

            new("small", "cat", [], maxBody: 1024),
            new("slow-upload", "sh", ["-c", $"echo $$ > {s}/slow-upload.pid; cat > /dev/null"], timeoutMilliseconds: 500),
        ];
        _server = await TestServer.StartAsync(
            procs,
            new RunLimits { KillGrace = TimeSpan.FromMilliseconds(300) },
            name => name switch { "PATH" => Environment.GetEnvironmentVariable("PATH"), "HOOK_SECRET" => HookSecret, _ => null },
            loggerFactory: Log);
        Client = _server.Client;
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(Scratch, recursive: true);
    }

    /// <summary>Waits until <paramref name="function"/> has no run in flight; false after ten seconds.</summary>
    public Task<bool> IdleAsync(string function) => GateMetrics.WaitAsync(Client, function, running: 0);

    /// <summary>Waits until <paramref name="function"/> has <paramref name="running"/> runs in flight; false after ten seconds.</summary>
    public Task<bool> GateAsync(string function, int running) => GateMetrics.WaitAsync(Client, function, running);

    /// <summary>The pid a function wrote to <paramref name="file"/>, once it is there.</summary>
    public async Task<int> PidAsync(string file)
    {
        string path = Path.Combine(Scratch, file);
        for (int i = 0; i < 250; i++)
        {
            if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } text && int.TryParse(text.Split('\n')[^1], out int pid))
            {
                return pid;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("no pid in " + path);
    }
}
