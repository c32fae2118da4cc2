namespace AotFaas.Tests;

/// <summary>
/// What a misbehaving run must not leave: a child of the server, a zombie, a pipe or pidfd more than
/// before, an exception that escaped a handler, or a server that no longer answers. Tests using it run
/// alone (the LeakTests collection).
/// </summary>
internal sealed class CleanCheck(HttpClient client)
{
    private Dictionary<string, int> _kindsBefore = [];

    /// <summary>Warms the server up and returns the count of pipes and pidfds to compare with.</summary>
    public async Task<int> BaselineAsync()
    {
        (await client.PostAsync("/function/cat", new ByteArrayContent("warm-up"u8.ToArray()))).Dispose();
        _kindsBefore = ProcessTable.DescriptorKinds();
        return ProcessTable.OpenRunDescriptors();
    }

    public async Task AssertCleanAsync(int descriptorsBefore)
    {
        for (int i = 0; i < 100 && ProcessTable.ChildrenOf(Environment.ProcessId).Length > 0; i++)
        {
            await Task.Delay(20);
        }

        Assert.True(ProcessTable.ChildrenOf(Environment.ProcessId).Length == 0, ProcessTable.DescribeChildren());
        int after = await ProcessTable.SettledDescriptorsAsync(atMost: descriptorsBefore, runDescriptorsOnly: true);
        Assert.True(after <= descriptorsBefore, $"{descriptorsBefore} pipes and pidfds before, {after} after: {KindsChanged()}");
        using HttpResponseMessage response = await client.PostAsync("/function/cat", new ByteArrayContent("still here"u8.ToArray()));
        Assert.Equal("still here", await response.Content.ReadAsStringAsync());
        Http.TestServer server = Http.TestServer.Of(client) ?? throw new InvalidOperationException("CleanCheck needs a client made by TestServer");
        Assert.True(server.Server.Lifecycle.UnhandledExceptions == 0, $"{server.Server.Lifecycle.UnhandledExceptions} exception(s) escaped a handler");
    }

    private string KindsChanged()
    {
        Dictionary<string, int> now = ProcessTable.DescriptorKinds();
        return string.Join(", ", now.Keys.Union(_kindsBefore.Keys)
            .Where(k => now.GetValueOrDefault(k) != _kindsBefore.GetValueOrDefault(k))
            .Select(k => $"{k}: {_kindsBefore.GetValueOrDefault(k)} -> {now.GetValueOrDefault(k)}"));
    }
}
