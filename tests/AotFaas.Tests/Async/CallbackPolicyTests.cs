using AotFaas.Async;

namespace AotFaas.Tests.Async;

/// <summary><c>--callback-allow</c>: only the listed hosts, on the listed port or the scheme's default.</summary>
public sealed class CallbackPolicyTests
{
    [Theory]
    [InlineData("http://hooks.example.com/done", true)]
    [InlineData("https://hooks.example.com/done", true)]
    [InlineData("http://HOOKS.example.com/x", true)]
    [InlineData("http://hooks.example.com:8080/x", false)]
    [InlineData("http://127.0.0.1:9000/x", true)]
    [InlineData("http://127.0.0.1/x", false)]
    [InlineData("http://127.0.0.1:9001/x", false)]
    [InlineData("http://169.254.169.254/latest/meta-data", false)]
    [InlineData("http://hooks.example.com.evil.test/x", false)]
    [InlineData("ftp://hooks.example.com/x", false)]
    [InlineData("file:///etc/passwd", false)]
    [InlineData("http://user:pw@hooks.example.com/x", false)]
    [InlineData("/relative", false)]
    [InlineData("http://127.0.0.1:9000/a, http://127.0.0.1:9000/b", false)]
    [InlineData("http://127.0.0.1:9000/a b", false)]
    public void Only_listed_hosts_and_ports_may_be_called_back(string url, bool allowed)
    {
        CallbackPolicy policy = CallbackPolicy.Parse(["hooks.example.com", "127.0.0.1:9000"], out string? error)!;
        Assert.Null(error);
        Assert.Equal(allowed, policy.Check(url, out string? reason) is not null);
        Assert.Equal(allowed, reason is null);
    }

    [Fact]
    public void Nothing_is_allowed_by_default()
    {
        Assert.Null(CallbackPolicy.None.Check("http://127.0.0.1/x", out string? reason));
        Assert.Contains("--callback-allow", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://x")]
    [InlineData("host/path")]
    [InlineData("user@host")]
    [InlineData("host:notaport")]
    public void A_malformed_entry_is_an_error(string entry)
    {
        Assert.Null(CallbackPolicy.Parse([entry], out string? error));
        Assert.Contains(entry, error, StringComparison.Ordinal);
    }
}

/// <summary>Who runs a call: this process, alive; a pid that is gone, or reused by a process started at another time, is not.</summary>
public sealed class CallOwnerTests
{
    [Fact]
    public void This_process_is_alive_and_a_stale_or_foreign_owner_is_not()
    {
        Assert.True(CallOwner.IsAlive(CallOwner.Self));
        string[] parts = CallOwner.Self.Split(':');
        Assert.False(CallOwner.IsAlive($"{parts[0]}:{long.Parse(parts[1]) + 1}"));
        Assert.False(CallOwner.IsAlive("999999999:1"));
        Assert.False(CallOwner.IsAlive(null));
        Assert.False(CallOwner.IsAlive("garbage"));
    }
}
