using AotFaas.Async;

namespace AotFaas.Tests.Async;

public sealed class StatusReadsTests
{
    [Fact]
    public async Task Reads_take_their_room_in_turn_keep_what_they_found_and_give_up_past_their_patience()
    {
        var reads = new StatusReads(100);
        StatusReads.Lease first = (await reads.TakeAsync(60, TimeSpan.FromSeconds(5), CancellationToken.None))!;
        Assert.Equal(60, reads.Held);

        // 60 more do not fit: the read waits; a smaller one behind it waits its turn too.
        Task<StatusReads.Lease?> second = reads.TakeAsync(60, TimeSpan.FromSeconds(5), CancellationToken.None);
        Task<StatusReads.Lease?> third = reads.TakeAsync(10, TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.False(second.IsCompleted);
        Assert.False(third.IsCompleted);

        // The first found 20 bytes: the rest goes to the reads waiting, in order.
        first.Keep(20);
        Assert.Equal(60, (await second.WaitAsync(TimeSpan.FromSeconds(5)))!.Bytes);
        Assert.Equal(10, (await third.WaitAsync(TimeSpan.FromSeconds(5)))!.Bytes);
        Assert.Equal(90, reads.Held);

        // More than the limit is the limit: it waits for everything, and past its patience it is refused.
        Assert.Null(await reads.TakeAsync(1000, TimeSpan.FromMilliseconds(50), CancellationToken.None));
        Assert.Equal(90, reads.Held);
        first.Dispose();
        first.Dispose();
        (await second)!.Dispose();
        (await third)!.Dispose();
        Assert.Equal(0, reads.Held);
        using StatusReads.Lease whole = (await reads.TakeAsync(1000, TimeSpan.FromSeconds(5), CancellationToken.None))!;
        Assert.Equal(100, reads.Held);
    }
}
