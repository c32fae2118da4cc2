using System.Text;
using AotFaas.Execution;
using AotFaas.Tests.Execution;
using AotFaas.Tests.Http;

namespace AotFaas.Tests;

/// <summary>Tests that count this process's descriptors and children run alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(LeakTests), DisableParallelization = true)]
public sealed class LeakTestsCollection;

/// <summary>Nothing is left behind: no descriptor, no child, no zombie.</summary>
[Collection(nameof(LeakTests))]
public class LeakTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static readonly ProcessEnvironment Environment = ProcessEnvironment.FromCurrentProcess();

    [Fact]
    public void Failed_spawns_leak_no_descriptors()
    {
        using var output = new OutputBuffer();
        Assert.Throws<SpawnException>(() => ChildProcess.Start("/nonexistent/program", [], Environment, output, output));
        int before = ProcessTable.OpenDescriptors();

        for (int i = 0; i < 200; i++)
        {
            Assert.Throws<SpawnException>(() => ChildProcess.Start("/nonexistent/program", [], Environment, output, output));
        }

        Assert.Equal(before, ProcessTable.OpenDescriptors());
    }

    [Fact]
    public async Task Many_concurrent_runs_are_all_reaped()
    {
        // Mixed: quick exits, output before input, inputs larger than a pipe, and a program not reading at all.
        for (int round = 0; round < 8; round++)
        {
            var runs = Enumerable.Range(0, 32).Select(async i => (i, await ((i % 4) switch
            {
                0 => ChildProcessTests.RunAsync("sh", ["-c", "exit " + (i % 7)]),
                1 => ChildProcessTests.RunAsync("cat", ["/proc/self/stat"]),
                2 => ChildProcessTests.RunAsync("cat", [], new string('x', 300_000)),
                _ => ChildProcessTests.RunAsync("true", [], new string('y', 100_000)),
            })));

            foreach ((int i, ChildProcessTests.Run run) in await Task.WhenAll(runs))
            {
                Assert.Equal(i % 4 == 0 ? i % 7 : 0, run.Status.ExitCode);
                Assert.Equal(i % 4 == 2 ? 300_000 : run.Stdout.Length, run.Stdout.Length);
            }

            Assert.True(ProcessTable.ChildrenOf(System.Environment.ProcessId).Length == 0, $"round {round}:\n{ProcessTable.DescribeChildren()}");
        }
    }

    [Fact]
    public async Task Quick_runs_one_after_another_report_their_real_status_and_leave_no_zombie()
    {
        // One at a time, descriptor numbers are reused at once: a pipe closed at EOF hands its number to the
        // next descriptor opened, and the run must never take one for the other.
        for (int i = 0; i < 300; i++)
        {
            ChildProcessTests.Run run = await ChildProcessTests.RunAsync("sh", ["-c", "exit 3"]);

            Assert.Equal(3, run.Status.ExitCode);
        }

        Assert.True(ProcessTable.ChildrenOf(System.Environment.ProcessId).Length == 0, ProcessTable.DescribeChildren());
    }

    [Fact]
    public async Task Requests_leave_no_child_and_no_descriptor_behind()
    {
        string[] functions = ["cat", "fail", "missing", "killed", "ignore-input", "head"];
        (await server.Client.PostAsync("/function/cat", new StringContent("warm-up"))).Dispose();
        int before = ProcessTable.OpenDescriptors();

        for (int i = 0; i < 120; i++)
        {
            using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(new string('x', 100_000)));
            (await server.Client.PostAsync("/function/" + functions[i % functions.Length], content)).Dispose();
        }

        Assert.True(ProcessTable.ChildrenOf(System.Environment.ProcessId).Length == 0, ProcessTable.DescribeChildren());
        // Connections close asynchronously; a leak of one descriptor a run would leave 120 behind.
        int after = await ProcessTable.SettledDescriptorsAsync(atMost: before + 4);
        Assert.True(after <= before + 4, $"{before} descriptors before, {after} after:\n{ProcessTable.DescribeDescriptors()}");
    }
}
