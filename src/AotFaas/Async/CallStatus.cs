using System.Text.Encodings.Web;
using System.Text.Json;
using AotFaas.Invokers;

namespace AotFaas.Async;

/// <summary>
/// What <c>GET /async-function/NAME/calls/ID</c> answers: the call's state as a JSON object (<c>id</c>, <c>function</c>,
/// <c>state</c> (<c>queued</c>, <c>running</c>, <c>done</c>), <c>acceptedAt</c>, <c>startedAt</c>, <c>endedAt</c>,
/// <c>runs</c>, <c>status</c>, <c>exit</c>, <c>durationSeconds</c>, <c>contentType</c>, <c>output</c> (the output as text,
/// when it is valid UTF-8) or <c>outputBase64</c>, <c>callback</c> (<c>pending</c>, <c>delivered</c>, <c>given-up</c>),
/// <c>callbackAttempts</c>; a member without a value is left out), written as it is sent.
/// </summary>
/// <remarks>
/// The output (up to the function's <c>max-output</c>) is escaped straight from the stored bytes to the connection, a
/// slice at a time: no string of it, no document of it. Escaped for JSON only (quotes, backslashes, control
/// characters), not for HTML: the body is <c>application/json</c>, and escaping <c>&lt;</c> as six bytes made a status
/// read of 16 MiB of markup a 96 MiB document in memory.
/// </remarks>
public sealed class CallStatus(StoredCall call) : IResponseBody
{
    /// <summary>How much of the output is escaped and written at a time.</summary>
    private const int Slice = 64 << 10;

    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Unknown until written: sent without a Content-Length.</summary>
    public long Length => -1;

    /// <inheritdoc/>
    public async Task CopyToAsync(Stream destination, CancellationToken cancellationToken, long skip = 0)
    {
        if (skip != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(skip), skip, "a status is sent whole");
        }

        await using var json = new Utf8JsonWriter(destination, Options);
        bool done = call.State == CallState.Done;
        json.WriteStartObject();
        json.WriteString("id", call.Id);
        json.WriteString("function", call.Function);
        json.WriteString("state", call.State switch { CallState.Queued => "queued", CallState.Running => "running", _ => "done" });
        json.WriteString("acceptedAt", DateTimeOffset.FromUnixTimeMilliseconds(call.AcceptedAt));
        if (call.StartedAt is long started)
        {
            json.WriteString("startedAt", DateTimeOffset.FromUnixTimeMilliseconds(started));
        }

        if (done && call.EndedAt is long ended)
        {
            json.WriteString("endedAt", DateTimeOffset.FromUnixTimeMilliseconds(ended));
        }

        json.WriteNumber("runs", call.Runs);
        if (done)
        {
            if (call.Status is int status)
            {
                json.WriteNumber("status", status);
            }

            if (call.Exit is string exit)
            {
                json.WriteString("exit", exit);
            }

            if (call.StartedAt is long from && call.EndedAt is long to)
            {
                json.WriteNumber("durationSeconds", (to - from) / 1000.0);
            }

            if (call.ContentType is string contentType)
            {
                json.WriteString("contentType", contentType);
            }

            if (call.Output is byte[] output)
            {
                bool text = System.Text.Unicode.Utf8.IsValid(output);
                json.WritePropertyName(text ? "output" : "outputBase64");
                for (int offset = 0; ;)
                {
                    // A slice may end inside a character (or a base64 group): the writer carries it to the next.
                    int length = Math.Min(Slice, output.Length - offset);
                    bool last = offset + length == output.Length;
                    if (text)
                    {
                        json.WriteStringValueSegment(output.AsSpan(offset, length), last);
                    }
                    else
                    {
                        json.WriteBase64StringSegment(output.AsSpan(offset, length), last);
                    }

                    if (last)
                    {
                        break;
                    }

                    offset += length;
                    await json.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }

        if (call.CallbackUrl is not null)
        {
            json.WriteString("callback", call.Callback switch
            {
                CallbackState.Delivered => "delivered",
                CallbackState.GivenUp => "given-up",
                _ => "pending",
            });
            json.WriteNumber("callbackAttempts", call.CallbackAttempts);
        }

        json.WriteEndObject();
        await json.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
