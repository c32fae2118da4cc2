using System.Buffers;
using System.Runtime.InteropServices;
using AotFaas.Execution.Native;

namespace AotFaas.Execution;

/// <summary>
/// Bytes read from a pipe, held in pooled segments that grow without copying, until the run's
/// outcome decides where they go. Past <see cref="Limit"/> bytes are read and counted but dropped,
/// so a program can never make the server hold more than the limit. Dispose returns the segments.
/// </summary>
public sealed class OutputBuffer(long limit = long.MaxValue) : IDisposable
{
    // Where bytes past the limit go; only the I/O loop's thread reads into it.
    [ThreadStatic]
    private static byte[]? t_discard;

    private const int FirstSegmentSize = 4 * 1024;
    private const int MaxSegmentSize = 64 * 1024;

    private readonly List<byte[]> _segments = [];
    private int _lastSegmentUsed;

    /// <summary>How many bytes the buffer holds.</summary>
    public long Length { get; private set; }

    /// <summary>The most bytes the buffer keeps.</summary>
    public long Limit { get; } = limit;

    /// <summary>How many bytes were read past <see cref="Limit"/> and dropped.</summary>
    public long Dropped { get; private set; }

    /// <summary>True once more than <see cref="Limit"/> bytes arrived.</summary>
    public bool Overflowed => Dropped > 0;

    /// <summary>
    /// One read(2) from <paramref name="fd"/> into the buffer: the bytes read, 0 at end of file, or -1 with
    /// the error in <see cref="Marshal.GetLastPInvokeError"/> (EAGAIN when a non-blocking pipe is empty).
    /// </summary>
    internal unsafe nint ReadFrom(int fd)
    {
        if (Length >= Limit)
        {
            return Discard(fd);
        }

        Memory<byte> free = FreeSpace();
        if (free.Length > Limit - Length)
        {
            free = free[..(int)(Limit - Length)];
        }

        fixed (byte* destination = free.Span)
        {
            nint read;
            do
            {
                read = LibC.read(fd, destination, free.Length);
            }
            while (read < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR);

            if (read > 0)
            {
                _lastSegmentUsed += (int)read;
                Length += read;
            }

            return read;
        }
    }

    private unsafe nint Discard(int fd)
    {
        byte[] discard = t_discard ??= new byte[64 * 1024];
        fixed (byte* destination = discard)
        {
            nint read;
            do
            {
                read = LibC.read(fd, destination, discard.Length);
            }
            while (read < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR);

            if (read > 0)
            {
                Dropped += read;
            }

            return read;
        }
    }

    /// <summary>Writes the buffer's bytes to <paramref name="destination"/>.</summary>
    public async Task CopyToAsync(Stream destination, CancellationToken cancellationToken)
    {
        for (int i = 0; i < _segments.Count; i++)
        {
            int used = i == _segments.Count - 1 ? _lastSegmentUsed : _segments[i].Length;
            await destination.WriteAsync(_segments[i].AsMemory(0, used), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The buffer's bytes as one array; for tests and small bodies.</summary>
    public byte[] ToArray()
    {
        byte[] result = new byte[Length];
        int offset = 0;
        for (int i = 0; i < _segments.Count; i++)
        {
            int used = i == _segments.Count - 1 ? _lastSegmentUsed : _segments[i].Length;
            _segments[i].AsSpan(0, used).CopyTo(result.AsSpan(offset));
            offset += used;
        }

        return result;
    }

    public void Dispose()
    {
        foreach (byte[] segment in _segments)
        {
            ArrayPool<byte>.Shared.Return(segment);
        }

        _segments.Clear();
        _lastSegmentUsed = 0;
        Length = 0;
    }

    private Memory<byte> FreeSpace()
    {
        if (_segments.Count == 0 || _lastSegmentUsed == _segments[^1].Length)
        {
            int size = _segments.Count == 0 ? FirstSegmentSize : Math.Min(_segments[^1].Length * 2, MaxSegmentSize);
            _segments.Add(ArrayPool<byte>.Shared.Rent(size));
            _lastSegmentUsed = 0;
        }

        byte[] last = _segments[^1];
        return last.AsMemory(_lastSegmentUsed);
    }
}
