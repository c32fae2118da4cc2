// Longer than the ~300 lines a file here is held to: it is one pass over the manifest (lines, indentation,
// options under a function, and every diagnostic at its line and column), a single state machine read top to bottom.
using System.Collections.Generic;
using System.Threading;
using AotFaas.Generators.Diagnostics;
using AotFaas.Generators.Model;
using AotFaas.Shared;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace AotFaas.Generators.Parsing
{
    /// <summary>
    /// Parses <c>functions.faas</c>, a line-based manifest:
    /// <code>
    /// # a comment
    /// name: command [args...]       # a function: a name at column 1, then its command line
    ///   key: value                  # an indented line: an option of the function above
    /// </code>
    /// A pure function of the text: the same text always gives an equal <see cref="ManifestModel"/>.
    /// </summary>
    internal static class ManifestParser
    {
        /// <summary>The longest function name allowed.</summary>
        public const int MaxNameLength = 64;

        public static ManifestModel Parse(string path, SourceText text, CancellationToken cancellationToken)
        {
            var state = new ParserState(path, text);
            foreach (TextLine line in text.Lines)
            {
                cancellationToken.ThrowIfCancellationRequested();
                string content = text.ToString(line.Span);
                int start = line.Start;
                if (line.LineNumber == 0 && content.Length > 0 && content[0] == '\uFEFF')
                {
                    // A byte order mark that reached us as a character (files read by the compiler lose it earlier).
                    content = content.Substring(1);
                    start++;
                }

                int first = FirstNonBlank(content);
                if (first < 0 || content[first] == '#')
                {
                    continue;
                }

                if (first == 0)
                {
                    ParseFunctionLine(state, start, line.LineNumber + 1, content);
                }
                else
                {
                    ParseOptionLine(state, start, line.LineNumber + 1, content, first);
                }
            }

            state.CloseFunction();
            if (state.Functions.Count == 0 && !state.HasErrors)
            {
                state.Report(DiagnosticDescriptors.EmptyManifest, state.At(0, 0));
            }

            return new ManifestModel(
                path,
                new EquatableArray<FunctionModel>(state.HasErrors ? new FunctionModel[0] : state.Functions.ToArray()),
                new EquatableArray<DiagnosticInfo>(state.Diagnostics.ToArray()));
        }

        private static void ParseFunctionLine(ParserState state, int start, int lineNumber, string content)
        {
            state.CloseFunction();
            state.Current = FunctionState.Broken;

            int colon = content.IndexOf(':');
            if (colon < 0)
            {
                state.Report(
                    DiagnosticDescriptors.LineNotUnderstood,
                    state.At(start, content.Length),
                    "expected '<name>: <command> [args...]', an indented '<key>: <value>' option, or a '#' comment");
                return;
            }

            string name = content.Substring(0, colon);
            if (!CheckName(state, start, name))
            {
                return;
            }

            SplitResult split = CommandLineSplitter.Split(content, colon + 1);
            if (!CheckSplit(state, start, split))
            {
                return;
            }

            if (split.Words.Count == 0 || split.Words[0].Text.Length == 0)
            {
                int at = split.Words.Count == 0 ? colon : split.Words[0].Start;
                state.Report(DiagnosticDescriptors.MissingCommand, state.At(start + at, 1), name);
                return;
            }

            foreach (Word word in split.Words)
            {
                if (word.Text.IndexOf('\0') >= 0)
                {
                    state.Report(DiagnosticDescriptors.LineNotUnderstood, state.At(start + word.Start, 1), "a command line cannot hold a NUL character");
                    return;
                }

                if (word.HasShellSyntax)
                {
                    state.Report(DiagnosticDescriptors.ShellSyntax, state.At(start + word.Start, 1), content.Substring(word.Start, WordLength(content, word.Start)));
                }
            }

            if (state.NameLines.TryGetValue(name, out int firstLine))
            {
                state.Report(DiagnosticDescriptors.DuplicateName, state.At(start, name.Length), name, firstLine.ToString(System.Globalization.CultureInfo.InvariantCulture));
                return;
            }

            state.NameLines.Add(name, lineNumber);
            var argv = new string[split.Words.Count - 1];
            for (int i = 1; i < split.Words.Count; i++)
            {
                argv[i - 1] = split.Words[i].Text;
            }

            int commandStart = split.Words[0].Start;
            state.Current = FunctionState.Open;
            state.Pending = new FunctionModel(
                name,
                split.Words[0].Text,
                new EquatableArray<string>(argv),
                content.Substring(commandStart, split.End - commandStart),
                lineNumber,
                FunctionOptions.None);
        }

        private static void ParseOptionLine(ParserState state, int start, int lineNumber, string content, int keyStart)
        {
            int colon = content.IndexOf(':', keyStart);
            if (colon < 0)
            {
                if (state.Current != FunctionState.Broken)
                {
                    state.Report(
                        DiagnosticDescriptors.LineNotUnderstood,
                        state.At(start + keyStart, content.Length - keyStart),
                        "an indented line is an option, written '<key>: <value>'");
                }

                return;
            }

            string key = content.Substring(keyStart, colon - keyStart).TrimEnd(' ', '\t');
            ManifestLocation keyAt = state.At(start + keyStart, key.Length);
            if (state.Current == FunctionState.None)
            {
                state.Report(DiagnosticDescriptors.OptionWithoutFunction, keyAt, key);
                return;
            }

            if (!OptionTable.IsKnown(key))
            {
                state.Report(DiagnosticDescriptors.UnknownOption, keyAt, key, OptionTable.KnownKeys);
                return;
            }

            int valueStart = SkipBlanks(content, colon + 1);
            int valueEnd = ValueEnd(content, valueStart);
            string value = content.Substring(valueStart, valueEnd - valueStart);
            if (state.Current == FunctionState.Broken)
            {
                return;
            }

            if (!OptionTable.IsRepeatable(key) && state.OptionLines.TryGetValue(key, out int firstLine))
            {
                state.Report(DiagnosticDescriptors.DuplicateOption, keyAt, key, firstLine.ToString(System.Globalization.CultureInfo.InvariantCulture));
                return;
            }

            state.OptionLines[key] = lineNumber;
            ManifestLocation valueAt = state.At(start + valueStart, value.Length);
            if (value.Length == 0)
            {
                state.Report(DiagnosticDescriptors.BadOptionValue, valueAt, key, "the option needs a value");
                return;
            }

            if (key == OptionKeys.Auth && OptionTable.HasLiteralSecret(value, out int secretStart, out int secretLength))
            {
                state.Report(DiagnosticDescriptors.LiteralSecret, state.At(start + valueStart + secretStart, secretLength), OptionTable.AuthSchemeOf(value));
                return;
            }

            FunctionOptions options = state.Pending!.Options;
            string? error = OptionTable.Apply(key, value, ref options);
            if (error is not null)
            {
                state.Report(DiagnosticDescriptors.BadOptionValue, valueAt, key, error);
                return;
            }

            // The check runs on whichever of the two options comes second, so it is reported once, there.
            if ((key == OptionKeys.Auth || key == OptionKeys.Methods) && OptionTable.UnsignableMethod(options) is string method)
            {
                state.Report(DiagnosticDescriptors.UnsignableMethod, valueAt, method);
                return;
            }

            state.AppliedOptions.Add((key, keyAt, value));
            state.Pending = state.Pending with { Options = options };
        }

        private static bool CheckName(ParserState state, int start, string name)
        {
            string? problem = null;
            int at = 0;
            if (name.Length == 0)
            {
                problem = "the name before ':' is empty";
            }
            else if (!IsAsciiLetterOrDigit(name[0]))
            {
                problem = "a name starts with a letter or a digit";
            }
            else
            {
                for (int i = 1; i < name.Length; i++)
                {
                    char c = name[i];
                    if (!IsAsciiLetterOrDigit(c) && c != '_' && c != '.' && c != '-')
                    {
                        problem = "'" + c + "' is not allowed; a name holds letters, digits, '_', '.' and '-'";
                        at = i;
                        break;
                    }
                }
            }

            if (problem is null && name.Length > MaxNameLength)
            {
                problem = "it is " + name.Length + " characters long; the limit is " + MaxNameLength;
            }

            if (problem is null)
            {
                return true;
            }

            state.Report(DiagnosticDescriptors.InvalidName, state.At(start + at, name.Length == 0 ? 1 : name.Length - at), name, problem);
            return false;
        }

        private static bool CheckSplit(ParserState state, int start, SplitResult split)
        {
            switch (split.Error)
            {
                case SplitError.None:
                    return true;
                case SplitError.UnterminatedSingleQuote:
                    state.Report(DiagnosticDescriptors.UnterminatedQuote, state.At(start + split.ErrorIndex, 1), "single");
                    return false;
                case SplitError.UnterminatedDoubleQuote:
                    state.Report(DiagnosticDescriptors.UnterminatedQuote, state.At(start + split.ErrorIndex, 1), "double");
                    return false;
                default:
                    state.Report(
                        DiagnosticDescriptors.LineNotUnderstood,
                        state.At(start + split.ErrorIndex, 1),
                        "a backslash at the end of the line escapes nothing; a command line cannot continue on the next line");
                    return false;
            }
        }

        private static bool IsAsciiLetterOrDigit(char c)
            => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

        private static int FirstNonBlank(string s) => SkipBlanks(s, 0) is int i && i < s.Length ? i : -1;

        private static int SkipBlanks(string s, int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t'))
            {
                i++;
            }

            return i;
        }

        /// <summary>An option value ends at a '#' that starts a word (a comment), without trailing blanks.</summary>
        private static int ValueEnd(string s, int start)
        {
            int end = s.Length;
            for (int i = start; i < s.Length; i++)
            {
                if (s[i] == '#' && (i == start || s[i - 1] == ' ' || s[i - 1] == '\t'))
                {
                    end = i;
                    break;
                }
            }

            while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
            {
                end--;
            }

            return end;
        }

        private static int WordLength(string s, int start)
        {
            int i = start;
            while (i < s.Length && s[i] != ' ' && s[i] != '\t')
            {
                i++;
            }

            return i - start;
        }

        private enum FunctionState
        {
            /// <summary>No function line yet.</summary>
            None,

            /// <summary>The last function line was valid; its options follow.</summary>
            Open,

            /// <summary>The last function line had an error; its option lines are checked but not reported as orphans.</summary>
            Broken,
        }

        private sealed class ParserState
        {
            private readonly string _path;
            private readonly SourceText _text;

            public ParserState(string path, SourceText text)
            {
                _path = path;
                _text = text;
            }

            public List<FunctionModel> Functions { get; } = new List<FunctionModel>();

            public List<DiagnosticInfo> Diagnostics { get; } = new List<DiagnosticInfo>();

            public Dictionary<string, int> NameLines { get; } = new Dictionary<string, int>(System.StringComparer.Ordinal);

            public Dictionary<string, int> OptionLines { get; } = new Dictionary<string, int>(System.StringComparer.Ordinal);

            /// <summary>The options of the open function whose value was taken, in manifest order, each at its key.</summary>
            public List<(string Key, ManifestLocation At, string Value)> AppliedOptions { get; } = new List<(string Key, ManifestLocation At, string Value)>();

            public FunctionState Current { get; set; } = FunctionState.None;

            public FunctionModel? Pending { get; set; }

            public bool HasErrors { get; private set; }

            public void CloseFunction()
            {
                if (Pending is not null)
                {
                    CheckOptionsThatDependOnOthers(Pending.Options);
                    Functions.Add(Pending);
                }

                Pending = null;
                OptionLines.Clear();
                AppliedOptions.Clear();
            }

            /// <summary>
            /// The options that do not apply to the function's <c>mode</c> (FAAS017, FAAS018) or need <c>async: true</c>
            /// (FAAS019), each at its key, in line order. Lines come in any order, so this runs once the function's
            /// options are all read; a <c>mode</c> or <c>async</c> whose value was wrong (FAAS008) says nothing about the others.
            /// </summary>
            private void CheckOptionsThatDependOnOthers(FunctionOptions options)
            {
                bool modeKnown = options.Mode is not null || !OptionLines.ContainsKey(OptionKeys.Mode);
                bool asyncKnown = options.Async is not null || !OptionLines.ContainsKey(OptionKeys.Async);
                bool http = options.Mode == OptionValues.Http;
                bool takesAsync = options.Async == true;
                foreach ((string key, ManifestLocation at, string value) in AppliedOptions)
                {
                    if (modeKnown && http && OptionTable.NotForHttp(key) is string why)
                    {
                        Report(DiagnosticDescriptors.NotForHttpMode, at, key, why);
                    }
                    else if (modeKnown && http && OptionTable.SetsPort(key, value))
                    {
                        Report(DiagnosticDescriptors.NotForHttpMode, at, key + " PORT", "the server sets PORT to each worker's own port");
                    }
                    else if (modeKnown && !http && OptionTable.OnlyForHttp(key))
                    {
                        Report(DiagnosticDescriptors.OnlyForHttpMode, at, key);
                    }
                    else if (asyncKnown && !takesAsync && OptionTable.OnlyForAsync(key))
                    {
                        Report(DiagnosticDescriptors.OnlyForAsync, at, key);
                    }
                }
            }

            public ManifestLocation At(int position, int length)
            {
                var span = new TextSpan(position, System.Math.Max(0, System.Math.Min(length, _text.Length - position)));
                return new ManifestLocation(_path, span, _text.Lines.GetLinePositionSpan(span));
            }

            public void Report(DiagnosticDescriptor descriptor, ManifestLocation location, params string[] args)
            {
                HasErrors |= descriptor.DefaultSeverity == DiagnosticSeverity.Error;
                Diagnostics.Add(DiagnosticInfo.Create(descriptor, location, args));
            }
        }
    }
}
