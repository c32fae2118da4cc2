using AotFaas.Async;

namespace AotFaas.Tests.Async;

public sealed class BodyBudgetTests
{
    [Fact]
    public async Task A_share_doubles_as_bytes_come_and_gives_all_back_when_disposed()
    {
        var budget = new BodyBudget();
        budget.AtLeast(1 << 20);
        BodyBudget.Share share = budget.Enter(100_000, 200_000);
        // Twice what came, up to the first room, then twice the array.
        Assert.Equal(14, await share.GrowAsync(7, CancellationToken.None));
        share.Moved();
        Assert.Equal(BodyBudget.FirstRoom, await share.GrowAsync(3000, CancellationToken.None));
        share.Moved();
        Assert.Equal(2 * BodyBudget.FirstRoom, await share.GrowAsync(BodyBudget.FirstRoom + 1, CancellationToken.None));
        Assert.Equal(3 * BodyBudget.FirstRoom, budget.Taken);
        share.Moved();
        Assert.Equal(2 * BodyBudget.FirstRoom, budget.Taken);

        // At least what came; never past the announced length.
        Assert.Equal(70_000, await share.GrowAsync(70_000, CancellationToken.None));
        share.Moved();
        Assert.Equal(100_000, await share.GrowAsync(70_001, CancellationToken.None));
        share.Moved();
        Assert.Equal(100_000, share.Bytes);
        Assert.Equal(1, budget.Bodies);
        share.Dispose();
        share.Dispose();
        Assert.Equal(0, budget.Taken);
        Assert.Equal(0, budget.Bodies);
    }

    /// <summary>A unit of room: the first array a body is given.</summary>
    private const int U = BodyBudget.FirstRoom;

    [Fact]
    public async Task Bodies_growing_side_by_side_past_the_budget_all_end()
    {
        // 8 bodies of 16 units in a budget of 64: growing in turn, half a unit at a time, each doubling as its bytes
        // come. Without the rule they would all hold 8 units and wait for 16 more, for ever.
        const int bodies = 8, length = 16 * U, piece = U / 2;
        var budget = new BodyBudget();
        budget.AtLeast(4 * length);
        var shares = Enumerable.Range(0, bodies).Select(_ => budget.Enter(length, length)).ToArray();
        var written = new long[bodies];
        var pending = new Task<long>?[bodies];
        int ended = 0;
        for (int round = 0; ended < bodies; round++)
        {
            Assert.True(round < 1000, $"{bodies - ended} bodies still waiting, {budget.Taken} of {budget.Limit} taken");
            for (int i = 0; i < bodies; i++)
            {
                if (written[i] == length)
                {
                    continue;
                }

                if (pending[i] is { } waiting)
                {
                    if (!waiting.IsCompleted)
                    {
                        continue;
                    }

                    Assert.True(await waiting > 0);
                    shares[i].Moved();
                    pending[i] = null;
                }

                long needed = written[i] + piece;
                if (needed > shares[i].Room)
                {
                    ValueTask<long> grow = shares[i].GrowAsync(needed, CancellationToken.None);
                    if (!grow.IsCompleted)
                    {
                        pending[i] = grow.AsTask();
                        continue;
                    }

                    Assert.True(await grow >= needed);
                    shares[i].Moved();
                }

                Assert.True(budget.Taken <= budget.Limit, $"{budget.Taken} taken, over {budget.Limit}");
                written[i] = needed;
                if (needed == length)
                {
                    // Stored: all it held is given back.
                    shares[i].Dispose();
                    ended++;
                }
            }

            await Task.Yield();
        }

        Assert.Equal(0, budget.Taken);
    }

    [Fact]
    public async Task A_body_that_stalls_holds_what_it_sent_and_one_that_finds_too_little_left_waits_or_takes_its_whole_length()
    {
        var budget = new BodyBudget();
        budget.AtLeast(40 * U);

        // Announcing 16 units and sending half of one: one unit is taken.
        using BodyBudget.Share stalled = budget.Enter(16 * U, 16 * U);
        Assert.Equal(U, await stalled.GrowAsync(U / 2, CancellationToken.None));
        stalled.Moved();
        Assert.Equal(U, budget.Taken);

        using BodyBudget.Share held = await HoldAsync(budget, 19 * U, 20 * U);

        // 20 units free: a body of 20 may not grow by one unit (19 would be left), so it takes its whole length.
        BodyBudget.Share whole = budget.Enter(20 * U, 20 * U);
        Assert.Equal(20 * U, await whole.GrowAsync(1, CancellationToken.None));
        whole.Moved();
        Assert.Equal(40 * U, budget.Taken);
        whole.Dispose();

        // With 20 units free, a body of 21 waits: it could neither grow and still end, nor take its whole length.
        using BodyBudget.Share large = budget.Enter(21 * U, 21 * U);
        ValueTask<long> largeWaits = large.GrowAsync(U / 2, CancellationToken.None);
        Assert.False(largeWaits.IsCompleted);

        // A body of 10 bytes goes ahead of it; so does the stalled one, for its next bytes.
        using (BodyBudget.Share small = budget.Enter(10, 20 * U))
        {
            Assert.Equal(10, await small.GrowAsync(10, CancellationToken.None));
            small.Moved();
        }

        Assert.Equal(2 * U, await stalled.GrowAsync(U + 1, CancellationToken.None));
        stalled.Moved();
        Assert.False(largeWaits.IsCompleted);

        // A waiter whose deadline fires takes nothing.
        using (BodyBudget.Share cancelled = budget.Enter(30 * U, 30 * U))
        using (var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(50)))
        {
            Assert.Equal(0, await cancelled.GrowAsync(1, deadline.Token));
            Assert.Equal(0, cancelled.Bytes);
        }

        Assert.Equal(21 * U, budget.Taken);
        held.Dispose();
        Assert.Equal(U, await largeWaits.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(3 * U, budget.Taken);
    }

    [Fact]
    public async Task A_body_without_a_length_grows_only_while_twice_its_max_body_is_left_and_ends_with_an_exact_copy()
    {
        var budget = new BodyBudget();
        budget.AtLeast(40 * U);
        using BodyBudget.Share held = await HoldAsync(budget, 20 * U, 20 * U);

        // 20 units free: a body of 16 with a length may grow, one without may not (it may need 32).
        using (BodyBudget.Share sized = budget.Enter(16 * U, 16 * U))
        {
            Assert.Equal(U, await sized.GrowAsync(U / 2, CancellationToken.None));
        }

        using BodyBudget.Share chunked = budget.Enter(null, 16 * U);
        ValueTask<long> grows = chunked.GrowAsync(U / 2, CancellationToken.None);
        Assert.False(grows.IsCompleted);
        held.Dispose();
        Assert.Equal(U, await grows.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        chunked.Moved();

        // It ended with 30 bytes: the exact copy.
        Assert.Equal(30, await chunked.EndAsync(30, CancellationToken.None));
        Assert.Equal(U + 30, budget.Taken);
        chunked.Moved();
        Assert.Equal(30, budget.Taken);
    }

    [Fact]
    public async Task Past_its_waiters_a_body_finds_no_room_at_once_whole_or_not_and_one_waiting_to_end_is_not_counted()
    {
        // A full budget: two bodies may wait to grow; a third is refused at once, not at its deadline.
        var budget = new BodyBudget(maxWaiters: 2);
        budget.AtLeast(8 * U);
        BodyBudget.Share full = await HoldAsync(budget, 8 * U, 8 * U);

        using BodyBudget.Share first = budget.Enter(4 * U, 4 * U), second = budget.Enter(4 * U, 4 * U), third = budget.Enter(4 * U, 4 * U);
        using var gone = new CancellationTokenSource();
        ValueTask<long> one = first.GrowAsync(10, CancellationToken.None), two = second.GrowAsync(10, gone.Token);
        Assert.False(one.IsCompleted);
        Assert.False(two.IsCompleted);
        Assert.Equal(2, budget.Waiting);
        ValueTask<long> refused = third.GrowAsync(10, CancellationToken.None);
        Assert.True(refused.IsCompleted);
        Assert.Equal(0, await refused);
        Assert.Equal(2, budget.Waiting);

        // A waiter that gives up leaves its place to the next.
        gone.Cancel();
        Assert.Equal(0, await two.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, budget.Waiting);
        ValueTask<long> three = third.GrowAsync(10, CancellationToken.None);
        Assert.False(three.IsCompleted);

        // Room again: both waiters go on, and none waits.
        full.Dispose();
        Assert.Equal(20, await one.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(20, await three.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, budget.Waiting);
        first.Moved();
        third.Moved();

        // Bodies without a length read whole, waiting only for the copy that ends them, do not take a waiter's place.
        var unbounded = new BodyBudget(maxWaiters: 1);
        unbounded.AtLeast(4 * U);
        using BodyBudget.Share ending = await HoldAsync(unbounded, null, 2 * U);
        using BodyBudget.Share filler = await HoldAsync(unbounded, 2 * U, 2 * U);
        ValueTask<long> end = ending.EndAsync(U, CancellationToken.None);
        Assert.False(end.IsCompleted);
        Assert.Equal(0, unbounded.Waiting);
        using BodyBudget.Share grower = unbounded.Enter(U, U);
        ValueTask<long> grows = grower.GrowAsync(10, CancellationToken.None);
        Assert.False(grows.IsCompleted);
        Assert.Equal(1, unbounded.Waiting);

        // A body that has all come but has no array yet waits with its bytes in the HTTP layer's buffer: it takes a
        // waiter's place, and past them it is refused at once too.
        using (BodyBudget.Share parked = unbounded.Enter(U, U))
        {
            ValueTask<long> refusedWhole = parked.GrowAsync(10, CancellationToken.None, whole: true);
            Assert.True(refusedWhole.IsCompleted);
            Assert.Equal(0, await refusedWhole);
        }

        filler.Dispose();
        Assert.Equal(U, await end.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(U, await grows.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, unbounded.Waiting);
    }

    [Fact]
    public async Task A_body_without_a_length_that_has_all_come_takes_just_its_size_even_when_twice_its_max_body_is_not_free()
    {
        // 20 units free of 40: a body without a length of max-body 16 may not grow (it may need 32), unless it has all
        // come: then it takes its size, its last array, and ends.
        var budget = new BodyBudget();
        budget.AtLeast(40 * U);
        using BodyBudget.Share held = await HoldAsync(budget, 20 * U, 20 * U);

        using BodyBudget.Share growing = budget.Enter(null, 16 * U);
        ValueTask<long> waits = growing.GrowAsync(5, CancellationToken.None);
        Assert.False(waits.IsCompleted);

        using BodyBudget.Share whole = budget.Enter(null, 16 * U);
        ValueTask<long> takes = whole.GrowAsync(5, CancellationToken.None, whole: true);
        Assert.True(takes.IsCompleted);
        Assert.Equal(5, await takes);
        whole.Moved();
        Assert.Equal(20 * U + 5, budget.Taken);

        // Still only what fits: 20 units and more than the room left waits, like the last copy of a body.
        using BodyBudget.Share large = budget.Enter(null, 24 * U);
        ValueTask<long> large20 = large.GrowAsync(20 * U, CancellationToken.None, whole: true);
        Assert.False(large20.IsCompleted);
        Assert.Equal(2, budget.Waiting);
        held.Dispose();
        Assert.Equal(20 * U, await large20.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
    }

    /// <summary>A share of <paramref name="budget"/> for a body of <paramref name="length"/> bytes (null: no length) that has taken and moved into an array of its whole length.</summary>
    private static async Task<BodyBudget.Share> HoldAsync(BodyBudget budget, long? length, long maxBody)
    {
        BodyBudget.Share share = budget.Enter(length, maxBody);
        long whole = length ?? maxBody;
        Assert.Equal(whole, await share.GrowAsync(whole, CancellationToken.None));
        share.Moved();
        return share;
    }
}
