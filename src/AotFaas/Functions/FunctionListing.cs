using System.Globalization;
using System.Text;
using AotFaas.Shared;

namespace AotFaas.Functions;

/// <summary>The text of <c>--list</c>: the compiled functions, written as the manifest writes them, options included.</summary>
public static class FunctionListing
{
    /// <summary>The word of <paramref name="scheme"/> in the manifest (<c>bearer</c>, <c>hmac-sha256</c>, ...), or null for none.</summary>
    public static string? SchemeWord(AuthScheme scheme) => scheme switch
    {
        AuthScheme.Bearer => OptionValues.Bearer,
        AuthScheme.HmacSha256 => OptionValues.HmacSha256,
        AuthScheme.Token => OptionValues.Token,
        AuthScheme.Stripe => OptionValues.Stripe,
        AuthScheme.Slack => OptionValues.Slack,
        _ => null,
    };

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
            (OptionKeys.ContentType, proc.ContentType),
            (OptionKeys.Timeout, proc.Timeout is TimeSpan timeout ? Quantity.FormatDuration((long)timeout.TotalMilliseconds) : null),
            (OptionKeys.MaxInflight, proc.MaxInflight?.ToString(CultureInfo.InvariantCulture)),
            (OptionKeys.MaxQueue, proc.MaxQueue?.ToString(CultureInfo.InvariantCulture)),
            (OptionKeys.MaxBody, proc.MaxBody is long body ? Quantity.FormatSize(body) : null),
            (OptionKeys.MaxOutput, proc.MaxOutput is long output ? Quantity.FormatSize(output) : null),
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
            yield return (OptionKeys.Env, entry);
        }

        (string, string?)[] rest =
        [
            (OptionKeys.PassEnv, proc.PassEnv.IsEmpty ? null : string.Join(", ", proc.PassEnv)),
            (OptionKeys.WorkDir, proc.WorkDir),
            (OptionKeys.Methods, proc.Methods is ["POST"] ? null : string.Join(" ", proc.Methods)),
            (OptionKeys.RequestEnv, proc.RequestEnv switch { RequestEnvMode.Cgi => null, RequestEnvMode.OpenFaas => OptionValues.OpenFaas, _ => OptionValues.None }),
            (OptionKeys.PassAuthorization, proc.PassAuthorization ? "true" : null),
            (OptionKeys.Response, proc.Response == ResponseMode.Cgi ? OptionValues.Cgi : null),
            (OptionKeys.Auth, proc.Auth switch
            {
                AuthScheme.Bearer => $"{OptionValues.Bearer} ${proc.AuthSecretVariable}",
                AuthScheme.HmacSha256 => $"{OptionValues.HmacSha256} ${proc.AuthSecretVariable} {proc.AuthHeader}",
                AuthScheme.Token => $"{OptionValues.Token} ${proc.AuthSecretVariable} {proc.AuthHeader}",
                AuthScheme.Stripe => $"{OptionValues.Stripe} ${proc.AuthSecretVariable}",
                AuthScheme.Slack => $"{OptionValues.Slack} ${proc.AuthSecretVariable}",
                _ => null,
            }),
            (OptionKeys.LogStderr, proc.LogStderr is bool log ? (log ? "true" : "false") : null),
            (OptionKeys.Mode, proc.Mode == FunctionMode.Http ? OptionValues.Http : null),
            (OptionKeys.Replicas, proc.Replicas?.ToString(CultureInfo.InvariantCulture)),
            (OptionKeys.Ready, proc.ReadyPath),
            (OptionKeys.IdleStop, proc.IdleStop is TimeSpan idle ? Quantity.FormatDuration((long)idle.TotalMilliseconds) : null),
            (OptionKeys.StartTimeout, proc.StartTimeout is TimeSpan start ? Quantity.FormatDuration((long)start.TotalMilliseconds) : null),
            (OptionKeys.Async, proc.TakesAsync ? "true" : null),
            (OptionKeys.AsyncQueue, proc.AsyncQueue?.ToString(CultureInfo.InvariantCulture)),
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
