namespace AotFaas.Invokers;

/// <summary>A response body held by the server until it is sent, with its length known up front.</summary>
public interface IResponseBody
{
    /// <summary>How many bytes it holds.</summary>
    long Length { get; }

    /// <summary>Writes its bytes to <paramref name="destination"/>, leaving out the first <paramref name="skip"/>.</summary>
    Task CopyToAsync(Stream destination, CancellationToken cancellationToken, long skip = 0);
}
