using System.Text;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Logging;
using AotFaas.Tests.Http;
using Microsoft.Extensions.Logging;

namespace AotFaas.Tests.Operations;

/// <summary>
/// A function's stderr through the server's own line logger (<c>--log-format text</c>): one output line per entry,
/// whatever bytes the program wrote, and a reader of the server's output that stops reading holds up no request.
/// </summary>
public sealed class StderrTextLogTests
{
    private static readonly Proc[] Functions = [new("to-stderr", "sh", ["-c", "cat >&2"]), new("to-stderr-fail", "sh", ["-c", "cat >&2; exit 1"])];

    [Fact]
    public async Task Each_entry_is_one_line_and_no_control_byte_reaches_the_output()
    {
        var output = new CollectingStream();
        using var provider = new LineLoggerProvider(output);
        using var factory = new LoggerFactory([provider]);
        await using TestServer server = await TestServer.StartAsync(Functions, loggerFactory: factory);
        const string requestId = "text-log-1";
        byte[] stderr =
        [
            .. "WARNING disk 91% full\n"u8,
            .. "ok\rinfo: AotFaas.Http.FunctionEndpoint[1] forged -> 200\n"u8,
            .. "\u001b[2J\u001b[1;1H\u001b]0;pwned\u0007 \u009b2J \u2028 \u0085 tail\n"u8,
            0xff, 0x00, 0x1b, (byte)'\n',
            .. "no line feed at the end"u8,
        ];

        using var request = new HttpRequestMessage(HttpMethod.Post, "/function/to-stderr-fail") { Content = new ByteArrayContent(stderr) };
        request.Headers.Add("X-Request-Id", requestId);
        using HttpResponseMessage response = await server.Client.SendAsync(request);
        Assert.Equal(stderr, await response.Content.ReadAsByteArrayAsync());

        string[] lines = [.. (await output.LinesAsync(line => line.Contains("FunctionEndpoint[1] to-stderr-fail", StringComparison.Ordinal)))
            .Where(line => line.Contains("request_id=" + requestId, StringComparison.Ordinal))];
        string prefix = $"warn: AotFaas.Stderr[3] to-stderr-fail request_id={requestId}: ";
        Assert.Equal(
            [
                prefix + "WARNING disk 91% full",
                prefix + "ok\\rinfo: AotFaas.Http.FunctionEndpoint[1] forged -> 200",
                prefix + "\\x1b[2J\\x1b[1;1H\\x1b]0;pwned\\x07 \\u009b2J \\u2028 \\u0085 tail",
                prefix + "\\xff\\x00\\x1b",
                prefix + "no line feed at the end",
            ],
            lines[..^1]);
        Assert.StartsWith("info: AotFaas.Http.FunctionEndpoint[1] to-stderr-fail POST -> 500 ", lines[^1], StringComparison.Ordinal);
        Assert.DoesNotContain(output.Bytes(), b => (b < 0x20 && b != '\n') || b is 0x7f or 0x9b);
    }

    [Fact]
    public async Task A_reader_that_stops_reading_the_servers_output_holds_up_no_request()
    {
        var output = new CollectingStream { Blocked = true };
        using var provider = new LineLoggerProvider(output);
        using var factory = new LoggerFactory([provider]);
        await using TestServer server = await TestServer.StartAsync(Functions, loggerFactory: factory);
        byte[] stderr = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(1, 64).Select(i => $"progress {i}\n")));

        // 65 entries a run: 130 runs queue more than the logger's 8,192 lines, which no one writes out.
        int runs = (LineLoggerProvider.Capacity / (StderrLog.MaxLines + 1)) + 4;
        var answered = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, runs), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (_, cancellationToken) =>
        {
            using HttpResponseMessage response = await server.Client.PostAsync("/function/to-stderr", new ByteArrayContent(stderr), cancellationToken);
            Assert.Equal(200, (int)response.StatusCode);
            Interlocked.Increment(ref answered);
        });

        Assert.Equal(runs, answered);
        Assert.True(provider.Dropped > 0, "the log lines beyond the logger's capacity are dropped, not waited for");

        // Once the output is read again, a line says how many were dropped.
        output.Blocked = false;
        using (await server.Client.PostAsync("/function/to-stderr", new ByteArrayContent("after\n"u8.ToArray())))
        {
        }

        string[] lines = await output.LinesAsync(line => line.Contains("log line(s) dropped", StringComparison.Ordinal));
        Assert.Matches(@"^warn: AotFaas\.Logging\[0\] \d+ log line\(s\) dropped: the server's output is read more slowly than it is written$", lines[^1]);
    }

    /// <summary>What the logger writes, kept; while <see cref="Blocked"/>, a write waits, as on a pipe no one reads.</summary>
    private sealed class CollectingStream : Stream
    {
        private readonly MemoryStream _bytes = new();
        private readonly ManualResetEventSlim _open = new(true);

        public bool Blocked
        {
            get => !_open.IsSet;
            set
            {
                if (value)
                {
                    _open.Reset();
                }
                else
                {
                    _open.Set();
                }
            }
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public byte[] Bytes()
        {
            lock (_bytes)
            {
                return _bytes.ToArray();
            }
        }

        /// <summary>The lines written so far, once one of them matches <paramref name="last"/> (waiting up to 10 s).</summary>
        public async Task<string[]> LinesAsync(Func<string, bool> last)
        {
            for (int i = 0; i < 500; i++)
            {
                string[] lines = Encoding.UTF8.GetString(Bytes()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
                int found = Array.FindIndex(lines, line => last(line));
                if (found >= 0)
                {
                    return lines[..(found + 1)];
                }

                await Task.Delay(20);
            }

            throw new TimeoutException("the line did not come: " + Encoding.UTF8.GetString(Bytes()));
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            _open.Wait();
            lock (_bytes)
            {
                _bytes.Write(buffer, offset, count);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer, offset, count);
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.ToArray(), 0, buffer.Length);
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            _open.Set();
            base.Dispose(disposing);
        }
    }
}
