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
        Assert.Throws<SpawnException>(() => ChildProcess.Start("/nonexistent/program", [], Environment));
        int before = ProcessTable.OpenDescriptors();

        for (int i = 0; i < 200; i++)
        {
            Assert.Throws<SpawnException>(() => ChildProcess.Start("/nonexistent/program", [], Environment));
        }

        Assert.Equal(before, ProcessTable.OpenDescriptors());
    }

    [Fact]
    public async Task Many_concurrent_runs_are_all_reaped()
    {
        var runs = Enumerable.Range(0, 64).Select(async i =>
        {
            using ChildProcess child = ChildProcess.Start("sh", ["-c", "exit " + (i % 7)], Environment);
            return (i, (await ChildProcessTests.RunToEndAsync(child)).Status);
        });

        foreach ((int i, ExitStatus status) in await Task.WhenAll(runs))
        {
            Assert.Equal(i % 7, status.ExitCode);
        }

        Assert.Empty(ProcessTable.ChildrenOf(System.Environment.ProcessId));
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

        Assert.Empty(ProcessTable.ChildrenOf(System.Environment.ProcessId));
        // Connections close asynchronously; a leak of one descriptor a run would leave 120 behind.
        int after = await ProcessTable.SettledDescriptorsAsync(atMost: before + 4);
        Assert.True(after <= before + 4, $"{before} descriptors before, {after} after:\n{ProcessTable.DescribeDescriptors()}");
    }
}
