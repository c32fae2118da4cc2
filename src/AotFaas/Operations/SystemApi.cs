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

    /// <summary>The annotations' prefix: <c>com.aotfaas.timeout</c> is the <c>timeout</c> option.</summary>
    private const string AnnotationPrefix = "com.aotfaas.";

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

    /// <summary>The function's options in manifest syntax, under <c>com.aotfaas.</c>; methods, request-env and response always.</summary>
    private static Dictionary<string, string> Annotations(Proc proc)
    {
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [AnnotationPrefix + OptionKeys.Methods] = string.Join(" ", proc.Methods),
            [AnnotationPrefix + OptionKeys.RequestEnv] = OptionValues.Cgi,
            [AnnotationPrefix + OptionKeys.Response] = OptionValues.Raw,
        };
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
