using System.Text;
using System.Text.Json;
using AotFaas.Functions;

namespace AotFaas.Operations;

/// <summary>
/// <c>GET /</c> with <c>--portal</c>: one self-contained HTML page (embedded in the binary at build time,
/// no external assets) to try the compiled functions: their command lines (those with <c>auth</c> marked, and
/// <c>mode: http</c> ones with their number of workers),
/// the method, path, content type, request headers and body, a secret to sign the body with for
/// <c>hmac-sha256</c> functions (in the browser, never sent), and the response's status, headers, duration
/// and body (text, or a hex view when it is binary).
/// </summary>
public static class Portal
{
    private const string Placeholder = "{{FUNCTIONS}}";

    /// <summary>The page with <paramref name="functions"/> written into it, UTF-8.</summary>
    public static byte[] Page(IReadOnlyList<Proc> functions)
    {
        using Stream stream = typeof(Portal).Assembly.GetManifestResourceStream("AotFaas.Operations.portal.html")
            ?? throw new InvalidOperationException("the portal page is missing from the binary");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string page = reader.ReadToEnd();
        var list = new PortalFunction[functions.Count];
        for (int i = 0; i < functions.Count; i++)
        {
            Proc proc = functions[i];
            list[i] = new PortalFunction
            {
                Name = proc.FuncName,
                Command = proc.CommandLine,
                Methods = [.. proc.Methods],
                Auth = FunctionListing.SchemeWord(proc.Auth),
                AuthHeader = proc.Auth == AuthScheme.HmacSha256 ? proc.AuthHeader : null,
                Mode = proc.Mode == FunctionMode.Http ? $"{Shared.OptionValues.Http} x{proc.Replicas ?? 1}" : null,
            };
        }

        // The default encoder escapes '<', '>' and '&': the JSON cannot close the script element it sits in.
        string json = JsonSerializer.Serialize(list, OperationsJsonContext.Default.PortalFunctionArray);
        return Encoding.UTF8.GetBytes(page.Replace(Placeholder, json, StringComparison.Ordinal));
    }
}

/// <summary>What the portal shows of a function.</summary>
public sealed class PortalFunction
{
    public required string Name { get; init; }

    public required string Command { get; init; }

    public required string[] Methods { get; init; }

    /// <summary>The <c>auth</c> scheme (<c>bearer</c>, <c>hmac-sha256</c>), or null for none.</summary>
    public string? Auth { get; init; }

    /// <summary>The header an <c>hmac-sha256</c> function reads its signature from.</summary>
    public string? AuthHeader { get; init; }

    /// <summary>How it runs when not per request: <c>http x2</c> for two warm workers; null for a program per request.</summary>
    public string? Mode { get; init; }
}
