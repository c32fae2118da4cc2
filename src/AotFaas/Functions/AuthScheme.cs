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
}
