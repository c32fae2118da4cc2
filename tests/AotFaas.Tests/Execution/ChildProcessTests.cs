using AotFaas.Execution;

namespace AotFaas.Tests.Execution;

/// <summary>The process layer on real programs: posix_spawn, pipes, process groups, reaping.</summary>
public class ChildProcessTests
{
    private static readonly ProcessEnvironment Environment = ProcessEnvironment.FromCurrentProcess();

    internal static async Task<(ExitStatus Status, string Stdout, string Stderr)> RunToEndAsync(ChildProcess child, string input = "")
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var stdout = new OutputBuffer();
        var stderr = new OutputBuffer();
        Task reading = Task.WhenAll(stdout.FillAsync(child.StandardOutput, timeout.Token), stderr.FillAsync(child.StandardError, timeout.Token));
        await child.StandardInput.WriteAsync(System.Text.Encoding.UTF8.GetBytes(input), timeout.Token);
        await child.StandardInput.DisposeAsync();
        await reading;
        ExitStatus status = await child.Exited.WaitAsync(timeout.Token);
        return (status, System.Text.Encoding.UTF8.GetString(stdout.ToArray()), System.Text.Encoding.UTF8.GetString(stderr.ToArray()));
    }

    [Fact]
    public async Task Stdin_reaches_the_program_and_stdout_comes_back()
    {
        using ChildProcess child = ChildProcess.Start("cat", [], Environment);

        var (status, stdout, stderr) = await RunToEndAsync(child, "hello\n");

        Assert.True(status.IsSuccess);
        Assert.Equal("hello\n", stdout);
        Assert.Equal(string.Empty, stderr);
    }

    [Fact]
    public async Task Arguments_reach_the_program_verbatim_without_a_shell()
    {
        using ChildProcess child = ChildProcess.Start("printf", ["[%s]", "a b", "$HOME", "*", "", "'q'", "; ls"], Environment);

        var (_, stdout, _) = await RunToEndAsync(child);

        Assert.Equal("[a b][$HOME][*][]['q'][; ls]", stdout);
    }

    [Fact]
    public async Task The_program_leads_its_own_session_and_process_group()
    {
        using ChildProcess child = ChildProcess.Start("cat", ["/proc/self/stat"], Environment);

        var (_, stdout, _) = await RunToEndAsync(child);

        // /proc/PID/stat: pid (comm) state ppid pgrp session ...
        string[] fields = stdout[(stdout.LastIndexOf(')') + 2)..].Split(' ');
        Assert.Equal(child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), stdout.Split(' ')[0]);
        Assert.Equal(child.Id, int.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(child.Id, int.Parse(fields[3], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Only_stdin_stdout_and_stderr_reach_the_program()
    {
        // The test process has many descriptors open (sockets, pipes, files); look at the child's from outside.
        using ChildProcess child = ChildProcess.Start("sleep", ["30"], Environment);
        try
        {
            string[] descriptors = Directory.GetFiles($"/proc/{child.Id}/fd").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

            Assert.Equal(["0", "1", "2"], descriptors);
        }
        finally
        {
            child.SignalGroup(9);
            await child.Exited;
        }
    }

    [Fact]
    public async Task Standard_signals_are_at_their_defaults_and_unblocked_in_the_program()
    {
        // The .NET runtime ignores SIGPIPE, and an ignored signal survives exec unless reset.
        // (glibc itself leaves its two internal real-time signals, 32 and 33, ignored.)
        using ChildProcess child = ChildProcess.Start("grep", ["-E", "^Sig(Ign|Blk)", "/proc/self/status"], Environment);

        var (_, stdout, _) = await RunToEndAsync(child);

        Dictionary<string, ulong> masks = stdout.Trim().Split('\n')
            .Select(line => line.Split(":\t"))
            .ToDictionary(parts => parts[0], parts => ulong.Parse(parts[1], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture));
        const ulong standardSignals = 0x7FFF_FFFF;
        Assert.Equal(0UL, masks["SigIgn"] & standardSignals);
        Assert.Equal(0UL, masks["SigBlk"] & standardSignals);
    }

    [Fact]
    public async Task The_exit_code_is_reported()
    {
        using ChildProcess child = ChildProcess.Start("sh", ["-c", "echo out; echo err >&2; exit 42"], Environment);

        var (status, stdout, stderr) = await RunToEndAsync(child);

        Assert.Equal(42, status.ExitCode);
        Assert.False(status.IsSuccess);
        Assert.Equal("exit code 42", status.ToString());
        Assert.Equal("out\n", stdout);
        Assert.Equal("err\n", stderr);
    }

    [Fact]
    public async Task A_killing_signal_is_reported_by_name()
    {
        using ChildProcess child = ChildProcess.Start("sh", ["-c", "kill -TERM $$"], Environment);

        var (status, _, _) = await RunToEndAsync(child);

        Assert.Equal(15, status.Signal);
        Assert.Equal("killed by SIGTERM", status.ToString());
    }

    [Fact]
    public async Task Signalling_the_group_reaches_the_programs_children()
    {
        using ChildProcess child = ChildProcess.Start("sh", ["-c", "sleep 600 & echo $!; wait"], Environment);
        var stdout = new OutputBuffer();
        Task reading = stdout.FillAsync(child.StandardOutput, CancellationToken.None);
        int grandchild = await ReadPidAsync(stdout);

        child.SignalGroup(9);

        Assert.Equal(9, (await child.Exited.WaitAsync(TimeSpan.FromSeconds(10))).Signal);
        await reading.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(await ProcessTable.IsGoneAsync(grandchild), $"grandchild {grandchild} still runs");
    }

    [Fact]
    public void A_missing_program_is_a_SpawnException_with_the_reason()
    {
        var e = Assert.Throws<SpawnException>(() => ChildProcess.Start("/nonexistent/program", [], Environment));

        Assert.Equal(2, e.Errno);
        Assert.Equal("cannot run '/nonexistent/program': No such file or directory", e.Message);
    }

    [Fact]
    public void A_program_without_the_run_bit_is_a_SpawnException()
    {
        string path = Path.Combine(Path.GetTempPath(), "aotfaas-noexec-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, "#!/bin/sh\necho hi\n");
        try
        {
            var e = Assert.Throws<SpawnException>(() => ChildProcess.Start(path, [], Environment));

            Assert.Equal(13, e.Errno);
            Assert.Contains("Permission denied", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task The_program_sees_exactly_the_environment_it_is_given()
    {
        var environment = new ProcessEnvironment([new("FOO", "bar baz"), new("EMPTY", string.Empty)]);
        using ChildProcess child = ChildProcess.Start("/usr/bin/env", [], environment);

        var (_, stdout, _) = await RunToEndAsync(child);

        Assert.Equal("EMPTY=\nFOO=bar baz\n", stdout);
    }

    private static async Task<int> ReadPidAsync(OutputBuffer stdout)
    {
        for (int i = 0; i < 1000; i++)
        {
            string text = System.Text.Encoding.ASCII.GetString(stdout.ToArray());
            if (text.EndsWith('\n'))
            {
                return int.Parse(text.Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }

            await Task.Delay(10);
        }

        throw new TimeoutException("the shell never printed the pid of its child");
    }
}
