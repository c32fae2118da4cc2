using AotFaas.Functions;

namespace AotFaas.Tests.Http;

/// <summary>
/// The real server (Kestrel, the real endpoint and process layer) on a free port of 127.0.0.1,
/// serving a table of test functions that run real programs.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private readonly string _notExecutable = Path.Combine(Path.GetTempPath(), "aotfaas-noexec-" + Guid.NewGuid().ToString("N"));
    private TestServer? _server;

    public HttpClient Client { get; private set; } = null!;

    public static IReadOnlyDictionary<string, Proc> Functions(string notExecutable) => new Proc[]
    {
        new("cat", "cat", [], maxQueue: 100),
        new("typed", "cat", [], contentType: "image/png"),
        new("fail", "sh", ["-c", "printf 'went wrong' >&2; printf 'partial'; exit 3"]),
        new("fail-silently", "false", []),
        new("killed", "sh", ["-c", "kill -KILL $$"]),
        new("nothing", "true", []),
        // 1 MiB of stderr before a byte of stdin is read: deadlocks unless stderr is read while stdin is written.
        new("stderr-first", "sh", ["-c", "head -c 1048576 /dev/zero >&2; cat"]),
        // Never reads its input.
        new("ignore-input", "echo", ["ignored"]),
        // Reads 10 bytes, then exits with the rest of the input unread.
        new("head", "head", ["-c", "10"]),
        new("missing", "/nonexistent/program", []),
        new("not-executable", notExecutable, []),
        new("no-such-command", "aotfaas-no-such-command", []),
        new("argv", "printf", ["%s|", "a b", "$HOME", "*"]),
    }.ToDictionary(proc => proc.FuncName);

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(_notExecutable, "#!/bin/sh\necho hi\n");
        _server = await TestServer.StartAsync(Functions(_notExecutable).Values);
        Client = _server.Client;
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        File.Delete(_notExecutable);
    }
}
