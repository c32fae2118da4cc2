namespace AotFaas.Functions;

/// <summary>The <c>response</c> option: how stdout becomes the response.</summary>
public enum ResponseMode
{
    /// <summary>Stdout is the body.</summary>
    Raw,

    /// <summary>Stdout starts with CGI header lines and a blank line (RFC 3875 section 6).</summary>
    Cgi,
}
