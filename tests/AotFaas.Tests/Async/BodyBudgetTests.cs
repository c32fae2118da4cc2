using AotFaas.Async;

namespace AotFaas.Tests.Async;

public sealed class BodyBudgetTests
{
    [Fact]
    public async Task A_share_waits_for_room_and_gives_all_back_when_disposed()
    {
        var budget = new BodyBudget();
        budget.AtLeast(100);
        BodyBudget.Share first = budget.Enter();
        Assert.True(first.TryGrow(60));
        Assert.False(first.TryGrow(41));

        using BodyBudget.Share second = budget.Enter();
        Assert.True(second.TryGrow(40));
        Task<bool> waiting = second.GrowAsync(50, CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(2, budget.Bodies);

        first.Dispose();
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(90, budget.Taken);
        Assert.Equal(1, budget.Bodies);
        second.Shrink(40);
        Assert.Equal(50, budget.Taken);
        second.Dispose();
        second.Dispose();
        Assert.Equal(0, budget.Taken);
        Assert.Equal(0, budget.Bodies);
    }

    [Fact]
    public async Task A_waiter_whose_deadline_fires_takes_nothing_and_a_small_one_goes_ahead_of_a_large_one()
    {
        var budget = new BodyBudget();
        budget.AtLeast(100);
        using BodyBudget.Share full = budget.Enter();
        Assert.True(full.TryGrow(100));

        using BodyBudget.Share cancelled = budget.Enter();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        Assert.False(await cancelled.GrowAsync(10, deadline.Token));
        Assert.Equal(0, cancelled.Bytes);

        using BodyBudget.Share large = budget.Enter();
        using BodyBudget.Share small = budget.Enter();
        Task<bool> largeWaits = large.GrowAsync(80, CancellationToken.None);
        Task<bool> smallWaits = small.GrowAsync(10, CancellationToken.None);
        full.Shrink(50);
        Assert.True(await smallWaits.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(largeWaits.IsCompleted);
        Assert.Equal(60, budget.Taken);

        // A larger limit lets the large one in.
        budget.AtLeast(200);
        Assert.True(await largeWaits.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(140, budget.Taken);
    }
}
