using AotFaas.Async;

namespace AotFaas.Tests.Async;

public sealed class StatusReadsTests
{
    [Fact]
    public async Task Reads_take_their_room_in_order_those_that_fit_go_ahead_keep_what_they_found_and_give_up_past_their_patience()
    {
        var reads = new StatusReads(100);
        StatusReads.Lease first = (await reads.TakeAsync(60, TimeSpan.FromSeconds(5), CancellationToken.None))!;
        Assert.Equal(60, reads.Held);

        // 60 more do not fit: the read waits; 50 behind it wait too; a smaller one that fits goes ahead of both.
        Task<StatusReads.Lease?> second = reads.TakeAsync(60, TimeSpan.FromSeconds(5), CancellationToken.None);
        Task<StatusReads.Lease?> third = reads.TakeAsync(50, TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.False(second.IsCompleted);
        Assert.False(third.IsCompleted);
        using (StatusReads.Lease small = (await reads.TakeAsync(10, TimeSpan.FromSeconds(5), CancellationToken.None))!)
        {
            Assert.Equal(70, reads.Held);
        }

        // Nothing read yet is held: a read of a call without output never waits.
        using (StatusReads.Lease none = (await reads.TakeAsync(0, TimeSpan.FromMilliseconds(1), CancellationToken.None))!)
        {
            Assert.Equal(0, none.Bytes);
        }

        // The first found 20 bytes: the rest goes to the reads waiting, in order, as far as it goes.
        first.Keep(20);
        Assert.Equal(60, (await second.WaitAsync(TimeSpan.FromSeconds(5)))!.Bytes);
        Assert.False(third.IsCompleted);
        Assert.Equal(80, reads.Held);
        first.Dispose();
        first.Dispose();
        Assert.False(third.IsCompleted);
        Assert.Equal(60, reads.Held);
        (await second)!.Dispose();
        Assert.Equal(50, (await third.WaitAsync(TimeSpan.FromSeconds(5)))!.Bytes);
        Assert.Equal(50, reads.Held);

        // More than the limit is the limit: it waits for everything, and past its patience it is refused.
        Assert.Null(await reads.TakeAsync(1000, TimeSpan.FromMilliseconds(50), CancellationToken.None));
        Assert.Equal(50, reads.Held);
        (await third)!.Dispose();
        Assert.Equal(0, reads.Held);
        using StatusReads.Lease whole = (await reads.TakeAsync(1000, TimeSpan.FromSeconds(5), CancellationToken.None))!;
        Assert.Equal(100, reads.Held);
    }
}
