using System.Globalization;
using System.Text;
using System.Text.Json;

namespace AotFaas.EndToEnd;

/// <summary>
/// A function's stderr in the published binary's log, in both formats (issue 14): line by line with the function and
/// the request id, escaped, capped with a count of the rest; and the option and the flag that turn it off.
/// </summary>
[Collection(nameof(PublishedBinary))]
public sealed class StderrLogTests(PublishedBinary binary)
{
    // A warning, a line that tries to pass for the server's own, terminal escapes with a bare CR, a byte that is not UTF-8.
    private static readonly byte[] Stderr =
    [
        .. "WARNING disk 91% full\n"u8,
        .. "info: AotFaas.Http.FunctionEndpoint[1] forged POST -> 200\n"u8,
        .. "\u001b[31mred\u001b[0m\rover\n"u8,
        0xff, .. " not UTF-8"u8,
    ];

    private static readonly string[] Escaped =
    [
        "WARNING disk 91% full",
        "info: AotFaas.Http.FunctionEndpoint[1] forged POST -> 200",
        "\\x1b[31mred\\x1b[0m\\rover",
        "\\xff not UTF-8",
    ];

    private async Task<RunningServer> StartAsync(params string[] args)
    {
        int port = RunningServer.FreePort();
        return await RunningServer.StartAsync(binary.Path, port, ["--port", port.ToString(CultureInfo.InvariantCulture), .. args]);
    }

    private static async Task PostAsync(RunningServer server, string function, byte[] body, string requestId, string answer)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/function/" + function) { Content = new ByteArrayContent(body) };
        request.Headers.Add("X-Request-Id", requestId);
        using HttpResponseMessage response = await server.Client.SendAsync(request);
        Assert.Equal(answer, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The output lines that name <paramref name="requestId"/> (no other id in a test holds it), once the invocation's line is among them.</summary>
    private static async Task<string[]> LinesAsync(RunningServer server, string requestId, Func<string, bool> isInvocation)
    {
        for (int i = 0; i < 500; i++)
        {
            string[] lines = [.. server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(line => line.Contains(requestId, StringComparison.Ordinal))];
            if (lines.Any(isInvocation))
            {
                return lines;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("no invocation line for " + requestId + ":\n" + server.Output);
    }

    [Fact]
    public async Task The_text_log_has_one_escaped_line_per_stderr_line_with_the_function_and_request_id()
    {
        await using RunningServer server = await StartAsync();
        const string id = "e2e-text-a";
        byte[] many = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(1, 70).Select(i => $"step {i}\n")));

        await PostAsync(server, "to-stderr", Stderr, id, "ok");
        await PostAsync(server, "to-stderr", many, "e2e-text-many", "ok");
        await PostAsync(server, "quiet", "not for the log\n"u8.ToArray(), "e2e-text-quiet", "not for the log\n");

        string[] lines = await LinesAsync(server, id, line => line.StartsWith("info: AotFaas.Http.FunctionEndpoint[1] to-stderr POST -> 200", StringComparison.Ordinal));
        Assert.Equal(
            [.. Escaped.Select(line => $"info: AotFaas.Stderr[3] to-stderr request_id={id}: {line}"), $"info: AotFaas.Http.FunctionEndpoint[1] to-stderr POST -> 200"],
            lines.Select(line => line.StartsWith("info: AotFaas.Http.FunctionEndpoint[1]", StringComparison.Ordinal) ? line[..line.IndexOf(" in ", StringComparison.Ordinal)] : line));

        string[] manyLines = await LinesAsync(server, "e2e-text-many", line => line.StartsWith("info: AotFaas.Http.FunctionEndpoint[1]", StringComparison.Ordinal));
        Assert.Equal(64, manyLines.Count(line => line.StartsWith("info: AotFaas.Stderr[3] ", StringComparison.Ordinal)));
        Assert.Contains($"info: AotFaas.Stderr[5] to-stderr request_id=e2e-text-many: 48 bytes of stderr in 6 line(s) not logged (a run logs its first 64 lines or 8 KiB, a line its first 2 KiB)", manyLines);

        string[] quietLines = await LinesAsync(server, "e2e-text-quiet", line => line.StartsWith("info: AotFaas.Http.FunctionEndpoint[1]", StringComparison.Ordinal));
        Assert.DoesNotContain(quietLines, line => line.Contains("AotFaas.Stderr", StringComparison.Ordinal));
        Assert.DoesNotContain("\u001b", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_JSON_log_stays_valid_and_carries_each_line_in_its_state()
    {
        await using RunningServer server = await StartAsync("--log-format", "json");
        const string id = "e2e-stderr-json";

        await PostAsync(server, "to-stderr", Stderr, id, "ok");

        string[] lines = await LinesAsync(server, id, line => line.Contains("\"EventId\":1,", StringComparison.Ordinal));
        var entries = lines.Select(line => JsonDocument.Parse(line).RootElement).ToArray();
        JsonElement[] stderr = [.. entries.Where(entry => entry.GetProperty("Category").GetString() == "AotFaas.Stderr")];
        Assert.Equal(Escaped, stderr.Select(entry => entry.GetProperty("State").GetProperty("Line").GetString()));
        Assert.All(stderr, entry =>
        {
            Assert.Equal(3, entry.GetProperty("EventId").GetInt32());
            Assert.Equal("Information", entry.GetProperty("LogLevel").GetString());
            Assert.Equal("to-stderr", entry.GetProperty("State").GetProperty("Function").GetString());
            Assert.Equal(id, entry.GetProperty("State").GetProperty("RequestId").GetString());
        });

        // Every line the server wrote is one JSON object.
        Assert.All(server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => JsonDocument.Parse(line).Dispose());
    }

    [Fact]
    public async Task No_log_stderr_keeps_stderr_out_of_the_log_and_the_answers_as_they_were()
    {
        await using RunningServer server = await StartAsync("--no-log-stderr");
        const string id = "e2e-off-a";

        await PostAsync(server, "to-stderr", Stderr, id, "ok");
        await PostAsync(server, "fail", "x"u8.ToArray(), "e2e-off-fail", "bad input\n");

        string[] lines = await LinesAsync(server, "e2e-off-fail", line => line.StartsWith("info: AotFaas.Http.FunctionEndpoint[1]", StringComparison.Ordinal));
        Assert.DoesNotContain("AotFaas.Stderr", server.Output, StringComparison.Ordinal);
        Assert.Single(lines);
    }

    [Fact]
    public void List_shows_log_stderr()
    {
        (int code, string output) = Repo.Run(binary.Path, ["--list"], TimeSpan.FromSeconds(30));

        Assert.Equal(0, code);
        Assert.Contains("quiet: sh -c 'cat >&2; exit 1'\n  log-stderr: false\n", output, StringComparison.Ordinal);
    }
}
