using System.Collections.Generic;
using System.Text;

namespace AotFaas.Generators.Parsing
{
    /// <summary>
    /// Splits a command line into words the way a POSIX shell splits words (single quotes,
    /// double quotes with <c>\"</c> <c>\\</c> <c>\$</c> <c>\`</c>, backslash escapes, <c>#</c> comments),
    /// but runs no shell and expands nothing: <c>$HOME</c>, <c>*</c> and <c>|</c> stay literal text.
    /// </summary>
    internal static class CommandLineSplitter
    {
        /// <summary>Splits <paramref name="text"/> from <paramref name="start"/> to its end.</summary>
        public static SplitResult Split(string text, int start)
        {
            var words = new List<Word>();
            var current = new StringBuilder();
            int wordStart = -1;
            bool shellSyntax = false;
            int end = text.Length;
            int i = start;

            while (i < text.Length)
            {
                char c = text[i];
                if (wordStart < 0)
                {
                    if (c == ' ' || c == '\t')
                    {
                        i++;
                        continue;
                    }

                    if (c == '#')
                    {
                        end = i;
                        break;
                    }

                    wordStart = i;
                }

                switch (c)
                {
                    case ' ':
                    case '\t':
                        words.Add(new Word(current.ToString(), wordStart, shellSyntax));
                        current.Clear();
                        wordStart = -1;
                        shellSyntax = false;
                        i++;
                        break;

                    case '\\':
                        if (i + 1 >= text.Length)
                        {
                            return SplitResult.Failed(SplitError.TrailingBackslash, i);
                        }

                        current.Append(text[i + 1]);
                        i += 2;
                        break;

                    case '\'':
                    {
                        int close = text.IndexOf('\'', i + 1);
                        if (close < 0)
                        {
                            return SplitResult.Failed(SplitError.UnterminatedSingleQuote, i);
                        }

                        current.Append(text, i + 1, close - i - 1);
                        i = close + 1;
                        break;
                    }

                    case '"':
                    {
                        int close = ReadDoubleQuoted(text, i + 1, current);
                        if (close < 0)
                        {
                            return SplitResult.Failed(SplitError.UnterminatedDoubleQuote, i);
                        }

                        i = close + 1;
                        break;
                    }

                    default:
                        shellSyntax |= IsShellSyntax(text, i);
                        current.Append(c);
                        i++;
                        break;
                }
            }

            if (wordStart >= 0)
            {
                words.Add(new Word(current.ToString(), wordStart, shellSyntax));
            }

            while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t'))
            {
                end--;
            }

            return new SplitResult(words, SplitError.None, -1, end);
        }

        /// <summary>Reads a double-quoted run after its opening quote; returns the closing quote's index, or -1.</summary>
        private static int ReadDoubleQuoted(string text, int i, StringBuilder current)
        {
            while (i < text.Length)
            {
                char c = text[i];
                if (c == '"')
                {
                    return i;
                }

                if (c == '\\' && i + 1 < text.Length)
                {
                    char next = text[i + 1];
                    if (next == '"' || next == '\\' || next == '$' || next == '`')
                    {
                        current.Append(next);
                        i += 2;
                        continue;
                    }
                }

                current.Append(c);
                i++;
            }

            return -1;
        }

        /// <summary>True where an unquoted character would mean something to a shell: an operator, a parameter or a command substitution.</summary>
        private static bool IsShellSyntax(string text, int i)
        {
            char c = text[i];
            switch (c)
            {
                case '|':
                case '&':
                case ';':
                case '<':
                case '>':
                case '`':
                    return true;
                case '$':
                    if (i + 1 >= text.Length)
                    {
                        return false;
                    }

                    char next = text[i + 1];
                    return next == '{' || next == '(' || next == '_' || (next >= 'A' && next <= 'Z') || (next >= 'a' && next <= 'z');
                default:
                    return false;
            }
        }
    }

    /// <summary>One word of a command line.</summary>
    /// <param name="Text">The word after quote removal.</param>
    /// <param name="Start">Index in the line where the word starts.</param>
    /// <param name="HasShellSyntax">The word holds unquoted shell syntax that will not be interpreted.</param>
    internal readonly record struct Word(string Text, int Start, bool HasShellSyntax);

    /// <summary>What went wrong splitting a command line.</summary>
    internal enum SplitError
    {
        None,
        UnterminatedSingleQuote,
        UnterminatedDoubleQuote,
        TrailingBackslash,
    }

    /// <summary>The words of a command line, or the error that stopped the split.</summary>
    /// <param name="Words">The words, in order.</param>
    /// <param name="Error">The error, or <see cref="SplitError.None"/>.</param>
    /// <param name="ErrorIndex">Index in the line of the error, or -1.</param>
    /// <param name="End">Index where the command text ends (before a comment and trailing blanks).</param>
    internal readonly record struct SplitResult(IReadOnlyList<Word> Words, SplitError Error, int ErrorIndex, int End)
    {
        public static SplitResult Failed(SplitError error, int index) => new SplitResult(new Word[0], error, index, index);
    }
}
