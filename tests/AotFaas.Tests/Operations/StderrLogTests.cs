using System.Text;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Tests.Http;
using Microsoft.Extensions.Logging;

namespace AotFaas.Tests.Operations;

/// <summary>
/// A function's stderr in the server's log (issue 14): line by line with the function and the request id, capped
/// per run with a count of what was cut, escaped so that it can neither forge an entry nor drive a terminal, and
/// never changing the answer. Real programs write the bytes (the body, copied to stderr).
/// </summary>
public sealed class StderrLogTests(StderrLogFixture server) : IClassFixture<StderrLogFixture>
{
    [Fact]
    public async Task A_successful_run_logs_each_line_at_information_with_the_function_and_the_request_id()
    {
        StderrLogFixture.Run run = await server.PostAsync("to-stderr", "WARNING disk 91% full\nsecond line\n");

        Assert.Equal(200, run.Status);
        Assert.Empty(run.Body);
        Assert.Equal(["WARNING disk 91% full", "second line"], run.Lines);
        Assert.All(run.Stderr, entry =>
        {
            Assert.Equal(LogLevel.Information, entry.Level);
            Assert.Equal(3, entry.EventId.Id);
            Assert.Equal("to-stderr", entry.State["Function"]);
            Assert.Equal(run.RequestId, entry.State["RequestId"]);
        });
        Assert.Equal($"to-stderr request_id={run.RequestId}: WARNING disk 91% full", run.Stderr[0].Message);
        Assert.Null(run.NotLogged);

        // Before the invocation's own line, which sums the request up.
        Assert.Same(run.Invocation, run.All[^1]);
    }

    [Fact]
    public async Task Stderr_beside_stdout_leaves_the_answer_as_it_was()
    {
        StderrLogFixture.Run run = await server.PostAsync("out-and-err", string.Empty);

        Assert.Equal(200, run.Status);
        Assert.Equal("done", Encoding.UTF8.GetString(run.Body));
        Assert.Equal(["WARNING disk 91% full"], run.Lines);
    }

    [Fact]
    public async Task A_failed_run_logs_its_stderr_at_warning_and_still_answers_with_it()
    {
        StderrLogFixture.Run run = await server.PostAsync("to-stderr-fail", "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad input\n");

        Assert.Equal(500, run.Status);
        Assert.Equal("Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad input\n", Encoding.UTF8.GetString(run.Body));
        Assert.Equal(["Traceback (most recent call last):", "  File \"x.py\", line 1", "ValueError: bad input"], run.Lines);
        Assert.All(run.Stderr, entry => Assert.Equal(LogLevel.Warning, entry.Level));
    }

    [Theory]
    [InlineData("killed", "about to die")]
    [InlineData("late", "before the deadline")]
    public async Task A_run_killed_by_a_signal_or_its_deadline_logs_what_it_wrote_at_warning(string function, string line)
    {
        StderrLogFixture.Run run = await server.PostAsync(function, string.Empty);

        Assert.Equal(function == "late" ? 504 : 500, run.Status);
        CapturingLogger.Entry entry = Assert.Single(run.Stderr);
        Assert.Equal(line, entry.State["Line"]);
        Assert.Equal(LogLevel.Warning, entry.Level);
    }

    [Fact]
    public async Task A_run_that_writes_no_stderr_logs_only_its_invocation()
    {
        StderrLogFixture.Run run = await server.PostAsync("cat", "to stdout only\n");

        Assert.Equal("to stdout only\n", Encoding.UTF8.GetString(run.Body));
        Assert.Empty(run.Stderr);
        Assert.Equal([run.Invocation], run.All);
    }

    [Fact]
    public async Task Lines_end_with_LF_or_CRLF_blank_lines_are_skipped_and_a_last_line_without_an_ending_is_logged()
    {
        StderrLogFixture.Run run = await server.PostAsync("to-stderr", "one\r\ntwo\r\n\r\n\n\tindented\nlast words");

        Assert.Equal(["one", "two", "\tindented", "last words"], run.Lines);
        Assert.Null(run.NotLogged);
    }

    [Fact]
    public async Task A_run_logs_its_first_64_lines_and_counts_the_rest()
    {
        string stderr = string.Concat(Enumerable.Range(1, 100).Select(i => $"line {i:D3}\n"));

        StderrLogFixture.Run run = await server.PostAsync("to-stderr", stderr);

        Assert.Equal(Enumerable.Range(1, 64).Select(i => $"line {i:D3}"), run.Lines);
        CapturingLogger.Entry cut = run.NotLogged!;
        Assert.Same(cut, run.Stderr[^1]);
        Assert.Equal(36L * 9, cut.State["BytesNotLogged"]);
        Assert.Equal(36L, cut.State["LinesNotLogged"]);
        Assert.Equal(LogLevel.Information, cut.Level);
        Assert.Equal(
            $"to-stderr request_id={run.RequestId}: 324 bytes of stderr in 36 line(s) not logged (a run logs its first 64 lines or 8 KiB, a line its first 2 KiB)",
            cut.Message);
        Assert.Equal((StderrLog.MaxLines, StderrLog.MaxBytes, StderrLog.MaxLineBytes), (64, 8 * 1024, 2 * 1024));
    }

    [Fact]
    public async Task A_run_logs_at_most_8_KiB_cutting_the_line_where_the_budget_ends()
    {
        // 20 lines of 999 bytes and a line feed: 8 whole lines are 7,992 bytes; 200 bytes of the 9th fit.
        string stderr = string.Concat(Enumerable.Range(0, 20).Select(i => new string((char)('a' + i), 999) + "\n"));

        StderrLogFixture.Run run = await server.PostAsync("to-stderr-fail", stderr);

        Assert.Equal(9, run.Lines.Length);
        Assert.Equal(new string('a', 999), run.Lines[0]);
        Assert.Equal(new string('i', 200), run.Lines[8]);
        CapturingLogger.Entry cutLine = run.Stderr[8];
        Assert.Equal(4, cutLine.EventId.Id);
        Assert.Equal(200, cutLine.State["LineBytesLogged"]);
        Assert.Equal(20_000L - 8_200, run.NotLogged!.State["BytesNotLogged"]);
        Assert.Equal(12L, run.NotLogged.State["LinesNotLogged"]);
        Assert.All(run.Stderr, entry => Assert.Equal(LogLevel.Warning, entry.Level));

        // The client still gets the first 64 KiB of stderr, all of it here.
        Assert.Equal(stderr, Encoding.UTF8.GetString(run.Body));
    }

    [Fact]
    public async Task A_line_longer_than_2_KiB_is_cut_there_and_the_lines_after_it_are_logged()
    {
        StderrLogFixture.Run run = await server.PostAsync("to-stderr", "short\n" + new string('y', 3000) + "\nend\n");

        Assert.Equal(["short", new string('y', 2048), "end"], run.Lines);
        Assert.Equal(new[] { 3, 4, 3 }, run.Stderr.Take(3).Select(e => e.EventId.Id));
        Assert.Equal(
            $"to-stderr request_id={run.RequestId}, a line cut after 2048 bytes: {new string('y', 2048)}",
            run.Stderr[1].Message);
        Assert.Equal(3000L - 2048 + 1, run.NotLogged!.State["BytesNotLogged"]);
        Assert.Equal(1L, run.NotLogged.State["LinesNotLogged"]);
    }

    [Fact]
    public async Task The_caps_count_the_escaped_text_so_binary_output_logs_no_more_than_text()
    {
        // 3,000 ESC bytes: each is 4 bytes of text, so 512 of them fill a line's 2 KiB.
        byte[] stderr = [.. Enumerable.Repeat((byte)0x1b, 3000), (byte)'\n', .. "after\n"u8];

        StderrLogFixture.Run run = await server.PostAsync("to-stderr", stderr);

        Assert.Equal([string.Concat(Enumerable.Repeat("\\x1b", 512)), "after"], run.Lines);
        Assert.Equal(512, run.Stderr[0].State["LineBytesLogged"]);
        Assert.Equal(3000L - 512 + 1, run.NotLogged!.State["BytesNotLogged"]);
        Assert.Equal(1L, run.NotLogged.State["LinesNotLogged"]);
    }

    [Fact]
    public async Task A_cut_never_splits_a_character()
    {
        // 2,047 bytes, then a two-byte character across the 2 KiB mark.
        StderrLogFixture.Run run = await server.PostAsync("to-stderr", new string('a', 2047) + "éé\n");

        Assert.Equal([new string('a', 2047)], run.Lines);
        Assert.Equal(2047, run.Stderr[0].State["LineBytesLogged"]);
        Assert.Equal(5L, run.NotLogged!.State["BytesNotLogged"]);
    }

    [Fact]
    public async Task A_1_MiB_line_is_cut_at_2_KiB_and_the_rest_is_counted_past_what_the_server_keeps()
    {
        byte[] stderr = [.. Enumerable.Repeat((byte)'x', 1 << 20), .. "\nafter\n"u8];

        StderrLogFixture.Run run = await server.PostAsync("to-stderr", stderr);

        Assert.Equal(200, run.Status);
        Assert.Equal([new string('x', 2048)], run.Lines);
        Assert.Equal(stderr.Length - 2048L, run.NotLogged!.State["BytesNotLogged"]);

        // The long line itself and "after", which the server read and dropped past its 64 KiB.
        Assert.Equal(2L, run.NotLogged.State["LinesNotLogged"]);
    }

    [Fact]
    public async Task A_line_that_runs_on_past_the_64_KiB_the_server_keeps_is_logged_as_cut()
    {
        // Blank lines cost nothing, so the line starts 36 bytes before the end of what is kept; its other 64 bytes are dropped.
        byte[] stderr = [.. Enumerable.Repeat((byte)'\n', 65_500), .. Enumerable.Repeat((byte)'x', 100), (byte)'\n'];

        StderrLogFixture.Run run = await server.PostAsync("to-stderr", stderr);

        Assert.Equal([new string('x', 36)], run.Lines);
        Assert.Equal(4, run.Stderr[0].EventId.Id);
        Assert.Equal(65L, run.NotLogged!.State["BytesNotLogged"]);
        Assert.Equal(1L, run.NotLogged.State["LinesNotLogged"]);
    }

    [Fact]
    public async Task Output_that_never_ends_a_line_is_logged_when_the_run_ends()
    {
        StderrLogFixture.Run run = await server.PostAsync("to-stderr-fail", "no line feed, ever");

        Assert.Equal(["no line feed, ever"], run.Lines);
        Assert.Null(run.NotLogged);
    }

    [Fact]
    public async Task A_line_can_neither_forge_an_entry_nor_reach_the_terminal_as_control_bytes()
    {
        byte[] stderr =
        [
            .. "ok\rinfo: AotFaas.Http.FunctionEndpoint[1] cat POST -> 200 request_id=forged\n"u8,
            .. "info: AotFaas.Http.FunctionEndpoint[1] cat POST -> 200 request_id=forged\n"u8,
            .. "\u001b[2J\u001b[31mred\u001b[0m\u0007\u0000\u007f\n"u8,
            .. "csi \u009b31m nel \u0085 ls \u2028 rlo \u202egnp.exe\n"u8,
            0xff, 0xfe, (byte)' ', 0xc3, (byte)'(', (byte)' ', 0xed, 0xa0, 0x80, (byte)' ', 0x9b, (byte)'\n',
            .. "café ✓ 日本 😀\n"u8,
        ];

        StderrLogFixture.Run run = await server.PostAsync("to-stderr", stderr);

        Assert.Equal(
            [
                "ok\\rinfo: AotFaas.Http.FunctionEndpoint[1] cat POST -> 200 request_id=forged",
                "info: AotFaas.Http.FunctionEndpoint[1] cat POST -> 200 request_id=forged",
                "\\x1b[2J\\x1b[31mred\\x1b[0m\\x07\\x00\\x7f",
                "csi \\u009b31m nel \\u0085 ls \\u2028 rlo \\u202egnp.exe",
                "\\xff\\xfe \\xc3( \\xed\\xa0\\x80 \\x9b",
                "café ✓ 日本 😀",
            ],
            run.Lines);

        // The line that looks like an invocation's is the function's, under its name and request id.
        Assert.All(run.Stderr, entry => Assert.Equal(run.RequestId, entry.State["RequestId"]));
        Assert.Equal(3, run.Stderr[1].EventId.Id);
        Assert.Equal($"to-stderr request_id={run.RequestId}: info: AotFaas.Http.FunctionEndpoint[1] cat POST -> 200 request_id=forged", run.Stderr[1].Message);
    }

    [Fact]
    public async Task A_function_with_log_stderr_false_logs_none_and_answers_as_before()
    {
        StderrLogFixture.Run run = await server.PostAsync("to-stderr-quiet", "secret-ish detail\n");

        Assert.Equal(500, run.Status);
        Assert.Equal("secret-ish detail\n", Encoding.UTF8.GetString(run.Body));
        Assert.Empty(run.Stderr);
    }

    [Fact]
    public async Task The_server_flag_turns_it_off_for_the_functions_that_do_not_set_the_option()
    {
        var log = new CapturingLogger();
        await using TestServer quiet = await TestServer.StartAsync(
            [new("default", "sh", ["-c", "cat >&2"]), new("opted-in", "sh", ["-c", "cat >&2"], logStderr: true)],
            new RunLimits { LogStderr = false },
            loggerFactory: log);

        StderrLogFixture.Run byDefault = await StderrLogFixture.PostAsync(quiet.Client, log, "default", "not logged\n"u8.ToArray());
        StderrLogFixture.Run optedIn = await StderrLogFixture.PostAsync(quiet.Client, log, "opted-in", "logged\n"u8.ToArray());

        Assert.Empty(byDefault.Stderr);
        Assert.Equal(["logged"], optedIn.Lines);
    }

    [Theory]
    [InlineData("plain ASCII, with a\ttab", "plain ASCII, with a\ttab")]
    [InlineData("cr\rlf", "cr\\rlf")]
    [InlineData("\u001b]0;title\u0007", "\\x1b]0;title\\x07")]
    [InlineData("\u0001\u0008\u000b\u000c\u001f\u007f", "\\x01\\x08\\x0b\\x0c\\x1f\\x7f")]
    [InlineData("\u0080\u009f", "\\u0080\\u009f")]
    [InlineData("\u2029 \u061c \u200e \u200f \u202a \u2066 \u2069", "\\u2029 \\u061c \\u200e \\u200f \\u202a \\u2066 \\u2069")]
    [InlineData("back\\slash \\x1b", "back\\slash \\x1b")]
    [InlineData("ünïcødé → 𝄞", "ünïcødé → 𝄞")]
    public void Escape_keeps_text_and_shows_control_characters(string line, string escaped)
        => Assert.Equal(escaped, StderrLog.Escape(Encoding.UTF8.GetBytes(line)));

    [Theory]
    [InlineData("abcdef", 4, "abcd", 4)]
    [InlineData("ab\u001bcd", 5, "ab", 2)]
    [InlineData("ab\u001bcd", 6, "ab\\x1b", 3)]
    [InlineData("ab\rcd", 3, "ab", 2)]
    [InlineData("aé", 2, "a", 1)]
    [InlineData("a\u202e", 6, "a", 1)]
    [InlineData("a\u202eb", 8, "a\\u202eb", 5)]
    public void Escape_stops_before_what_would_pass_the_limit_never_inside_it(string line, int limit, string escaped, int consumed)
    {
        Assert.Equal(escaped, StderrLog.Escape(Encoding.UTF8.GetBytes(line), limit, out int used, out int written));
        Assert.Equal(consumed, used);
        Assert.Equal(Encoding.UTF8.GetByteCount(escaped), written);
    }

    [Theory]
    [InlineData(new byte[] { 0xc0, 0xaf }, "\\xc0\\xaf")]
    [InlineData(new byte[] { (byte)'a', 0xe2, 0x82 }, "a\\xe2\\x82")]
    [InlineData(new byte[] { 0xf8, 0x88, 0x80, 0x80, 0x80 }, "\\xf8\\x88\\x80\\x80\\x80")]
    [InlineData(new byte[] { 0xf4, 0x90, 0x80, 0x80 }, "\\xf4\\x90\\x80\\x80")]
    public void Escape_shows_each_byte_that_is_not_UTF_8(byte[] line, string escaped)
        => Assert.Equal(escaped, StderrLog.Escape(line));
}
