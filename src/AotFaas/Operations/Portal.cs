using System.Text;
using System.Text.Json;
using AotFaas.Functions;

namespace AotFaas.Operations;

/// <summary>
/// <c>GET /</c> with <c>--portal</c>: one self-contained HTML page (embedded in the binary at build time,
/// no external assets) to try the compiled functions: their command lines, a body box, a send button,
/// and the response's status, headers, duration and body (text, or a hex view when it is binary).
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
            list[i] = new PortalFunction { Name = functions[i].FuncName, Command = functions[i].CommandLine, Methods = [.. functions[i].Methods] };
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
}
