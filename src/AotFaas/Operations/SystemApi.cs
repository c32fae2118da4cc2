using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Invokers;
using AotFaas.Shared;

namespace AotFaas.Operations;

/// <summary>
/// The part of OpenFaaS's gateway API its tools call (with <c>--system-api</c>), in the field names and shapes of
/// the gateway's types: <c>GET /system/functions</c> (<c>faas-cli list</c>) and <c>GET /system/function/{name}</c>
/// (<c>faas-cli describe</c>) answer FunctionStatus, <c>GET /system/info</c> (<c>faas-cli version</c>) GatewayInfo.
/// A function that runs a program per request has one replica (this process), available while the server is not
/// draining; a <c>mode: http</c> function has its workers, available as many as are ready. Its
/// <c>image</c> is the program it runs (there is no container image per function), <c>createdAt</c> the server's
/// start, and there is no namespace and no per-function limit. The function's options are its annotations
/// (<c>com.aotfaas.timeout</c>, ...), in manifest syntax.
/// </summary>
public static class SystemApi
{
    public const string Path = "/system/functions";

    /// <summary>The prefix of one function's status: <c>/system/function/NAME</c>.</summary>
    public const string FunctionPath = "/system/function/";

    public const string InfoPath = "/system/info";

    /// <summary>The annotations' prefix: <c>com.aotfaas.timeout</c> is the <c>timeout</c> option.</summary>
    private const string AnnotationPrefix = "com.aotfaas.";

    /// <summary>The JSON array for <paramref name="functions"/>, with their invocation counts so far.</summary>
    public static byte[] List(IReadOnlyList<Proc> functions, FunctionCatalog catalog, ServerLifecycle lifecycle)
    {
        var statuses = new FunctionStatus[functions.Count];
        for (int i = 0; i < functions.Count; i++)
        {
            statuses[i] = Status(functions[i], catalog, lifecycle);
        }

        return JsonSerializer.SerializeToUtf8Bytes(statuses, OperationsJsonContext.Default.FunctionStatusArray);
    }

    /// <summary>The JSON object for <paramref name="proc"/>.</summary>
    public static byte[] Describe(Proc proc, FunctionCatalog catalog, ServerLifecycle lifecycle)
        => JsonSerializer.SerializeToUtf8Bytes(Status(proc, catalog, lifecycle), OperationsJsonContext.Default.FunctionStatus);

    /// <summary>GatewayInfo: this server as both the gateway and the provider, its version and the machine's architecture.</summary>
    public static byte[] Info()
    {
        string version = typeof(SystemApi).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        int plus = version.IndexOf('+', StringComparison.Ordinal);
        var release = new VersionInfo { Release = plus < 0 ? version : version[..plus], Sha = plus < 0 ? string.Empty : version[(plus + 1)..] };
        var info = new GatewayInfo
        {
            Provider = new ProviderInfo { Provider = "aotfaas", Orchestration = "process", Version = release },
            Version = release,

            // Go's names, as the gateway reports runtime.GOARCH.
            Arch = RuntimeInformation.ProcessArchitecture switch
            {
                Architecture.X64 => "amd64",
                Architecture.Arm64 => "arm64",
                Architecture.Arm => "arm",
                var other => other.ToString().ToLowerInvariant(),
            },
        };
        return JsonSerializer.SerializeToUtf8Bytes(info, OperationsJsonContext.Default.GatewayInfo);
    }

    private static FunctionStatus Status(Proc proc, FunctionCatalog catalog, ServerLifecycle lifecycle)
    {
        FunctionPolicy? policy = catalog.Find(proc.FuncName);

        // A mode: http function has its workers: as many replicas as it runs, available as many as are ready.
        IWorkerStatus? workers = policy?.Invoker.Workers;
        return new()
        {
            Name = proc.FuncName,
            Image = proc.Executable,
            EnvProcess = proc.CommandLine,
            Labels = new Dictionary<string, string>(StringComparer.Ordinal) { ["faas_function"] = proc.FuncName },
            Annotations = Annotations(proc),
            InvocationCount = policy?.Invocations ?? 0,
            Replicas = workers?.Replicas ?? 1,
            AvailableReplicas = lifecycle.IsDraining ? 0 : workers?.Ready ?? 1,
            CreatedAt = lifecycle.StartedAt,
        };
    }

    /// <summary>
    /// The function's options in manifest syntax, under <c>com.aotfaas.</c>; methods always, and request-env and
    /// response always for a function that runs a program (they do not apply to <c>mode: http</c>).
    /// </summary>
    private static Dictionary<string, string> Annotations(Proc proc)
    {
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [AnnotationPrefix + OptionKeys.Methods] = string.Join(" ", proc.Methods),
            [AnnotationPrefix + OptionKeys.Mode] = proc.Mode == FunctionMode.Http ? OptionValues.Http : OptionValues.Exec,
        };
        if (proc.Mode != FunctionMode.Http)
        {
            annotations[AnnotationPrefix + OptionKeys.RequestEnv] = OptionValues.Cgi;
            annotations[AnnotationPrefix + OptionKeys.Response] = OptionValues.Raw;
        }

        foreach ((string key, string value) in FunctionListing.Options(proc))
        {
            // env and pass-env may hold anything; the listing is not the place to publish a function's environment.
            if (key is not (OptionKeys.Env or OptionKeys.PassEnv))
            {
                annotations[AnnotationPrefix + key] = value;
            }
        }

        return annotations;
    }
}

/// <summary>OpenFaaS's FunctionStatus, the fields that mean something here, in the gateway's order.</summary>
public sealed class FunctionStatus
{
    public required string Name { get; init; }

    public required string Image { get; init; }

    public required string EnvProcess { get; init; }

    public required Dictionary<string, string> Labels { get; init; }

    public required Dictionary<string, string> Annotations { get; init; }

    public long InvocationCount { get; init; }

    public long Replicas { get; init; }

    public long AvailableReplicas { get; init; }

    public DateTime CreatedAt { get; init; }
}

/// <summary>OpenFaaS's GatewayInfo (<c>GET /system/info</c>).</summary>
public sealed class GatewayInfo
{
    public required ProviderInfo Provider { get; init; }

    public required VersionInfo Version { get; init; }

    public required string Arch { get; init; }
}

/// <summary>OpenFaaS's ProviderInfo: its name is the JSON field <c>provider</c>.</summary>
public sealed class ProviderInfo
{
    public required string Provider { get; init; }

    public required VersionInfo Version { get; init; }

    public required string Orchestration { get; init; }
}

/// <summary>OpenFaaS's VersionInfo.</summary>
public sealed class VersionInfo
{
    [JsonPropertyName("sha")]
    public required string Sha { get; init; }

    public required string Release { get; init; }
}

/// <summary>System.Text.Json source generation: no reflection in the trimmed binary.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(FunctionStatus[]))]
[JsonSerializable(typeof(GatewayInfo))]
[JsonSerializable(typeof(PortalFunction[]))]
internal sealed partial class OperationsJsonContext : JsonSerializerContext;
