using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace AotFaas.Generators.Model
{
    /// <summary>
    /// A place in the manifest, kept as plain values so that models stay equatable and cacheable;
    /// a Roslyn <see cref="Location"/> is built from it only when a diagnostic is reported.
    /// </summary>
    internal readonly record struct ManifestLocation(string Path, TextSpan Span, LinePositionSpan LineSpan)
    {
        /// <summary>One-based line number, as editors and MSBuild show it.</summary>
        public int Line => LineSpan.Start.Line + 1;

        /// <summary>One-based column number, as editors and MSBuild show it.</summary>
        public int Column => LineSpan.Start.Character + 1;

        public Location ToLocation() => Location.Create(Path, Span, LineSpan);
    }
}
