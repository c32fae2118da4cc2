namespace AotFaas.Async;

/// <summary>A write-only stream that keeps the first <paramref name="limit"/> bytes written to it and counts the rest.</summary>
internal sealed class BoundedStream(long limit) : Stream
{
    private readonly MemoryStream _kept = new();

    /// <summary>Bytes written past the limit, not kept.</summary>
    public long Dropped { get; private set; }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => _kept.Length;

    public override long Position { get => _kept.Length; set => throw new NotSupportedException(); }

    public byte[] ToArray() => _kept.ToArray();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        int room = (int)Math.Max(0, Math.Min(buffer.Length, limit - _kept.Length));
        _kept.Write(buffer[..room]);
        Dropped += buffer.Length - room;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        _kept.Dispose();
        base.Dispose(disposing);
    }
}
