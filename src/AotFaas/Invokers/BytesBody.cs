namespace AotFaas.Invokers;

/// <summary>A response body the server holds whole, in one array.</summary>
public sealed class BytesBody(byte[] bytes) : IResponseBody
{
    public long Length => bytes.Length;

    public Task CopyToAsync(Stream destination, CancellationToken cancellationToken, long skip = 0)
        => destination.WriteAsync(bytes.AsMemory((int)Math.Min(skip, bytes.Length)), cancellationToken).AsTask();
}
