namespace AotFaas.Invokers;

/// <summary>
/// One way a function runs, the seam between admitting a request and answering it: the endpoint admits
/// (method, path, auth, body limit, a slot), an invoker runs the function and says what to answer, and the
/// endpoint writes that answer. Today's invoker runs a program per request (<c>ExecInvoker</c>); a warm HTTP
/// worker and a queue of asynchronous calls plug in here. The generated <c>FunctionTable.CreateInvoker</c>
/// decides which of them a binary contains: an invoker no function uses is not referenced, and the trimmer
/// leaves it out.
/// </summary>
public interface IFunctionInvoker
{
    /// <summary>
    /// Runs the function for an admitted <paramref name="request"/> and returns what to answer; it never writes
    /// the response itself. The caller disposes the result once it has answered.
    /// </summary>
    Task<InvokeResult> InvokeAsync(InvokeRequest request);
}
