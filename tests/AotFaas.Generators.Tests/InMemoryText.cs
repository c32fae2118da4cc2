using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace AotFaas.Generators.Tests;

/// <summary>An additional file held in memory.</summary>
internal sealed class InMemoryText(string path, string text) : AdditionalText
{
    private readonly SourceText _text = SourceText.From(text);

    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}
