namespace AotFaas.Generators.Model
{
    /// <summary>
    /// A size or a duration as the manifest writes it, so that the generated code can say it the same
    /// way: <c>64KiB</c> is 64 of <c>KiB</c>, 65536 bytes; <c>10s</c> is 10 of <c>s</c>, 10000 milliseconds.
    /// </summary>
    /// <param name="Number">The number as written.</param>
    /// <param name="Unit">The unit in its usual spelling: <c>B</c>, <c>KiB</c>, <c>MiB</c>, <c>GiB</c>, <c>KB</c>, <c>MB</c>, <c>GB</c>, <c>ms</c>, <c>s</c>, <c>m</c> or <c>h</c>.</param>
    /// <param name="Value">Bytes for a size, milliseconds for a duration.</param>
    internal readonly record struct Amount(long Number, string Unit, long Value);
}
