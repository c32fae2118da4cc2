namespace AotFaas.Execution;

/// <summary>A stream over an <see cref="OutputBuffer"/>'s bytes from the start: its segments, then its file.</summary>
internal sealed class OutputBufferReader(OutputBuffer buffer) : Stream
{
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => buffer.Length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] destination, int offset, int count) => Read(destination.AsSpan(offset, count));

    public override int Read(Span<byte> destination)
    {
        int read = buffer.ReadAt(_position, destination);
        _position += read;
        return read;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(Read(destination.Span));

    public override Task<int> ReadAsync(byte[] destination, int offset, int count, CancellationToken cancellationToken)
        => Task.FromResult(Read(destination.AsSpan(offset, count)));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] source, int offset, int count) => throw new NotSupportedException();
}
