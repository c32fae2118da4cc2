using AotFaas.Functions;
using AotFaas.Execution;

namespace AotFaas.Tests.Execution;

public class RunGateTests
{
    private static RunGate Gate(int inflight, int queue, int total = 100) => new(inflight, queue, new SemaphoreSlim(total, total));

    [Fact]
    public async Task Waiters_get_freed_slots_first_come_first_served()
    {
        RunGate gate = Gate(inflight: 1, queue: 3);
        Assert.Equal(Admission.Admitted, await gate.EnterAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
        var order = new List<int>();
        Task[] waiting = Enumerable.Range(1, 3).Select(async i =>
        {
            Assert.Equal(Admission.Admitted, await gate.EnterAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
            lock (order)
            {
                order.Add(i);
            }

            gate.Exit();
        }).ToArray();
        Assert.Equal(3, gate.Waiting);

        gate.Exit();
        await Task.WhenAll(waiting).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([1, 2, 3], order);
        Assert.Equal(0, gate.Running);
        Assert.Equal(0, gate.Waiting);
    }

    [Fact]
    public async Task A_full_queue_turns_requests_away_at_once()
    {
        RunGate gate = Gate(inflight: 1, queue: 1);
        await gate.EnterAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        ValueTask<Admission> queued = gate.EnterAsync(TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Equal(Admission.QueueFull, await gate.EnterAsync(TimeSpan.FromSeconds(10), CancellationToken.None));

        gate.Exit();
        Assert.Equal(Admission.Admitted, await queued);
    }

    [Fact]
    public async Task A_waiter_leaves_at_its_deadline_or_when_canceled_and_the_slot_is_not_lost()
    {
        RunGate gate = Gate(inflight: 1, queue: 5);
        await gate.EnterAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        ValueTask<Admission> canceled = gate.EnterAsync(TimeSpan.FromSeconds(10), cancel.Token);

        Assert.Equal(Admission.TimedOut, await gate.EnterAsync(TimeSpan.FromMilliseconds(50), CancellationToken.None));
        await cancel.CancelAsync();
        Assert.Equal(Admission.Canceled, await canceled);
        Assert.Equal(0, gate.Waiting);

        gate.Exit();
        Assert.Equal(0, gate.Running);
        Assert.Equal(Admission.Admitted, await gate.EnterAsync(TimeSpan.FromSeconds(1), CancellationToken.None));
    }

    [Fact]
    public async Task The_server_wide_cap_turns_requests_away_and_gives_the_function_slot_back()
    {
        var total = new SemaphoreSlim(1, 1);
        RunGate a = new(5, 5, total);
        RunGate b = new(5, 5, total);
        Assert.Equal(Admission.Admitted, await a.EnterAsync(TimeSpan.FromSeconds(1), CancellationToken.None));

        Assert.Equal(Admission.ServerFull, await b.EnterAsync(TimeSpan.FromSeconds(1), CancellationToken.None));
        Assert.Equal(0, b.Running);

        a.Exit();
        Assert.Equal(Admission.Admitted, await b.EnterAsync(TimeSpan.FromSeconds(1), CancellationToken.None));
    }
}
