using System.Text;
using AotFaas.Execution;

namespace AotFaas.Tests.Execution;

/// <summary>The process layer on real programs: posix_spawn, pipes, process groups, reaping.</summary>
public class ChildProcessTests
{
    private static readonly ProcessEnvironment Environment = ProcessEnvironment.FromCurrentProcess();

    /// <summary>Starts a program, writes <paramref name="input"/>, closes stdin and waits for the run to complete.</summary>
    internal static async Task<Run> RunAsync(string executable, string[] arguments, string input = "", ProcessEnvironment? environment = null)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var stdout = new OutputBuffer();
        using var stderr = new OutputBuffer();
        using ChildProcess child = ChildProcess.Start(executable, arguments, environment ?? Environment, stdout, stderr);
        bool written = await child.WriteInputAsync(Encoding.UTF8.GetBytes(input), timeout.Token);
        child.CloseInput();
        ExitStatus status = await child.Completion.WaitAsync(timeout.Token);
        return new Run(child.Id, status, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()), written);
    }

    [Fact]
    public async Task Stdin_reaches_the_program_and_stdout_comes_back()
    {
        Run run = await RunAsync("cat", [], "hello\n");

        Assert.True(run.Status.IsSuccess);
        Assert.Equal("hello\n", run.Stdout);
        Assert.Equal(string.Empty, run.Stderr);
    }

    [Fact]
    public async Task Large_input_and_output_flow_through_full_pipes_in_both_directions()
    {
        string input = string.Concat(Enumerable.Range(0, 200_000).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n"));

        Run run = await RunAsync("cat", [], input);

        Assert.Equal(input.Length, run.Stdout.Length);
        Assert.Equal(input, run.Stdout);
    }

    [Fact]
    public async Task Arguments_reach_the_program_verbatim_without_a_shell()
    {
        Run run = await RunAsync("printf", ["[%s]", "a b", "$HOME", "*", "", "'q'", "; ls"]);

        Assert.Equal("[a b][$HOME][*][]['q'][; ls]", run.Stdout);
    }

    [Fact]
    public async Task The_program_leads_its_own_session_and_process_group()
    {
        Run run = await RunAsync("cat", ["/proc/self/stat"]);

        // /proc/PID/stat: pid (comm) state ppid pgrp session ...
        string[] fields = run.Stdout[(run.Stdout.LastIndexOf(')') + 2)..].Split(' ');
        Assert.Equal(run.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), run.Stdout.Split(' ')[0]);
        Assert.Equal(run.Pid, int.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(run.Pid, int.Parse(fields[3], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Only_stdin_stdout_and_stderr_reach_the_program()
    {
        // The test process has many descriptors open (sockets, pipes, files); look at the child's from outside,
        // once it has echoed its first line (before that, the dynamic loader may hold a descriptor of its own).
        using var stdout = new OutputBuffer();
        using var stderr = new OutputBuffer();
        using ChildProcess child = ChildProcess.Start("cat", [], Environment, stdout, stderr);
        try
        {
            await child.WriteInputAsync("ready\n"u8.ToArray(), CancellationToken.None);
            for (int i = 0; i < 500 && stdout.Length < 6; i++)
            {
                await Task.Delay(10);
            }

            string[] descriptors = Directory.GetFiles($"/proc/{child.Id}/fd").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

            Assert.Equal(["0", "1", "2"], descriptors);
        }
        finally
        {
            child.SignalGroup(9);
            await child.Completion;
        }
    }

    [Fact]
    public async Task The_program_gets_blocking_pipes_even_though_the_server_does_not_block()
    {
        // O_NONBLOCK lives on the open file; had it leaked to the child's ends, `cat` would fail with EAGAIN.
        Run run = await RunAsync("sh", ["-c", "sleep 0.2; cat"], "after a pause");

        Assert.True(run.Status.IsSuccess, run.Stderr);
        Assert.Equal("after a pause", run.Stdout);
    }

    [Fact]
    public async Task Standard_signals_are_at_their_defaults_and_unblocked_in_the_program()
    {
        // The .NET runtime ignores SIGPIPE, and an ignored signal survives exec unless reset.
        // (glibc itself leaves its two internal real-time signals, 32 and 33, ignored.)
        Run run = await RunAsync("grep", ["-E", "^Sig(Ign|Blk)", "/proc/self/status"]);

        Dictionary<string, ulong> masks = run.Stdout.Trim().Split('\n')
            .Select(line => line.Split(":\t"))
            .ToDictionary(parts => parts[0], parts => ulong.Parse(parts[1], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture));
        const ulong standardSignals = 0x7FFF_FFFF;
        Assert.Equal(0UL, masks["SigIgn"] & standardSignals);
        Assert.Equal(0UL, masks["SigBlk"] & standardSignals);
    }

    [Fact]
    public async Task The_exit_code_and_both_outputs_are_reported()
    {
        Run run = await RunAsync("sh", ["-c", "echo out; echo err >&2; exit 42"]);

        Assert.Equal(42, run.Status.ExitCode);
        Assert.False(run.Status.IsSuccess);
        Assert.Equal("exit code 42", run.Status.ToString());
        Assert.Equal("out\n", run.Stdout);
        Assert.Equal("err\n", run.Stderr);
    }

    [Fact]
    public async Task A_killing_signal_is_reported_by_name()
    {
        Run run = await RunAsync("sh", ["-c", "kill -TERM $$"]);

        Assert.Equal(15, run.Status.Signal);
        Assert.Equal("killed by SIGTERM", run.Status.ToString());
    }

    [Fact]
    public async Task A_program_that_does_not_read_its_input_makes_writing_report_false_not_fail()
    {
        // Larger than a pipe can grow to (1 MiB), so some write must find the program gone.
        Run run = await RunAsync("true", [], new string('x', 4 * 1024 * 1024));

        Assert.True(run.Status.IsSuccess);
        Assert.False(run.InputWritten);
    }

    [Fact]
    public async Task Signalling_the_group_reaches_the_programs_children()
    {
        using var stdout = new OutputBuffer();
        using var stderr = new OutputBuffer();
        using ChildProcess child = ChildProcess.Start("sh", ["-c", "sleep 600 & wait"], Environment, stdout, stderr);
        int grandchild = await ProcessTable.FirstChildOfAsync(child.Id);

        child.SignalGroup(9);

        Assert.Equal(9, (await child.Completion.WaitAsync(TimeSpan.FromSeconds(10))).Signal);
        Assert.True(await ProcessTable.IsGoneAsync(grandchild), $"grandchild {grandchild} still runs");
    }

    [Fact]
    public void A_missing_program_is_a_SpawnException_with_the_reason()
    {
        using var output = new OutputBuffer();
        var e = Assert.Throws<SpawnException>(() => ChildProcess.Start("/nonexistent/program", [], Environment, output, output));

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
            using var output = new OutputBuffer();
            var e = Assert.Throws<SpawnException>(() => ChildProcess.Start(path, [], Environment, output, output));

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

        Run run = await RunAsync("/usr/bin/env", [], environment: environment);

        Assert.Equal("EMPTY=\nFOO=bar baz\n", run.Stdout);
    }

    [Fact]
    public async Task Output_past_the_memory_limit_waits_in_an_unnamed_temporary_file()
    {
        byte[] input = new byte[3 * 1024 * 1024];
        new Random(5).NextBytes(input);
        string[] namedBefore = Directory.GetFiles(Path.GetTempPath(), TemporaryFile.SpillPrefix + "*");
        using var stdout = new OutputBuffer(limit: long.MaxValue, memoryLimit: 256 * 1024);
        using var stderr = new OutputBuffer();
        using (ChildProcess child = ChildProcess.Start("cat", [], Environment, stdout, stderr))
        {
            Assert.True(await child.WriteInputAsync(input, CancellationToken.None));
            child.CloseInput();
            await child.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.True(stdout.Spilled);
        Assert.Equal(input.Length, stdout.Length);
        Assert.True(input.AsSpan().SequenceEqual(stdout.ToArray()));
        using var copy = new MemoryStream();
        await stdout.CopyToAsync(copy, CancellationToken.None);
        Assert.True(input.AsSpan().SequenceEqual(copy.ToArray()));
        Assert.Equal(namedBefore, Directory.GetFiles(Path.GetTempPath(), TemporaryFile.SpillPrefix + "*"));
    }

    [Fact]
    public async Task Output_past_the_limit_is_counted_and_dropped()
    {
        using var stdout = new OutputBuffer(limit: 1000, memoryLimit: 100);
        using var stderr = new OutputBuffer();
        using (ChildProcess child = ChildProcess.Start("head", ["-c", "5000", "/dev/zero"], Environment, stdout, stderr))
        {
            child.CloseInput();
            await child.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.Equal(1000, stdout.Length);
        Assert.Equal(4000, stdout.Dropped);
        Assert.True(stdout.Overflowed);
    }

    /// <summary>What a completed run gave.</summary>
    internal sealed record Run(int Pid, ExitStatus Status, string Stdout, string Stderr, bool InputWritten);
}
