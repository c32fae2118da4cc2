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

        /// <summary><c>timeout</c>: wall-clock limit of a run (its value in milliseconds).</summary>
        public Amount? Timeout { get; init; }

        /// <summary><c>max-inflight</c>: runs of this function at the same time.</summary>
        public int? MaxInflight { get; init; }

        /// <summary><c>max-queue</c>: requests that may wait for a slot before being turned away.</summary>
        public int? MaxQueue { get; init; }

        /// <summary><c>max-body</c>: request body limit (its value in bytes).</summary>
        public Amount? MaxBody { get; init; }

        /// <summary><c>max-output</c>: stdout limit (its value in bytes).</summary>
        public Amount? MaxOutput { get; init; }

        /// <summary><c>env</c>: <c>KEY=VALUE</c> entries, in manifest order.</summary>
        public EquatableArray<string> Env { get; init; } = EquatableArray<string>.Empty;

        /// <summary><c>pass-env</c>: names of server variables passed through.</summary>
        public EquatableArray<string> PassEnv { get; init; } = EquatableArray<string>.Empty;

        /// <summary><c>workdir</c>: the working directory of the program.</summary>
        public string? WorkDir { get; init; }

        /// <summary><c>methods</c>: the HTTP methods the function answers, in manifest order; empty for the default (POST).</summary>
        public EquatableArray<string> Methods { get; init; } = EquatableArray<string>.Empty;

        /// <summary><c>request-env</c>: how the request reaches the environment (<c>cgi</c>, <c>openfaas</c>, <c>none</c>).</summary>
        public string? RequestEnv { get; init; }

        /// <summary><c>pass-authorization</c>: whether the Authorization header reaches the environment.</summary>
        public bool? PassAuthorization { get; init; }

        /// <summary><c>response</c>: how stdout becomes the response (<c>raw</c>, <c>cgi</c>).</summary>
        public string? Response { get; init; }

        /// <summary><c>auth</c>: the scheme (<c>bearer</c>, <c>hmac-sha256</c>), or null for none.</summary>
        public string? AuthScheme { get; init; }

        /// <summary><c>auth</c>: the server environment variable that holds the secret.</summary>
        public string? AuthSecretVariable { get; init; }

        /// <summary><c>auth</c>: the request header that carries the signature (<c>hmac-sha256</c> only).</summary>
        public string? AuthHeader { get; init; }

        /// <summary><c>log-stderr</c>: whether the program's stderr goes to the server's log.</summary>
        public bool? LogStderr { get; init; }

        /// <summary><c>mode</c>: how a request runs (<c>exec</c>, <c>http</c>).</summary>
        public string? Mode { get; init; }

        /// <summary><c>replicas</c>: the worker processes an http function starts.</summary>
        public int? Replicas { get; init; }

        /// <summary><c>ready</c>: the path the server GETs until a worker answers 2xx.</summary>
        public string? Ready { get; init; }

        /// <summary><c>idle-stop</c>: how long an http function's workers live without a call (its value in milliseconds).</summary>
        public Amount? IdleStop { get; init; }

        /// <summary><c>start-timeout</c>: how long a worker may take to become ready (its value in milliseconds).</summary>
        public Amount? StartTimeout { get; init; }

        /// <summary><c>async</c>: whether the function takes asynchronous calls (<c>POST /async-function/NAME</c>).</summary>
        public bool? Async { get; init; }

        /// <summary><c>async-queue</c>: asynchronous calls that may wait, stored and not yet running, before new ones get 429.</summary>
        public int? AsyncQueue { get; init; }
    }
}
