using System;
using System.Collections.Generic;
using AotFaas.Generators.Model;
using AotFaas.Shared;

namespace AotFaas.Generators.Parsing
{
    /// <summary>
    /// The option keys a function may set with an indented <c>key: value</c> line, and how each value
    /// is checked and stored. To add an option: a key here, a property on <see cref="FunctionOptions"/>,
    /// a constructor parameter in the emitted <c>Proc</c>, and a row in the README.
    /// </summary>
    internal static class OptionTable
    {
        public const string ContentType = "content-type";
        public const string Timeout = "timeout";
        public const string MaxInflight = "max-inflight";
        public const string MaxQueue = "max-queue";
        public const string MaxBody = "max-body";
        public const string MaxOutput = "max-output";
        public const string Env = "env";
        public const string PassEnv = "pass-env";
        public const string WorkDir = "workdir";

        /// <summary>The most runs of one function at a time, and the longest queue, an option may ask for.</summary>
        public const int MaxInflightLimit = 10000;
        public const int MaxQueueLimit = 100000;

        private static readonly string[] Keys = { ContentType, Timeout, MaxInflight, MaxQueue, MaxBody, MaxOutput, Env, PassEnv, WorkDir };

        /// <summary>The known keys, for messages.</summary>
        public static string KnownKeys => string.Join(", ", Keys);

        public static bool IsKnown(string key) => Array.IndexOf(Keys, key) >= 0;

        /// <summary>Whether the option may appear more than once for one function.</summary>
        public static bool IsRepeatable(string key) => key == Env || key == PassEnv;

        /// <summary>Checks <paramref name="value"/> and stores it; returns why it is wrong, or null.</summary>
        public static string? Apply(string key, string value, ref FunctionOptions options)
        {
            switch (key)
            {
                case ContentType:
                    return Set(MediaType.Validate(value), ref options, o => o with { ContentType = value });
                case Timeout:
                    return Set(Quantity.ParseDuration(value, out long milliseconds), ref options, o => o with { TimeoutMilliseconds = milliseconds });
                case MaxInflight:
                    return Set(Quantity.ParseCount(value, 1, MaxInflightLimit, out int inflight), ref options, o => o with { MaxInflight = inflight });
                case MaxQueue:
                    return Set(Quantity.ParseCount(value, 0, MaxQueueLimit, out int queue), ref options, o => o with { MaxQueue = queue });
                case MaxBody:
                    return Set(Quantity.ParseSize(value, out long body), ref options, o => o with { MaxBody = body });
                case MaxOutput:
                    return Set(Quantity.ParseSize(value, out long output), ref options, o => o with { MaxOutput = output });
                case Env:
                    return ApplyEnv(value, ref options);
                case PassEnv:
                    return ApplyPassEnv(value, ref options);
                case WorkDir:
                    string? error = value.IndexOf('\0') >= 0 ? "a directory name cannot hold a NUL character" : null;
                    return Set(error, ref options, o => o with { WorkDir = value });
                default:
                    throw new ArgumentException("Unknown option key: " + key, nameof(key));
            }
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

                if (!Contains(names, name))
                {
                    names = Append(names, name);
                }
            }

            options = options with { PassEnv = names };
            return null;
        }

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
