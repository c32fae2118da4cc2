using System.Collections.Generic;
using System.Globalization;
using System.Text;
using AotFaas.Generators.Model;

namespace AotFaas.Generators.Emitting
{
    /// <summary>The names of <c>FunctionTable</c>'s fields: PascalCase function names, unique and clear of every other name the table uses.</summary>
    internal static class FieldNames
    {
        // The table's own members; the types its field initializers name without a namespace (a field
        // called AuthScheme would hide the enum from `auth: AuthScheme.Bearer` in the same class); and
        // object's members, which a field of the same name would hide (warning CS0108).
        private static readonly HashSet<string> Reserved = new HashSet<string>(System.StringComparer.Ordinal)
        {
            "All", "GetProcByFuncName", "RunsPrograms", "ProxiesHttp", "TakesAsyncCalls",
            "FunctionTable", "Proc", "RequestEnvMode", "ResponseMode", "AuthScheme", "FunctionMode",
            "Equals", "ReferenceEquals", "GetHashCode", "GetType", "ToString", "MemberwiseClone", "Finalize",
        };

        /// <summary>One field name per function, in order: <c>word-count</c> is <c>WordCount</c>, a second one <c>WordCount_2</c>.</summary>
        public static string[] For(IReadOnlyList<FunctionModel> functions)
        {
            var taken = new HashSet<string>(Reserved, System.StringComparer.Ordinal);
            var result = new string[functions.Count];
            for (int i = 0; i < functions.Count; i++)
            {
                string baseName = PascalCase(functions[i].Name);
                string candidate = baseName;
                for (int n = 2; !taken.Add(candidate); n++)
                {
                    candidate = baseName + "_" + n.ToString(CultureInfo.InvariantCulture);
                }

                result[i] = candidate;
            }

            return result;
        }

        /// <summary><c>word-count</c>, <c>word_count</c> and <c>word.count</c> are <c>WordCount</c>; a leading digit gets <c>Function</c> in front.</summary>
        public static string PascalCase(string name)
        {
            var builder = new StringBuilder(name.Length);
            bool upper = true;
            foreach (char c in name)
            {
                if (c == '-' || c == '_' || c == '.')
                {
                    upper = true;
                    continue;
                }

                builder.Append(upper ? char.ToUpperInvariant(c) : c);
                upper = false;
            }

            if (builder.Length == 0 || char.IsDigit(builder[0]))
            {
                builder.Insert(0, "Function");
            }

            return builder.ToString();
        }
    }
}
