using AotFaas.Functions;

namespace AotFaas.Security;

/// <summary>
/// What bodies that are still being received and checked against their signature may hold, server-wide: an
/// unauthenticated caller can send a well-formed but wrong signature with a large body, and the body must be
/// read to find out. At most <see cref="MaxReceiving"/> are received at once (each also holds a descriptor for
/// its temporary file), they hold at most <see cref="ByteBudget"/> bytes together, memory and disk alike (the
/// temporary folder may be a tmpfs), and at most <see cref="MemoryBudget"/> of those in memory,
/// <see cref="InMemory"/> each. A request that does not fit is turned away with 429 before its body is read,
/// or as soon as it passes the budget.
/// </summary>
public sealed class UnverifiedBodies(long byteBudget, int maxReceiving = UnverifiedBodies.DefaultMaxReceiving)
{
    /// <summary>How many bodies may be received at once by default.</summary>
    public const int DefaultMaxReceiving = 64;

    /// <summary>The least byte budget; it grows to the largest <c>max-body</c> of a signed function.</summary>
    public const long MinByteBudget = 64L << 20;

    /// <summary>The most of one body kept in memory.</summary>
    public const int InMemory = 64 * 1024;

    /// <summary>The most memory all bodies being received hold together.</summary>
    public const long MemoryBudget = 4L << 20;

    private readonly Lock _lock = new();
    private int _receiving;
    private long _bytes;
    private long _memory;

    /// <summary>The most bytes all bodies being received hold together.</summary>
    public long ByteBudget { get; } = byteBudget;

    /// <summary>The most bodies received at once.</summary>
    public int MaxReceiving { get; } = maxReceiving;

    /// <summary>Bodies being received now.</summary>
    public int Receiving => Volatile.Read(ref _receiving);

    /// <summary>Bytes reserved now, in memory and on disk.</summary>
    public long ReservedBytes => Interlocked.Read(ref _bytes);

    /// <summary>Memory reserved now.</summary>
    public long ReservedMemory => Interlocked.Read(ref _memory);

    /// <summary>The budget for <paramref name="functions"/>: the least one, or the largest <c>max-body</c> of a signed function.</summary>
    public static UnverifiedBodies For(IEnumerable<Proc> functions, RunLimits limits)
    {
        long budget = MinByteBudget;
        foreach (Proc proc in functions)
        {
            if (proc.Auth is AuthScheme.HmacSha256 or AuthScheme.Stripe or AuthScheme.Slack)
            {
                budget = Math.Max(budget, proc.MaxBody ?? limits.MaxBody);
            }
        }

        return new UnverifiedBodies(budget);
    }

    /// <summary>A place for one body, with <paramref name="expected"/> bytes (its Content-Length) reserved up front; null when there is none.</summary>
    public Reservation? TryEnter(long expected)
    {
        lock (_lock)
        {
            if (_receiving >= MaxReceiving || _bytes + expected > ByteBudget)
            {
                return null;
            }

            _receiving++;
            _bytes += expected;
            long memory = _memory + InMemory <= MemoryBudget ? InMemory : 0;
            _memory += memory;
            return new Reservation(this, expected, memory);
        }
    }

    private bool TryGrow(long bytes)
    {
        lock (_lock)
        {
            if (_bytes + bytes > ByteBudget)
            {
                return false;
            }

            _bytes += bytes;
            return true;
        }
    }

    private void Exit(long bytes, long memory)
    {
        lock (_lock)
        {
            _receiving--;
            _bytes -= bytes;
            _memory -= memory;
        }
    }

    /// <summary>One body's share of the budget; dispose it when the body is gone.</summary>
    public sealed class Reservation : IDisposable
    {
        private readonly UnverifiedBodies _owner;
        private long _bytes;
        private bool _disposed;

        internal Reservation(UnverifiedBodies owner, long bytes, long memory)
        {
            _owner = owner;
            _bytes = bytes;
            Memory = memory;
        }

        /// <summary>How much of the body may be kept in memory.</summary>
        public long Memory { get; }

        /// <summary>Makes room for a body of <paramref name="total"/> bytes; false when the budget has none.</summary>
        public bool Cover(long total)
        {
            if (total <= _bytes)
            {
                return true;
            }

            if (!_owner.TryGrow(total - _bytes))
            {
                return false;
            }

            _bytes = total;
            return true;
        }

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                _owner.Exit(_bytes, Memory);
            }
        }
    }
}
