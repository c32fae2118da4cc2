namespace AotFaas.Functions;

/// <summary>The <c>request-env</c> option: which variables describe the request to the program.</summary>
public enum RequestEnvMode
{
    /// <summary>RFC 3875 meta-variables: REQUEST_METHOD, PATH_INFO, HTTP_*, ...</summary>
    Cgi,

    /// <summary>The OpenFaaS classic watchdog's names: Http_Method, Http_Path, Http_*, ...</summary>
    OpenFaas,

    /// <summary>Nothing about the request.</summary>
    None,
}
