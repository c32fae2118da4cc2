namespace AotFaas.Functions;

/// <summary>The scheme of the <c>auth</c> option.</summary>
public enum AuthScheme
{
    /// <summary>No check.</summary>
    None,

    /// <summary><c>Authorization: Bearer &lt;token&gt;</c>.</summary>
    Bearer,

    /// <summary>A hex HMAC-SHA256 of the body in a header, as GitHub signs webhooks.</summary>
    HmacSha256,

    /// <summary>The secret itself in a header the manifest names, as GitLab sends <c>X-Gitlab-Token</c>.</summary>
    Token,

    /// <summary>Stripe's <c>Stripe-Signature: t=TIME,v1=HEX</c>, an HMAC-SHA256 of <c>TIME.BODY</c>, within a replay window.</summary>
    Stripe,

    /// <summary>Slack's <c>X-Slack-Signature: v0=HEX</c>, an HMAC-SHA256 of <c>v0:TIME:BODY</c> with <c>X-Slack-Request-Timestamp: TIME</c>, within a replay window.</summary>
    Slack,
}
