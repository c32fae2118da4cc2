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
            foreach ((string key, string value) in Options(proc))
            {
                text.Append("  ").Append(key).Append(": ").Append(value).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>The options <paramref name="proc"/> sets, as the manifest writes them; defaults are left out.</summary>
    public static IEnumerable<(string Key, string Value)> Options(Proc proc)
    {
        (string, string?)[] single =
        [
            ("content-type", proc.ContentType),
            ("timeout", proc.Timeout is TimeSpan timeout ? Quantity.FormatDuration((long)timeout.TotalMilliseconds) : null),
            ("max-inflight", proc.MaxInflight?.ToString(CultureInfo.InvariantCulture)),
            ("max-queue", proc.MaxQueue?.ToString(CultureInfo.InvariantCulture)),
            ("max-body", proc.MaxBody is long body ? Quantity.FormatSize(body) : null),
            ("max-output", proc.MaxOutput is long output ? Quantity.FormatSize(output) : null),
        ];
        foreach ((string key, string? value) in single)
        {
            if (value is not null)
            {
                yield return (key, value);
            }
        }

        foreach (string entry in proc.Env)
        {
            yield return ("env", entry);
        }

        (string, string?)[] rest =
        [
            ("pass-env", proc.PassEnv.IsEmpty ? null : string.Join(", ", proc.PassEnv)),
            ("workdir", proc.WorkDir),
            ("methods", proc.Methods is ["POST"] ? null : string.Join(" ", proc.Methods)),
            ("request-env", proc.RequestEnv switch { RequestEnvMode.Cgi => null, RequestEnvMode.OpenFaas => "openfaas", _ => "none" }),
            ("pass-authorization", proc.PassAuthorization ? "true" : null),
            ("response", proc.Response == ResponseMode.Cgi ? "cgi" : null),
            ("auth", proc.Auth switch
            {
                AuthScheme.Bearer => "bearer $" + proc.AuthSecretVariable,
                AuthScheme.HmacSha256 => $"hmac-sha256 ${proc.AuthSecretVariable} {proc.AuthHeader}",
                _ => null,
            }),
        ];
        foreach ((string key, string? value) in rest)
        {
            if (value is not null)
            {
                yield return (key, value);
            }
        }
    }
}
