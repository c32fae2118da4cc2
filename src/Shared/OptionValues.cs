// Shared by the manifest compiler (which accepts these words) and the server (which writes them back
// in listings and messages), like OptionKeys.
namespace AotFaas.Shared
{
    /// <summary>The words an option's value is chosen from: <c>request-env</c> and <c>response</c> modes, <c>auth</c> schemes, function modes.</summary>
    internal static class OptionValues
    {
        /// <summary><c>request-env: cgi</c> (the default) and <c>response: cgi</c>.</summary>
        public const string Cgi = "cgi";

        /// <summary><c>request-env: openfaas</c>.</summary>
        public const string OpenFaas = "openfaas";

        /// <summary><c>request-env: none</c>.</summary>
        public const string None = "none";

        /// <summary><c>response: raw</c>, the default.</summary>
        public const string Raw = "raw";

        /// <summary><c>auth: bearer $VARIABLE</c>.</summary>
        public const string Bearer = "bearer";

        /// <summary><c>auth: hmac-sha256 $VARIABLE [Header-Name]</c>.</summary>
        public const string HmacSha256 = "hmac-sha256";

        /// <summary><c>auth: token $VARIABLE Header-Name</c>: the secret itself in a header (GitLab's <c>X-Gitlab-Token</c>).</summary>
        public const string Token = "token";

        /// <summary><c>auth: stripe $VARIABLE</c>: Stripe's <c>Stripe-Signature</c>, timestamped.</summary>
        public const string Stripe = "stripe";

        /// <summary><c>auth: slack $VARIABLE</c>: Slack's <c>X-Slack-Signature</c> with <c>X-Slack-Request-Timestamp</c>.</summary>
        public const string Slack = "slack";

        /// <summary><c>mode: exec</c>, the default: a program runs per request.</summary>
        public const string Exec = "exec";

        /// <summary><c>mode: http</c>: requests go to long-lived worker processes that answer HTTP.</summary>
        public const string Http = "http";

        /// <summary>The <c>auth</c> schemes, as messages list them.</summary>
        public static readonly string[] AuthSchemes = { Bearer, HmacSha256, Token, Stripe, Slack };

        /// <summary>The <c>request-env</c> modes, as messages list them.</summary>
        public static readonly string[] RequestEnvModes = { Cgi, OpenFaas, None };

        /// <summary>The <c>response</c> modes, as messages list them.</summary>
        public static readonly string[] ResponseModes = { Raw, Cgi };

        /// <summary>The function modes (<c>mode</c>), as messages list them.</summary>
        public static readonly string[] Modes = { Exec, Http };
    }
}
