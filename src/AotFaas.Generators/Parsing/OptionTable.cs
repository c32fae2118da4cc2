// Longer than the ~300 lines a file here is held to: it is the one table of every option, its checks and
// its FAAS008 messages side by side, so that adding an option touches one place in the parser.
using System;
using System.Collections.Generic;
using AotFaas.Generators.Model;
using AotFaas.Shared;

namespace AotFaas.Generators.Parsing
{
    /// <summary>
    /// The option keys a function may set with an indented <c>key: value</c> line, and how each value
    /// is checked and stored in <see cref="FunctionOptions"/>. The keys themselves are <see cref="OptionKeys"/>,
    /// which the server shares; README's "Adding an option" lists every place a new option touches.
    /// </summary>
    internal static class OptionTable
    {
        /// <summary>The header an <c>hmac-sha256</c> signature is read from when the option names none (GitHub's).</summary>
        public const string DefaultSignatureHeader = "X-Hub-Signature-256";

        /// <summary>The most runs of one function at a time, and the longest queue, an option may ask for.</summary>
        public const int MaxInflightLimit = 10000;
        public const int MaxQueueLimit = 100000;

        /// <summary>The most worker processes an http function may start.</summary>
        public const int MaxReplicas = 64;

        /// <summary>The most asynchronous calls of one function that <c>async-queue</c> may let wait.</summary>
        public const int MaxAsyncQueue = 1000000;

        /// <summary>The longest <c>ready</c> path.</summary>
        public const int MaxReadyPathLength = 1024;

        /// <summary>The known keys, for messages.</summary>
        public static string KnownKeys => string.Join(", ", OptionKeys.All);

        public static bool IsKnown(string key) => Array.IndexOf(OptionKeys.All, key) >= 0;

        /// <summary>Whether the option may appear more than once for one function.</summary>
        public static bool IsRepeatable(string key) => key == OptionKeys.Env || key == OptionKeys.PassEnv;

        /// <summary>Checks <paramref name="value"/> and stores it; returns why it is wrong, or null.</summary>
        public static string? Apply(string key, string value, ref FunctionOptions options)
        {
            switch (key)
            {
                case OptionKeys.ContentType:
                    return Set(MediaType.Validate(value), ref options, o => o with { ContentType = value });
                case OptionKeys.Timeout:
                    return Set(ParseDuration(value, out Amount timeout), ref options, o => o with { Timeout = timeout });
                case OptionKeys.MaxInflight:
                    return Set(Quantity.ParseCount(value, 1, MaxInflightLimit, out int inflight), ref options, o => o with { MaxInflight = inflight });
                case OptionKeys.MaxQueue:
                    return Set(Quantity.ParseCount(value, 0, MaxQueueLimit, out int queue), ref options, o => o with { MaxQueue = queue });
                case OptionKeys.MaxBody:
                    return Set(ParseSize(value, out Amount body), ref options, o => o with { MaxBody = body });
                case OptionKeys.MaxOutput:
                    return Set(ParseSize(value, out Amount output), ref options, o => o with { MaxOutput = output });
                case OptionKeys.Env:
                    return ApplyEnv(value, ref options);
                case OptionKeys.PassEnv:
                    return ApplyPassEnv(value, ref options);
                case OptionKeys.WorkDir:
                    string? error = value.IndexOf('\0') >= 0 ? "a directory name cannot hold a NUL character" : null;
                    return Set(error, ref options, o => o with { WorkDir = value });
                case OptionKeys.Methods:
                    return ApplyMethods(value, ref options);
                case OptionKeys.RequestEnv:
                    return Set(OneOf(value, OptionValues.RequestEnvModes), ref options, o => o with { RequestEnv = value });
                case OptionKeys.PassAuthorization:
                    return ApplyPassAuthorization(value, ref options);
                case OptionKeys.Response:
                    return Set(OneOf(value, OptionValues.ResponseModes), ref options, o => o with { Response = value });
                case OptionKeys.Auth:
                    return ApplyAuth(value, ref options);
                case OptionKeys.LogStderr:
                    return Set(ParseBoolean(value, out bool log), ref options, o => o with { LogStderr = log });
                case OptionKeys.Mode:
                    return Set(OneOf(value, OptionValues.Modes), ref options, o => o with { Mode = value });
                case OptionKeys.Replicas:
                    return Set(Quantity.ParseCount(value, 1, MaxReplicas, out int replicas), ref options, o => o with { Replicas = replicas });
                case OptionKeys.Ready:
                    return Set(CheckReadyPath(value), ref options, o => o with { Ready = value });
                case OptionKeys.IdleStop:
                    return Set(ParseDuration(value, out Amount idle), ref options, o => o with { IdleStop = idle });
                case OptionKeys.StartTimeout:
                    return Set(ParseDuration(value, out Amount start), ref options, o => o with { StartTimeout = start });
                case OptionKeys.Async:
                    return Set(ParseBoolean(value, out bool takesAsync), ref options, o => o with { Async = takesAsync });
                case OptionKeys.AsyncQueue:
                    return Set(Quantity.ParseCount(value, 1, MaxAsyncQueue, out int asyncQueue), ref options, o => o with { AsyncQueue = asyncQueue });
                default:
                    throw new ArgumentException("Unknown option key: " + key, nameof(key));
            }
        }

        /// <summary>
        /// Why <paramref name="key"/> does not apply to a function with <c>mode: http</c> (FAAS017), or null when
        /// it does. Checked once all of a function's options are read, since <c>mode</c> may come after them.
        /// </summary>
        public static string? NotForHttp(string key) => key switch
        {
            OptionKeys.RequestEnv => "the worker reads the request itself",
            OptionKeys.Response => "the worker writes its HTTP response itself",
            OptionKeys.MaxOutput => "it limits a program's stdout, and the worker answers over HTTP",
            OptionKeys.ContentType => "the worker sets its own headers",
            _ => null,
        };

        /// <summary>Whether an <c>env</c> or <c>pass-env</c> line sets <c>PORT</c>, which a <c>mode: http</c> worker gets from the server (FAAS017).</summary>
        public static bool SetsPort(string key, string value)
        {
            if (key == OptionKeys.Env)
            {
                return value.StartsWith("PORT=", StringComparison.Ordinal);
            }

            if (key == OptionKeys.PassEnv)
            {
                return Array.IndexOf(value.Split(new[] { ' ', '\t', ',' }, StringSplitOptions.RemoveEmptyEntries), "PORT") >= 0;
            }

            return false;
        }

        /// <summary>Whether <paramref name="key"/> applies only to a function with <c>mode: http</c> (FAAS018).</summary>
        public static bool OnlyForHttp(string key)
            => key == OptionKeys.Replicas || key == OptionKeys.Ready || key == OptionKeys.IdleStop || key == OptionKeys.StartTimeout;

        /// <summary>Whether <paramref name="key"/> applies only to a function with <c>async: true</c> (FAAS019).</summary>
        public static bool OnlyForAsync(string key) => key == OptionKeys.AsyncQueue;

        /// <summary>
        /// A <c>ready</c> path: what follows GET in a request line, so '/' first, then printable ASCII with no
        /// spaces (a query may follow, a fragment is never sent), at most <see cref="MaxReadyPathLength"/> characters.
        /// </summary>
        private static string? CheckReadyPath(string value)
        {
            if (value[0] != '/')
            {
                return "write a path that starts with '/', for example /healthz";
            }

            if (value.Length > MaxReadyPathLength)
            {
                return "the path is " + value.Length + " characters long; the limit is " + MaxReadyPathLength;
            }

            for (int i = 0; i < value.Length; i++)
            {
                char c = value[i];
                if (c == '#')
                {
                    return "a fragment ('#...') is never sent to the server: leave it out";
                }

                if (c <= ' ' || c >= '\u007f')
                {
                    string shown = c == ' ' ? "a space"
                        : char.IsControl(c) || (char.IsSurrogate(c) && !char.IsSurrogatePair(value, i)) ? "U+" + ((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture)
                        : "'" + value.Substring(i, char.IsHighSurrogate(c) ? 2 : 1) + "'";
                    return shown + " cannot be in a path: ASCII letters, digits and punctuation without spaces; percent-encode anything else (%20 for a space)";
                }
            }

            return null;
        }

        private static string? ParseDuration(string value, out Amount duration)
        {
            string? error = Quantity.ParseDuration(value, out long milliseconds, out long number, out string unit);
            duration = new Amount(number, unit, milliseconds);
            return error;
        }

        private static string? ParseSize(string value, out Amount size)
        {
            string? error = Quantity.ParseSize(value, out long bytes, out long number, out string unit);
            size = new Amount(number, unit, bytes);
            return error;
        }

        /// <summary>A yes-or-no option (<c>log-stderr</c>, <c>async</c>): the words pass-authorization takes too.</summary>
        private static string? ParseBoolean(string value, out bool result)
        {
            result = value == "true";
            return result || value == "false" ? null : "write true or false";
        }

        /// <summary>Applies <paramref name="change"/> when the value was valid (<paramref name="error"/> is null); returns the error.</summary>
        private static string? Set(string? error, ref FunctionOptions options, Func<FunctionOptions, FunctionOptions> change)
        {
            if (error is null)
            {
                options = change(options);
            }

            return error;
        }

        private static string? ApplyEnv(string value, ref FunctionOptions options)
        {
            int equals = value.IndexOf('=');
            if (equals < 0)
            {
                return "write KEY=VALUE, for example env: GREETING=hello";
            }

            string name = value.Substring(0, equals);
            string? error = CheckVariableName(name);
            if (error is not null)
            {
                return error;
            }

            if (value.IndexOf('\0') >= 0)
            {
                return "a value cannot hold a NUL character";
            }

            foreach (string entry in options.Env)
            {
                if (entry.StartsWith(name + "=", StringComparison.Ordinal))
                {
                    return "'" + name + "' is set twice for this function";
                }
            }

            options = options with { Env = Append(options.Env, value) };
            return null;
        }

        private static string? ApplyPassEnv(string value, ref FunctionOptions options)
        {
            EquatableArray<string> names = options.PassEnv;
            foreach (string name in value.Split(new[] { ' ', '\t', ',' }, StringSplitOptions.RemoveEmptyEntries))
            {
                string? error = CheckVariableName(name);
                if (error is not null)
                {
                    return error;
                }

                if (name == options.AuthSecretVariable)
                {
                    return SecretPassed(name);
                }

                if (!Contains(names, name))
                {
                    names = Append(names, name);
                }
            }

            options = options with { PassEnv = names };
            return null;
        }

        /// <summary>
        /// Whether an <c>auth</c> value writes its secret in the manifest instead of naming a variable
        /// (<c>auth: bearer s3cret</c>); that is an error of its own (FAAS015), reported before <see cref="Apply"/>.
        /// </summary>
        public static bool HasLiteralSecret(string value, out int secretStart, out int secretLength)
        {
            string[] words = Words(value);
            secretStart = secretLength = 0;
            if (words.Length < 2 || System.Array.IndexOf(OptionValues.AuthSchemes, words[0]) < 0 || words[1].StartsWith("$", StringComparison.Ordinal))
            {
                return false;
            }

            secretStart = value.IndexOf(words[1], words[0].Length, StringComparison.Ordinal);
            secretLength = words[1].Length;
            return true;
        }

        /// <summary>The scheme word an <c>auth</c> value starts with.</summary>
        public static string AuthSchemeOf(string value) => Words(value)[0];

        /// <summary>
        /// The first bodiless method (GET, HEAD) of an <c>hmac-sha256</c> function, or null: the HMAC of
        /// an empty body is one constant, which is no check at all (FAAS016).
        /// </summary>
        public static string? UnsignableMethod(FunctionOptions options)
        {
            if (options.AuthScheme != OptionValues.HmacSha256)
            {
                return null;
            }

            foreach (string method in options.Methods)
            {
                if (method == "GET" || method == "HEAD")
                {
                    return method;
                }
            }

            return null;
        }

        private static string? ApplyMethods(string value, ref FunctionOptions options)
        {
            var methods = new List<string>();
            foreach (string method in Words(value))
            {
                if (!IsMethod(method))
                {
                    string upper = method.ToUpperInvariant();
                    return IsMethod(upper)
                        ? "HTTP methods are case-sensitive and clients send them in capitals: write " + upper
                        : "'" + method + "' is not an HTTP method: capital letters, '-' and '_'";
                }

                if (method == "CONNECT")
                {
                    return "CONNECT opens a tunnel and cannot run a function";
                }

                if (!methods.Contains(method))
                {
                    methods.Add(method);
                }
            }

            options = options with { Methods = new EquatableArray<string>(methods.ToArray()) };
            return null;
        }

        private static bool IsMethod(string method)
        {
            foreach (char c in method)
            {
                if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
                {
                    return false;
                }
            }

            return true;
        }

        private static string? ApplyPassAuthorization(string value, ref FunctionOptions options)
        {
            bool pass;
            if (value == "true")
            {
                pass = true;
            }
            else if (value == "false")
            {
                pass = false;
            }
            else
            {
                return "write true or false";
            }

            if (pass && options.AuthScheme == OptionValues.Bearer)
            {
                return BearerPassed();
            }

            options = options with { PassAuthorization = pass };
            return null;
        }

        private static string? ApplyAuth(string value, ref FunctionOptions options)
        {
            string[] words = Words(value);
            string scheme = words[0];
            string? usage = AuthUsage(scheme);
            if (usage is null)
            {
                return "write 'bearer $VARIABLE', 'hmac-sha256 $VARIABLE [Header-Name]', 'token $VARIABLE Header-Name', 'stripe $VARIABLE' or 'slack $VARIABLE'";
            }

            // The header: hmac-sha256 may name one (default GitHub's), token must; the others have their sender's.
            int least = scheme == OptionValues.Token ? 3 : 2;
            int most = scheme == OptionValues.HmacSha256 || scheme == OptionValues.Token ? 3 : 2;
            if (words.Length < least || words.Length > most)
            {
                return "write '" + usage;
            }

            string variable = words[1].Substring(1);
            string? error = CheckVariableName(variable);
            if (error is not null)
            {
                return error;
            }

            string? header = words.Length == 3 ? words[2] : scheme == OptionValues.HmacSha256 ? DefaultSignatureHeader : null;
            if (header is not null && !MediaType.IsToken(header))
            {
                return "'" + header + "' is not a header name";
            }

            if (scheme == OptionValues.Token && string.Equals(header, "Authorization", StringComparison.OrdinalIgnoreCase))
            {
                return "a token in the Authorization header is auth: bearer $" + variable;
            }

            if (Contains(options.PassEnv, variable))
            {
                return SecretPassed(variable);
            }

            if (scheme == OptionValues.Bearer && options.PassAuthorization == true)
            {
                return BearerPassed();
            }

            options = options with { AuthScheme = scheme, AuthSecretVariable = variable, AuthHeader = header };
            return null;
        }

        /// <summary>How <paramref name="scheme"/> is written (the end of an error message), or null for a scheme that is not one.</summary>
        private static string? AuthUsage(string scheme) => scheme switch
        {
            OptionValues.Bearer => "bearer $VARIABLE': the server variable that holds the token",
            OptionValues.HmacSha256 => "hmac-sha256 $VARIABLE [Header-Name]': the server variable that holds the secret, then the signature header (default " + DefaultSignatureHeader + ")",
            OptionValues.Token => "token $VARIABLE Header-Name': the server variable that holds the token, then the header that carries it (e.g. X-Gitlab-Token)",
            OptionValues.Stripe => "stripe $VARIABLE': the server variable that holds the endpoint's signing secret (whsec_...)",
            OptionValues.Slack => "slack $VARIABLE': the server variable that holds the app's signing secret",
            _ => null,
        };

        private static string SecretPassed(string variable)
            => "'" + variable + "' holds this function's auth secret, which never reaches the program: do not pass it with pass-env";

        private static string BearerPassed()
            => "with auth: bearer the Authorization header holds the secret token, which never reaches the program: pass-authorization cannot be true";

        private static string? OneOf(string value, string[] allowed)
            => Array.IndexOf(allowed, value) >= 0 ? null : "write one of " + string.Join(", ", allowed);

        private static string[] Words(string value) => value.Split(new[] { ' ', '\t', ',' }, StringSplitOptions.RemoveEmptyEntries);

        private static string? CheckVariableName(string name)
        {
            if (name.Length == 0)
            {
                return "the variable name is empty";
            }

            for (int i = 0; i < name.Length; i++)
            {
                char c = name[i];
                bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
                if (!letter && !(i > 0 && c >= '0' && c <= '9'))
                {
                    return "'" + name + "' is not a variable name: letters, digits and '_', not starting with a digit";
                }
            }

            return null;
        }

        private static bool Contains(EquatableArray<string> values, string value)
        {
            foreach (string existing in values)
            {
                if (existing == value)
                {
                    return true;
                }
            }

            return false;
        }

        private static EquatableArray<string> Append(EquatableArray<string> values, string value)
        {
            var list = new List<string>(values) { value };
            return new EquatableArray<string>(list.ToArray());
        }
    }
}
