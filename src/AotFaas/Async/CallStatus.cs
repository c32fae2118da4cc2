using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AotFaas.Async;

/// <summary>What <c>GET /async-function/NAME/calls/ID</c> answers, as JSON.</summary>
public sealed class CallStatus
{
    public required string Id { get; init; }

    public required string Function { get; init; }

    /// <summary><c>queued</c>, <c>running</c> or <c>done</c>.</summary>
    public required string State { get; init; }

    public required DateTimeOffset AcceptedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? EndedAt { get; init; }

    /// <summary>How many times it was taken to run: more than 1 when a server died while running it.</summary>
    public int Runs { get; init; }

    /// <summary>The status a synchronous call would have had.</summary>
    public int? Status { get; init; }

    /// <summary>The program's exit code or signal, or <c>-</c> when no program ran.</summary>
    public string? Exit { get; init; }

    public double? DurationSeconds { get; init; }

    public string? ContentType { get; init; }

    /// <summary>The output as text, when it is valid UTF-8.</summary>
    public string? Output { get; init; }

    /// <summary>The output in base64, when it is not valid UTF-8.</summary>
    public string? OutputBase64 { get; init; }

    /// <summary>The callback's state: <c>pending</c>, <c>delivered</c>, <c>given-up</c>; null without one.</summary>
    public string? Callback { get; init; }

    public int? CallbackAttempts { get; init; }

    /// <summary>The status of <paramref name="call"/>, as UTF-8 JSON.</summary>
    public static byte[] Json(StoredCall call)
    {
        byte[]? output = call.Output;
        bool text = output is not null && System.Text.Unicode.Utf8.IsValid(output);
        var status = new CallStatus
        {
            Id = call.Id,
            Function = call.Function,
            State = call.State switch { CallState.Queued => "queued", CallState.Running => "running", _ => "done" },
            AcceptedAt = DateTimeOffset.FromUnixTimeMilliseconds(call.AcceptedAt),
            StartedAt = call.StartedAt is long started ? DateTimeOffset.FromUnixTimeMilliseconds(started) : null,
            EndedAt = call.State == CallState.Done && call.EndedAt is long ended ? DateTimeOffset.FromUnixTimeMilliseconds(ended) : null,
            Runs = call.Runs,
            Status = call.State == CallState.Done ? call.Status : null,
            Exit = call.State == CallState.Done ? call.Exit : null,
            DurationSeconds = call.State == CallState.Done && call.StartedAt is long from && call.EndedAt is long to ? (to - from) / 1000.0 : null,
            ContentType = call.State == CallState.Done ? call.ContentType : null,
            Output = call.State == CallState.Done && text ? Encoding.UTF8.GetString(output!) : null,
            OutputBase64 = call.State == CallState.Done && output is not null && !text ? Convert.ToBase64String(output) : null,
            Callback = call.CallbackUrl is null ? null : call.Callback switch
            {
                CallbackState.Delivered => "delivered",
                CallbackState.GivenUp => "given-up",
                _ => "pending",
            },
            CallbackAttempts = call.CallbackUrl is null ? null : call.CallbackAttempts,
        };
        return JsonSerializer.SerializeToUtf8Bytes(status, AsyncJsonContext.Default.CallStatus);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CallStatus))]
internal sealed partial class AsyncJsonContext : JsonSerializerContext;
