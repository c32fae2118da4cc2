namespace AotFaas.Generators.Model
{
    /// <summary>
    /// The options of one function, as set by its indented <c>key: value</c> lines. A property is
    /// null (or empty) until its option is given; the server's defaults apply to what is not set.
    /// <see cref="Parsing.OptionTable"/> fills them.
    /// </summary>
    internal sealed record FunctionOptions
    {
        public static readonly FunctionOptions None = new FunctionOptions();

        /// <summary><c>content-type</c>: the response's Content-Type on success.</summary>
        public string? ContentType { get; init; }

        /// <summary><c>timeout</c>, in milliseconds: wall-clock limit of a run.</summary>
        public long? TimeoutMilliseconds { get; init; }

        /// <summary><c>max-inflight</c>: runs of this function at the same time.</summary>
        public int? MaxInflight { get; init; }

        /// <summary><c>max-queue</c>: requests that may wait for a slot before being turned away.</summary>
        public int? MaxQueue { get; init; }

        /// <summary><c>max-body</c>, in bytes: request body limit.</summary>
        public long? MaxBody { get; init; }

        /// <summary><c>max-output</c>, in bytes: stdout limit.</summary>
        public long? MaxOutput { get; init; }

        /// <summary><c>env</c>: <c>KEY=VALUE</c> entries, in manifest order.</summary>
        public EquatableArray<string> Env { get; init; } = EquatableArray<string>.Empty;

        /// <summary><c>pass-env</c>: names of server variables passed through.</summary>
        public EquatableArray<string> PassEnv { get; init; } = EquatableArray<string>.Empty;

        /// <summary><c>workdir</c>: the working directory of the program.</summary>
        public string? WorkDir { get; init; }
    }
}
