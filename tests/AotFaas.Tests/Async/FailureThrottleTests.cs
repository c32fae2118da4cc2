using AotFaas.Async;

namespace AotFaas.Tests.Async;

public sealed class FailureThrottleTests
{
    [Fact]
    public void One_failure_line_goes_through_and_the_next_ones_are_counted()
    {
        var throttle = new FailureThrottle();
        Assert.Equal("down", throttle.Next("down"));
        Assert.Null(throttle.Next("down"));
        Assert.Null(throttle.Next("still down"));
    }
}
