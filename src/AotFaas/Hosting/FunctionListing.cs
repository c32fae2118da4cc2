using System.Globalization;
using System.Text;
using AotFaas.Functions;
using AotFaas.Shared;

namespace AotFaas.Hosting;

/// <summary>The text of <c>--list</c>: the compiled functions, written as the manifest writes them, options included.</summary>
public static class FunctionListing
{
    public static string Format(IEnumerable<Proc> functions)
    {
        var text = new StringBuilder();
        foreach (Proc proc in functions)
        {
            text.Append(proc.FuncName).Append(": ").Append(proc.CommandLine).Append('\n');
            Option(text, "content-type", proc.ContentType);
            Option(text, "timeout", proc.Timeout is TimeSpan timeout ? Quantity.FormatDuration((long)timeout.TotalMilliseconds) : null);
            Option(text, "max-inflight", proc.MaxInflight?.ToString(CultureInfo.InvariantCulture));
            Option(text, "max-queue", proc.MaxQueue?.ToString(CultureInfo.InvariantCulture));
            Option(text, "max-body", proc.MaxBody is long body ? Quantity.FormatSize(body) : null);
            Option(text, "max-output", proc.MaxOutput is long output ? Quantity.FormatSize(output) : null);
            foreach (string entry in proc.Env)
            {
                Option(text, "env", entry);
            }

            Option(text, "pass-env", proc.PassEnv.IsEmpty ? null : string.Join(", ", proc.PassEnv));
            Option(text, "workdir", proc.WorkDir);
            Option(text, "methods", proc.Methods is ["POST"] ? null : string.Join(" ", proc.Methods));
            Option(text, "request-env", proc.RequestEnv switch
            {
                RequestEnvMode.Cgi => null,
                RequestEnvMode.OpenFaas => "openfaas",
                _ => "none",
            });
            Option(text, "pass-authorization", proc.PassAuthorization ? "true" : null);
            Option(text, "response", proc.Response == ResponseMode.Cgi ? "cgi" : null);
            Option(text, "auth", proc.Auth switch
            {
                AuthScheme.Bearer => "bearer $" + proc.AuthSecretVariable,
                AuthScheme.HmacSha256 => $"hmac-sha256 ${proc.AuthSecretVariable} {proc.AuthHeader}",
                _ => null,
            });
        }

        return text.ToString();
    }

    private static void Option(StringBuilder text, string key, string? value)
    {
        if (value is not null)
        {
            text.Append("  ").Append(key).Append(": ").Append(value).Append('\n');
        }
    }
}
