namespace AotFaas.Generators.Model
{
    /// <summary>
    /// The options of one function, as set by its indented <c>key: value</c> lines.
    /// Each property is null until its option is given; <see cref="Parsing.OptionTable"/> fills them.
    /// </summary>
    internal sealed record FunctionOptions
    {
        public static readonly FunctionOptions None = new FunctionOptions();

        /// <summary><c>content-type</c>: the response's Content-Type on success.</summary>
        public string? ContentType { get; init; }
    }
}
