using System.Globalization;
using AotFaas.Tests.Http;
using AotFaas.Tests.Operations;
using Microsoft.Extensions.Logging;

namespace AotFaas.Tests.Security;

/// <summary>
/// No exception reaches Kestrel: one that escapes a handler is logged at Error once, counted, and answered
/// with a 500 and the usual headers; the invocation's log line and metrics say 500.
/// </summary>
public class UnhandledExceptionTests(HardeningFixture server) : IClassFixture<HardeningFixture>
{
    [Fact]
    public async Task An_exception_that_escapes_a_handler_is_a_500_with_the_usual_headers_logged_once_and_counted()
    {
        string requestId = "throws-" + Guid.NewGuid().ToString("N");
        long before = server.Server.Server.Lifecycle.UnhandledExceptions;

        RawHttp.Response response = await RawHttp.SendAsync(server.Address, "GET", "/function/throws", ["X-Request-Id: " + requestId]);

        Assert.Equal(500, response.Status);
        Assert.Equal(requestId, response.Header("X-Request-Id"));
        Assert.NotNull(response.Header("X-Duration-Seconds"));
        Assert.Equal("text/plain; charset=utf-8", response.Header("Content-Type"));
        Assert.Equal("internal server error: the details are in the server's log\n", response.Text);
        Assert.Equal(before + 1, server.Server.Server.Lifecycle.UnhandledExceptions);
        CapturingLogger.Entry invocation = Assert.Single(await server.Log.InvocationsAsync(requestId));
        Assert.Equal(500, invocation.State["Status"]);
        Assert.Equal(LogLevel.Error, invocation.Level);
        CapturingLogger.Entry error = Assert.Single(server.Log.Entries, e => e.EventId.Name == "UnhandledException" && e.Message.Contains(requestId, StringComparison.Ordinal));
        Assert.Equal(LogLevel.Error, error.Level);
        string metrics = await server.Client.GetStringAsync("/metrics");
        Assert.True(PrometheusText.Value(PrometheusText.Parse(metrics), "aotfaas_invocations_total", ("function", "throws"), ("status", "500")) >= 1);
        Assert.Null(PrometheusText.Value(PrometheusText.Parse(metrics), "aotfaas_invocations_total", ("function", "throws"), ("status", "200")));
    }

    [Fact]
    public async Task The_server_keeps_serving_after_an_unhandled_exception()
    {
        for (int i = 0; i < 3; i++)
        {
            RawHttp.Response failed = await RawHttp.SendAsync(server.Address, "POST", "/function/throws", null, "x"u8.ToArray());
            Assert.Equal(500, failed.Status);
        }

        using HttpResponseMessage ok = await server.Client.PostAsync("/function/cat", new StringContent("still here"));
        Assert.Equal("still here", await ok.Content.ReadAsStringAsync());
        Assert.Equal(string.Empty, string.Join(",", server.Log.Entries.Where(e => e.Category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) && e.Level >= LogLevel.Error).Select(e => e.Message)));
        Assert.True(server.Server.Server.Lifecycle.UnhandledExceptions >= 3, server.Server.Server.Lifecycle.UnhandledExceptions.ToString(CultureInfo.InvariantCulture));
    }
}
