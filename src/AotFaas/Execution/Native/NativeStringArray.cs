using System.Runtime.InteropServices;
using System.Text;

namespace AotFaas.Execution.Native;

/// <summary>
/// A NULL-terminated array of NUL-terminated UTF-8 strings in one native block, the shape of
/// <c>argv</c> and <c>envp</c> for posix_spawn. One allocation holds the pointers and the bytes.
/// </summary>
internal sealed unsafe class NativeStringArray : IDisposable
{
    private byte* _block;

    public NativeStringArray(ReadOnlySpan<string> strings)
    {
        nuint pointersSize = (nuint)(strings.Length + 1) * (nuint)sizeof(byte*);
        nuint total = pointersSize;
        foreach (string s in strings)
        {
            total += (nuint)Encoding.UTF8.GetByteCount(s) + 1;
        }

        _block = (byte*)NativeMemory.Alloc(total);
        byte** pointers = (byte**)_block;
        byte* next = _block + pointersSize;
        byte* end = _block + total;
        for (int i = 0; i < strings.Length; i++)
        {
            pointers[i] = next;
            int written = Encoding.UTF8.GetBytes(strings[i], new Span<byte>(next, (int)(end - next)));
            next[written] = 0;
            next += written + 1;
        }

        pointers[strings.Length] = null;
        Count = strings.Length;
    }

    ~NativeStringArray() => Free();

    /// <summary>How many strings the array holds (the NULL terminator not counted).</summary>
    public int Count { get; }

    /// <summary>The <c>char**</c> to hand to C; valid until disposed.</summary>
    public byte** Pointer => (byte**)_block;

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        NativeMemory.Free(_block);
        _block = null;
    }
}
