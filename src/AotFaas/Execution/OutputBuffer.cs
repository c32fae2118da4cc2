using System.Buffers;
using System.Runtime.InteropServices;
using AotFaas.Execution.Native;
using AotFaas.Invokers;
using Microsoft.Win32.SafeHandles;

namespace AotFaas.Execution;

/// <summary>
/// Bytes read from a pipe, held until the run's outcome decides where they go: the first
/// <see cref="MemoryLimit"/> bytes in pooled segments that grow without copying, the rest in an
/// unnamed temporary file (<c>O_TMPFILE</c>: it has no name to leave behind, and vanishes when closed,
/// even if the server dies). Past <see cref="Limit"/> bytes are read and counted but dropped, so a
/// program can never make the server hold more than the limit. Dispose returns the segments and
/// closes the file.
/// </summary>
public sealed class OutputBuffer(long limit = long.MaxValue, long memoryLimit = long.MaxValue, string? tempFolder = null) : IResponseBody, IOutputSink, IDisposable
{
    private const int FirstSegmentSize = 4 * 1024;
    private const int MaxSegmentSize = 64 * 1024;
    private const int ScratchSize = 256 * 1024;

    // Where bytes headed for the file, or past the limit, are read first; only the I/O loop's thread reads into it.
    [ThreadStatic]
    private static byte[]? t_scratch;

    private readonly List<byte[]> _segments = [];
    private int _lastSegmentUsed;
    private long _inMemory;
    private SafeFileHandle? _file;
    private long _inFile;

    /// <summary>How many bytes the buffer holds, in memory and in its file.</summary>
    public long Length => _inMemory + _inFile;

    /// <summary>The most bytes the buffer keeps.</summary>
    public long Limit { get; } = limit;

    /// <summary>The most bytes kept in memory; the rest goes to a temporary file.</summary>
    public long MemoryLimit { get; } = memoryLimit;

    /// <summary>How many bytes were read past <see cref="Limit"/> and dropped.</summary>
    public long Dropped { get; private set; }

    /// <summary>Whether <see cref="DroppedLines"/> and <see cref="LastDropped"/> are kept (for stderr, whose lines are logged).</summary>
    public bool CountsDroppedLines { get; init; }

    /// <summary>How many line feeds were among the dropped bytes (with <see cref="CountsDroppedLines"/>).</summary>
    public long DroppedLines { get; private set; }

    /// <summary>The last byte dropped (with <see cref="CountsDroppedLines"/>, once <see cref="Overflowed"/>).</summary>
    public byte LastDropped { get; private set; }

    /// <summary>True once more than <see cref="Limit"/> bytes arrived (bytes lost to a failed spill are not counted here).</summary>
    public bool Overflowed => Dropped > 0;

    /// <inheritdoc/>
    bool IOutputSink.Overflowed => Overflowed || SpillError is not null;

    /// <summary>True once bytes went to the temporary file.</summary>
    public bool Spilled => _file is not null;

    /// <summary>Why the temporary file could not take the bytes (e.g. the disk is full), or null.</summary>
    public string? SpillError { get; private set; }

    /// <summary>
    /// One read(2) from <paramref name="fd"/> into the buffer: the bytes read, 0 at end of file, or -1 with
    /// the error in <see cref="Marshal.GetLastPInvokeError"/> (EAGAIN when a non-blocking pipe is empty).
    /// </summary>
    public unsafe nint ReadFrom(int fd)
    {
        if (SpillError is not null)
        {
            // The file could not take more: read on so the program is not stuck; the run fails with the reason.
            return ReadScratch(fd, ScratchSize);
        }

        if (Length >= Limit)
        {
            nint dropped = ReadScratch(fd, ScratchSize);
            if (dropped > 0)
            {
                Dropped += dropped;
                if (CountsDroppedLines)
                {
                    ReadOnlySpan<byte> bytes = t_scratch.AsSpan(0, (int)dropped);
                    DroppedLines += bytes.Count((byte)'\n');
                    LastDropped = bytes[^1];
                }
            }

            return dropped;
        }

        if (_inMemory >= MemoryLimit)
        {
            return ReadToFile(fd);
        }

        Memory<byte> free = FreeSpace();
        long room = Math.Min(MemoryLimit - _inMemory, Limit - Length);
        if (free.Length > room)
        {
            free = free[..(int)room];
        }

        fixed (byte* destination = free.Span)
        {
            nint read = ReadRetrying(fd, destination, free.Length);
            if (read > 0)
            {
                _lastSegmentUsed += (int)read;
                _inMemory += read;
            }

            return read;
        }
    }

    /// <summary>Writes the buffer's bytes to <paramref name="destination"/>, leaving out the first <paramref name="skip"/>.</summary>
    public async Task CopyToAsync(Stream destination, CancellationToken cancellationToken, long skip = 0)
    {
        for (int i = 0; i < _segments.Count; i++)
        {
            int used = i == _segments.Count - 1 ? _lastSegmentUsed : _segments[i].Length;
            int from = (int)Math.Min(skip, used);
            skip -= from;
            if (from < used)
            {
                await destination.WriteAsync(_segments[i].AsMemory(from, used - from), cancellationToken).ConfigureAwait(false);
            }
        }

        if (_file is null)
        {
            return;
        }

        byte[] chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            for (long offset = Math.Min(skip, _inFile); offset < _inFile;)
            {
                int read = await RandomAccess.ReadAsync(_file, chunk, offset, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new IOException("the temporary output file ended early");
                }

                await destination.WriteAsync(chunk.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                offset += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>Copies the first bytes of the buffer into <paramref name="destination"/>; returns how many.</summary>
    public int CopyHead(Span<byte> destination)
    {
        int copied = 0;
        for (int i = 0; i < _segments.Count && copied < destination.Length; i++)
        {
            int used = i == _segments.Count - 1 ? _lastSegmentUsed : _segments[i].Length;
            int count = Math.Min(used, destination.Length - copied);
            _segments[i].AsSpan(0, count).CopyTo(destination[copied..]);
            copied += count;
        }

        if (_file is not null && copied < destination.Length)
        {
            copied += RandomAccess.Read(_file, destination[copied..(int)Math.Min(destination.Length, copied + _inFile)], 0);
        }

        return copied;
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

        if (_file is not null)
        {
            RandomAccess.Read(_file, result.AsSpan(offset), 0);
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
        _inMemory = 0;
        _file?.Dispose();
        _file = null;
        _inFile = 0;
    }

    private static unsafe nint ReadRetrying(int fd, byte* destination, int count)
    {
        nint read;
        do
        {
            read = LibC.read(fd, destination, count);
        }
        while (read < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR);

        return read;
    }

    private static unsafe nint ReadScratch(int fd, int count)
    {
        byte[] scratch = t_scratch ??= new byte[ScratchSize];
        fixed (byte* destination = scratch)
        {
            return ReadRetrying(fd, destination, Math.Min(count, scratch.Length));
        }
    }

    private nint ReadToFile(int fd)
    {
        nint read = ReadScratch(fd, (int)Math.Min(ScratchSize, Limit - Length));
        if (read <= 0)
        {
            return read;
        }

        try
        {
            _file ??= TemporaryFile.Open(tempFolder);
            RandomAccess.Write(_file, t_scratch.AsSpan(0, (int)read), _inFile);
            _inFile += read;
        }
        catch (IOException e)
        {
            // A full disk: keep reading so the program is not stuck, and let the run fail with the reason.
            SpillError = e.Message;
        }

        return read;
    }

    /// <summary>
    /// Appends <paramref name="data"/>: to memory while there is room under <see cref="MemoryLimit"/>, then to the file.
    /// </summary>
    /// <exception cref="IOException">The temporary file could not take the bytes (the disk is full).</exception>
    public void Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty && _inMemory < MemoryLimit)
        {
            Span<byte> free = FreeSpace().Span;
            int count = (int)Math.Min(Math.Min(free.Length, data.Length), MemoryLimit - _inMemory);
            data[..count].CopyTo(free);
            _lastSegmentUsed += count;
            _inMemory += count;
            data = data[count..];
        }

        if (!data.IsEmpty)
        {
            _file ??= TemporaryFile.Open(tempFolder);
            RandomAccess.Write(_file, data, _inFile);
            _inFile += data.Length;
        }
    }

    /// <summary>A stream that reads the buffer's bytes from the start; the buffer must outlive it and not change meanwhile.</summary>
    public Stream OpenRead() => new OutputBufferReader(this);

    private Memory<byte> FreeSpace()
    {
        if (_segments.Count == 0 || _lastSegmentUsed == _segments[^1].Length)
        {
            int size = _segments.Count == 0 ? FirstSegmentSize : Math.Min(_segments[^1].Length * 2, MaxSegmentSize);
            _segments.Add(ArrayPool<byte>.Shared.Rent(size));
            _lastSegmentUsed = 0;
        }

        return _segments[^1].AsMemory(_lastSegmentUsed);
    }

    /// <summary>Copies bytes from <paramref name="position"/> on into <paramref name="destination"/>; how many.</summary>
    internal int ReadAt(long position, Span<byte> destination)
    {
        int copied = 0;
        long start = 0;
        for (int i = 0; i < _segments.Count && copied < destination.Length; i++)
        {
            int used = i == _segments.Count - 1 ? _lastSegmentUsed : _segments[i].Length;
            long end = start + used;
            if (position + copied < end)
            {
                int from = (int)(position + copied - start);
                int count = Math.Min(used - from, destination.Length - copied);
                _segments[i].AsSpan(from, count).CopyTo(destination[copied..]);
                copied += count;
            }

            start = end;
        }

        long inFile = position + copied - _inMemory;
        if (_file is not null && copied < destination.Length && inFile < _inFile)
        {
            int count = (int)Math.Min(destination.Length - copied, _inFile - inFile);
            copied += RandomAccess.Read(_file, destination.Slice(copied, count), inFile);
        }

        return copied;
    }
}
