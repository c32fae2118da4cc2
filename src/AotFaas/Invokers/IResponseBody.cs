namespace AotFaas.Invokers;

/// <summary>A response body: held by the server until it is sent, or streamed from a worker while it is sent.</summary>
public interface IResponseBody
{
    /// <summary>How many bytes it holds, or -1 when that is known only at its end (a streamed body without a Content-Length).</summary>
    long Length { get; }

    /// <summary>Writes its bytes to <paramref name="destination"/>, leaving out the first <paramref name="skip"/>.</summary>
    Task CopyToAsync(Stream destination, CancellationToken cancellationToken, long skip = 0);
}
