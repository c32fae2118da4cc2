namespace AotFaas.Functions;

/// <summary>The <c>mode</c> option: how a request runs.</summary>
public enum FunctionMode
{
    /// <summary>A program runs per request: the request on its stdin and environment, the response from its stdout.</summary>
    Exec,

    /// <summary>The request goes to long-lived worker processes that answer HTTP themselves.</summary>
    Http,
}
