using AotFaas.Execution;
using AotFaas.Functions;

namespace AotFaas.Tests.Http;

/// <summary>A server whose functions set the run-safety options, with a short kill grace.</summary>
public sealed class LimitsFixture : IAsyncLifetime
{
    private TestServer? _server;

    public HttpClient Client { get; private set; } = null!;

    /// <summary>A folder for pid files written by the functions.</summary>
    public string Scratch { get; } = Directory.CreateTempSubdirectory("aotfaas-limits-").FullName;

    /// <summary>The server's environment as the functions' pass-env and inherited names see it.</summary>
    public static readonly Dictionary<string, string> ServerEnvironment = new()
    {
        ["PATH"] = Environment.GetEnvironmentVariable("PATH")!,
        ["HOME"] = "/home/aotfaas",
        ["LANG"] = "C.UTF-8",
        ["API_SECRET"] = "do-not-leak",
        ["REGION"] = "eu-west-1",
    };

    public async Task InitializeAsync()
    {
        Proc[] procs =
        [
            new("sleeper", "sleep", ["600"], timeoutMilliseconds: 300),
            new("family", "sh", ["-c", $"sleep 600 & echo $! > {Scratch}/family.pids; sleep 600 & echo $! >> {Scratch}/family.pids; wait"], timeoutMilliseconds: 300),
            new("stubborn", "sh", ["-c", $"trap '' TERM; echo $$ > {Scratch}/stubborn.pid; while :; do sleep 0.05; done"], timeoutMilliseconds: 300),
            new("orphans", "sh", ["-c", $"sleep 600 > /dev/null 2>&1 & echo $! > {Scratch}/orphans.pid"]),
            // A grandchild blocked writing to a full pipe: `yes` into a `sleep` that never reads.
            new("blocked", "sh", ["-c", $"sh -c 'echo $$ > {Scratch}/blocked.pid; exec yes' | sleep 600 & wait"], timeoutMilliseconds: 300),
            new("slow", "sleep", ["1"], maxInflight: 1, maxQueue: 0),
            new("queued", "sleep", ["5"], maxInflight: 1, maxQueue: 5, timeoutMilliseconds: 400),
            new("small", "cat", [], maxBody: 1024),
            new("chatty", "head", ["-c", "3000000", "/dev/zero"], maxOutput: 1L << 20),
            new("noisy", "sh", ["-c", "head -c 200000 /dev/zero | tr '\\0' e >&2; exit 1"]),
            new("env", "env", [], env: ["GREETING=hello world", "LANG=fr_FR.UTF-8"], passEnv: ["REGION", "UNSET_NAME"], requestEnv: RequestEnvMode.None),
            new("where", "pwd", [], workDir: "/tmp"),
            new("nowhere", "pwd", [], workDir: "/nonexistent/dir"),
            new("pair", "sleep", ["0.2"], maxInflight: 2, maxQueue: 10),
            new("cat", "cat", [], maxQueue: 1000),
            new("stderr-flood", "sh", ["-c", "head -c 104857600 /dev/zero >&2; cat"], timeoutMilliseconds: 20_000),
            new("deaf", "echo", ["ignored"], maxBody: 64L << 20),
            new("mute", "sh", ["-c", "exec >&-; sleep 600"], timeoutMilliseconds: 300),
            new("uploader", "cat", [], maxInflight: 1, maxQueue: 0),
            new("fail", "sh", ["-c", "echo no >&2; exit 2"], maxQueue: 1000),
            new("killed", "sh", ["-c", "kill -KILL $$"], maxQueue: 1000),
            new("head", "head", ["-c", "10"], maxQueue: 1000),
            new("missing", "/nonexistent/program", []),
        ];
        _server = await TestServer.StartAsync(procs, new RunLimits { KillGrace = TimeSpan.FromMilliseconds(300) }, name => ServerEnvironment.GetValueOrDefault(name));
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

    /// <summary>Waits until the metrics say <paramref name="function"/> has <paramref name="running"/> runs in flight and <paramref name="waiting"/> queued.</summary>
    public async Task WaitForGateAsync(string function, int running, int waiting = 0)
    {
        if (!await GateMetrics.WaitAsync(Client, function, running, waiting))
        {
            throw new TimeoutException($"'{function}' never had {running} running and {waiting} waiting");
        }
    }

    /// <summary>The pids a function wrote to <paramref name="file"/> in <see cref="Scratch"/>.</summary>
    public async Task<int[]> PidsAsync(string file)
    {
        string path = Path.Combine(Scratch, file);
        for (int i = 0; i < 250 && !File.Exists(path); i++)
        {
            await Task.Delay(20);
        }

        return (await File.ReadAllLinesAsync(path)).Where(l => l.Length > 0).Select(l => int.Parse(l, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }
}
