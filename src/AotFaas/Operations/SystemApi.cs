using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Shared;

namespace AotFaas.Operations;

/// <summary>
/// <c>GET /system/functions</c> (with <c>--system-api</c>): the compiled functions in the field names of
/// OpenFaaS's FunctionStatus, so that OpenFaaS tooling that lists functions can read them. One process
/// serves every function, so each has one replica, available while the server is not draining. The
/// function's options are its annotations (<c>com.aotfaas.timeout</c>, ...), in manifest syntax.
/// </summary>
public static class SystemApi
{
    public const string Path = "/system/functions";

    /// <summary>The JSON array for <paramref name="functions"/>, with their invocation counts so far.</summary>
    public static byte[] List(IReadOnlyList<Proc> functions, FunctionCatalog catalog, ServerLifecycle lifecycle)
    {
        var statuses = new FunctionStatus[functions.Count];
        for (int i = 0; i < functions.Count; i++)
        {
            Proc proc = functions[i];
            statuses[i] = new FunctionStatus
            {
                Name = proc.FuncName,
                EnvProcess = proc.CommandLine,
                InvocationCount = catalog.Find(proc.FuncName)?.Invocations ?? 0,
                Replicas = 1,
                AvailableReplicas = lifecycle.IsDraining ? 0 : 1,
                Labels = new Dictionary<string, string>(StringComparer.Ordinal) { ["faas_function"] = proc.FuncName },
                Annotations = Annotations(proc),
            };
        }

        return JsonSerializer.SerializeToUtf8Bytes(statuses, OperationsJsonContext.Default.FunctionStatusArray);
    }

    private static Dictionary<string, string> Annotations(Proc proc)
    {
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["com.aotfaas.methods"] = string.Join(" ", proc.Methods),
            ["com.aotfaas.request-env"] = proc.RequestEnv switch { RequestEnvMode.Cgi => "cgi", RequestEnvMode.OpenFaas => "openfaas", _ => "none" },
            ["com.aotfaas.response"] = proc.Response == ResponseMode.Cgi ? "cgi" : "raw",
        };
        void Add(string key, string? value)
        {
            if (value is not null)
            {
                annotations["com.aotfaas." + key] = value;
            }
        }

        Add("content-type", proc.ContentType);
        Add("timeout", proc.Timeout is TimeSpan timeout ? Quantity.FormatDuration((long)timeout.TotalMilliseconds) : null);
        Add("max-inflight", proc.MaxInflight?.ToString(CultureInfo.InvariantCulture));
        Add("max-queue", proc.MaxQueue?.ToString(CultureInfo.InvariantCulture));
        Add("max-body", proc.MaxBody is long body ? Quantity.FormatSize(body) : null);
        Add("max-output", proc.MaxOutput is long output ? Quantity.FormatSize(output) : null);
        Add("auth", proc.Auth switch { AuthScheme.Bearer => "bearer", AuthScheme.HmacSha256 => "hmac-sha256", _ => null });
        return annotations;
    }
}

/// <summary>OpenFaaS's FunctionStatus, the fields a listing needs.</summary>
public sealed class FunctionStatus
{
    public required string Name { get; init; }

    public required string EnvProcess { get; init; }

    public long InvocationCount { get; init; }

    public long Replicas { get; init; }

    public long AvailableReplicas { get; init; }

    public required Dictionary<string, string> Labels { get; init; }

    public required Dictionary<string, string> Annotations { get; init; }
}

/// <summary>System.Text.Json source generation: no reflection in the trimmed binary.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(FunctionStatus[]))]
[JsonSerializable(typeof(PortalFunction[]))]
internal sealed partial class OperationsJsonContext : JsonSerializerContext;
