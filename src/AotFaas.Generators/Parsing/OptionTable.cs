using System;
using AotFaas.Generators.Model;

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

        private static readonly string[] Keys = { ContentType };

        /// <summary>The known keys, for messages.</summary>
        public static string KnownKeys => string.Join(", ", Keys);

        public static bool IsKnown(string key) => Array.IndexOf(Keys, key) >= 0;

        /// <summary>Whether the option may appear more than once for one function.</summary>
        public static bool IsRepeatable(string key) => false;

        /// <summary>Checks <paramref name="value"/> and stores it; returns why it is wrong, or null.</summary>
        public static string? Apply(string key, string value, ref FunctionOptions options)
        {
            switch (key)
            {
                case ContentType:
                    string? error = MediaType.Validate(value);
                    if (error is null)
                    {
                        options = options with { ContentType = value };
                    }

                    return error;
                default:
                    throw new ArgumentException("Unknown option key: " + key, nameof(key));
            }
        }
    }
}
