using AotFaas.Functions;
using AotFaas.Execution;
using AotFaas.Hosting;

namespace AotFaas.Tests.Hosting;

public class ServerOptionsTests
{
    private static ServerOptions Parse(string[] args, Dictionary<string, string>? environment = null)
        => ServerOptions.Parse(args, name => environment?.GetValueOrDefault(name));

    [Fact]
    public void By_default_the_server_listens_on_loopback_port_3000()
        => Assert.Equal("http://127.0.0.1:3000", Parse([]).Urls);

    [Theory]
    [InlineData(new[] { "--port", "8080" }, "http://127.0.0.1:8080")]
    [InlineData(new[] { "-p", "8080" }, "http://127.0.0.1:8080")]
    [InlineData(new[] { "--port=0" }, "http://127.0.0.1:0")]
    [InlineData(new[] { "--host", "0.0.0.0" }, "http://0.0.0.0:3000")]
    [InlineData(new[] { "-H", "::1", "-p", "9" }, "http://[::1]:9")]
    [InlineData(new[] { "--host=localhost", "--port=1" }, "http://localhost:1")]
    [InlineData(new[] { "--urls", "http://127.0.0.1:5000;http://[::1]:5000" }, "http://127.0.0.1:5000;http://[::1]:5000")]
    [InlineData(new[] { "--urls=http://127.0.0.1:5000", "--port", "1" }, "http://127.0.0.1:5000")]
    public void Command_line_options_choose_where_to_listen(string[] args, string expected)
        => Assert.Equal(expected, Parse(args).Urls);

    [Fact]
    public void PORT_listens_on_all_interfaces()
        => Assert.Equal("http://*:8080", Parse([], new() { ["PORT"] = "8080" }).Urls);

    [Fact]
    public void Command_line_options_win_over_PORT()
    {
        var environment = new Dictionary<string, string> { ["PORT"] = "8080", ["ASPNETCORE_URLS"] = "http://127.0.0.2:1" };

        Assert.Equal("http://127.0.0.1:9", Parse(["--port", "9"], environment).Urls);
        Assert.Equal("http://127.0.0.3:8080", Parse(["--host", "127.0.0.3"], environment).Urls);
        Assert.Equal("http://127.0.0.4:1", Parse(["--urls", "http://127.0.0.4:1"], environment).Urls);
        Assert.Equal("http://*:8080", Parse([], environment).Urls);
    }

    [Fact]
    public void ASPNETCORE_URLS_is_honoured_when_nothing_else_is_given()
        => Assert.Equal("http://127.0.0.2:1", Parse([], new() { ["ASPNETCORE_URLS"] = "http://127.0.0.2:1" }).Urls);

    [Fact]
    public void Help_and_list_are_recognised()
    {
        Assert.True(Parse(["--help"]).ShowHelp);
        Assert.True(Parse(["-h"]).ShowHelp);
        Assert.True(Parse(["--list"]).ListFunctions);
        Assert.False(Parse([]).ShowHelp || Parse([]).ListFunctions);
    }

    [Theory]
    [InlineData(new[] { "--bogus" }, "unknown option '--bogus'")]
    [InlineData(new[] { "stray" }, "unexpected argument 'stray'")]
    [InlineData(new[] { "--port" }, "option '--port' needs a value")]
    [InlineData(new[] { "--port", "http" }, "'http' is not a port number")]
    [InlineData(new[] { "--port", "65536" }, "'65536' is not a port number")]
    [InlineData(new[] { "--port", "-1" }, "'-1' is not a port number")]
    [InlineData(new[] { "--urls=" }, "option '--urls' needs a value")]
    public void Bad_command_lines_are_usage_errors(string[] args, string message)
        => Assert.Contains(message, Assert.Throws<UsageException>(() => Parse(args)).Message, StringComparison.Ordinal);

    [Fact]
    public void A_bad_PORT_is_a_usage_error()
        => Assert.Contains("PORT", Assert.Throws<UsageException>(() => Parse([], new() { ["PORT"] = "eighty" })).Message, StringComparison.Ordinal);

    [Fact]
    public void The_usage_names_every_option()
    {
        foreach (string option in new[] { "--urls", "--host", "--port", "--tls-cert", "--tls-key", "--list", "--help", "PORT" })
        {
            Assert.Contains(option, ServerOptions.Usage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Limit_flags_set_the_server_defaults()
    {
        RunLimits limits = Parse(["--timeout", "1500ms", "--max-inflight=3", "--max-queue", "0", "--max-body", "1MiB", "--max-output=2GiB",
            "--max-total-inflight", "10", "--kill-grace", "5s", "--drain-timeout", "1m"]).Limits;

        Assert.Equal(TimeSpan.FromMilliseconds(1500), limits.Timeout);
        Assert.Equal(3, limits.MaxInflight);
        Assert.Equal(0, limits.MaxQueue);
        Assert.Equal(1L << 20, limits.MaxBody);
        Assert.Equal(2L << 30, limits.MaxOutput);
        Assert.Equal(10, limits.MaxTotalInflight);
        Assert.Equal(TimeSpan.FromSeconds(5), limits.KillGrace);
        Assert.Equal(TimeSpan.FromMinutes(1), limits.DrainTimeout);
    }

    [Fact]
    public void Limits_default_as_documented()
    {
        RunLimits limits = Parse([]).Limits;

        Assert.Equal(TimeSpan.FromSeconds(30), limits.Timeout);
        Assert.Equal(2 * Environment.ProcessorCount, limits.MaxInflight);
        Assert.Null(limits.MaxQueue);
        Assert.Equal(16L << 20, limits.MaxBody);
        Assert.Equal(64L << 20, limits.MaxOutput);
    }

    [Fact]
    public void No_log_stderr_turns_the_default_off_and_the_usage_says_so()
    {
        Assert.True(Parse([]).Limits.LogStderr);
        Assert.False(Parse(["--no-log-stderr"]).Limits.LogStderr);
        Assert.Contains("--no-log-stderr", ServerOptions.Usage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--timeout", "10" }, "--timeout: '10' has no unit")]
    [InlineData(new[] { "--max-body", "lots" }, "--max-body: 'lots' is not a size")]
    [InlineData(new[] { "--max-inflight", "0" }, "--max-inflight: '0' is out of range")]
    public void Bad_limit_values_are_usage_errors(string[] args, string message)
        => Assert.Contains(message, Assert.Throws<UsageException>(() => Parse(args)).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData(new[] { "--tls-cert", "c.pem", "--tls-key", "k.pem" }, "https://127.0.0.1:3000")]
    [InlineData(new[] { "--tls-cert=c.pem", "--tls-key=k.pem", "--port", "8443" }, "https://127.0.0.1:8443")]
    [InlineData(new[] { "--tls-cert", "c.pem", "--tls-key", "k.pem", "-H", "::", "-p", "443" }, "https://[::]:443")]
    [InlineData(new[] { "--tls-cert", "c.pem", "--tls-key", "k.pem", "--urls", "http://127.0.0.1:80;https://127.0.0.1:443" }, "http://127.0.0.1:80;https://127.0.0.1:443")]
    public void With_a_certificate_the_address_of_host_and_port_serves_TLS_and_URLs_say_which_do(string[] args, string expected)
    {
        ServerOptions options = Parse(args);

        Assert.Equal(expected, options.Urls);
        Assert.True(options.Tls);
        Assert.Equal("c.pem", options.TlsCertificatePath);
        Assert.Equal("k.pem", options.TlsKeyPath);
        Assert.Contains(options.ListenUrls, url => url.Https);
    }

    [Fact]
    public void With_a_certificate_PORT_serves_TLS_on_all_interfaces()
        => Assert.Equal("https://*:8443", Parse(["--tls-cert", "c", "--tls-key", "k"], new() { ["PORT"] = "8443" }).Urls);

    [Theory]
    [InlineData(new[] { "--urls", "https://127.0.0.1:443" }, "https://127.0.0.1:443: an https URL needs --tls-cert FILE and --tls-key FILE (PEM)")]
    [InlineData(new[] { "--urls", "http://127.0.0.1:80;HTTPS://[::1]:443" }, "HTTPS://[::1]:443: an https URL needs --tls-cert")]
    [InlineData(new[] { "--tls-cert", "c.pem" }, "--tls-cert and --tls-key go together: give both (PEM files)")]
    [InlineData(new[] { "--tls-key", "k.pem" }, "--tls-cert and --tls-key go together")]
    [InlineData(new[] { "--tls-cert", "c.pem", "--tls-key", "k.pem", "--urls", "http://127.0.0.1:80" }, "--tls-cert is given, but none of the URLs to listen on is https ('http://127.0.0.1:80')")]
    [InlineData(new[] { "--tls-cert=" }, "option '--tls-cert' needs a value")]
    [InlineData(new[] { "--urls", "ftp://127.0.0.1:21" }, "'ftp://127.0.0.1:21': the scheme must be http or https")]
    [InlineData(new[] { "--urls", "127.0.0.1:80" }, "'127.0.0.1:80' is not a URL to listen on")]
    [InlineData(new[] { "--urls", "http://127.0.0.1:80/base" }, "a URL to listen on has no path")]
    [InlineData(new[] { "--urls", "http://localhost:0" }, "port 0 (a free port) needs one address")]
    public void TLS_and_URL_mistakes_are_usage_errors(string[] args, string message)
        => Assert.Contains(message, Assert.Throws<UsageException>(() => Parse(args)).Message, StringComparison.Ordinal);

    [Fact]
    public void An_https_ASPNETCORE_URLS_needs_a_certificate_too()
        => Assert.Contains("an https URL needs --tls-cert", Assert.Throws<UsageException>(() => Parse([], new() { ["ASPNETCORE_URLS"] = "https://+:443" })).Message, StringComparison.Ordinal);

    [Fact]
    public void Passed_sockets_named_https_need_the_certificate_and_the_certificate_needs_one()
    {
        ListenSocket[] mixed = [new(3, Tls: false), new(4, Tls: true)];
        ListenSocket[] plain = [new(3, Tls: false)];
        ServerOptions withCertificate = Parse(["--tls-cert", "c", "--tls-key", "k"]);

        withCertificate.CheckPassedSockets(mixed, "systemd");
        Parse([]).CheckPassedSockets(plain, "systemd");
        Assert.Equal("descriptor 4 passed by systemd is named https (LISTEN_FDNAMES): serving it needs --tls-cert FILE and --tls-key FILE", Assert.Throws<UsageException>(() => Parse([]).CheckPassedSockets(mixed, "systemd")).Message);
        Assert.Contains("--tls-cert is given, but none of the 1 socket(s) passed by systemd is named https (FileDescriptorName=https", Assert.Throws<UsageException>(() => withCertificate.CheckPassedSockets(plain, "systemd")).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://127.0.0.1:0", false, "127.0.0.1", 0)]
    [InlineData("https://[::1]:8443", true, "[::1]", 8443)]
    [InlineData("https://*:443", true, "*", 443)]
    [InlineData("http://localhost:3000", false, "localhost", 3000)]
    public void Listen_URLs_are_read_as_Kestrel_reads_them(string text, bool https, string host, int port)
    {
        ListenUrl url = ListenUrl.Parse(text);

        Assert.Equal((https, host, port, (string?)null), (url.Https, url.Host, url.Port, url.UnixSocket));
    }

    [Theory]
    [InlineData("http://+:8080", "+")]
    [InlineData("http://0.0.0.0:8080", "0.0.0.0")]
    [InlineData("http://[::]:8080", "[::]")]
    public void Every_interface_is_an_address_or_a_wildcard(string text, string host)
        => Assert.Equal(host, ListenUrl.Parse(text).Host);

    [Theory]
    [InlineData("http://locahost:3000", "locahost")]
    [InlineData("http://127.0.0.l:3000", "127.0.0.l")]
    [InlineData("https://example.com:443", "example.com")]
    public void A_host_name_is_refused_rather_than_taken_for_every_interface(string text, string host)
    {
        // Kestrel would listen on every interface for it: a typo of 127.0.0.1 or localhost must not open the server.
        var refused = Assert.Throws<UsageException>(() => ListenUrl.Parse(text));

        Assert.Equal($"'{text}': '{host}' is not an address to listen on: give an IP address (0.0.0.0 or [::] for every interface), localhost, or *", refused.Message);
        Assert.Throws<UsageException>(() => Parse(["-H", host]));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080;http://127.0.0.1:8080", "'http://127.0.0.1:8080' is the same address as 'http://127.0.0.1:8080': give each address once")]
    [InlineData("http://127.0.0.1:8080;https://127.0.0.1:8080", "'https://127.0.0.1:8080' is the same address as 'http://127.0.0.1:8080': give each address once")]
    [InlineData("http://[::1]:8080;http://[0:0::1]:8080", "'http://[0:0::1]:8080' is the same address as 'http://[::1]:8080': give each address once")]
    [InlineData("http://unix:/run/a.sock;http://unix:/run/a.sock", "'http://unix:/run/a.sock' is the same address as 'http://unix:/run/a.sock': give each address once")]
    public void An_address_given_twice_is_a_usage_error_not_a_port_in_use(string urls, string message)
        => Assert.Equal(message, Assert.Throws<UsageException>(() => ListenUrl.ParseList(urls)).Message);

    [Fact]
    public void Two_free_ports_and_two_ports_are_two_addresses()
    {
        Assert.Equal(2, ListenUrl.ParseList("http://127.0.0.1:0;http://127.0.0.1:0").Count);
        Assert.Equal(2, ListenUrl.ParseList("http://127.0.0.1:8080;http://127.0.0.1:8081").Count);
    }

    [Fact]
    public void A_Unix_socket_URL_is_read()
        => Assert.Equal("/run/aotfaas.sock", ListenUrl.Parse("http://unix:/run/aotfaas.sock").UnixSocket);
}
