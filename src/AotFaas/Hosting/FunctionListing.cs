using System.Text;
using AotFaas.Functions;

namespace AotFaas.Hosting;

/// <summary>The text of <c>--list</c>: the compiled functions, written as the manifest writes them.</summary>
public static class FunctionListing
{
    public static string Format(IEnumerable<Proc> functions)
    {
        var text = new StringBuilder();
        foreach (Proc proc in functions)
        {
            text.Append(proc.FuncName).Append(": ").Append(proc.CommandLine).Append('\n');
            if (proc.ContentType is not null)
            {
                text.Append("  content-type: ").Append(proc.ContentType).Append('\n');
            }
        }

        return text.ToString();
    }
}
