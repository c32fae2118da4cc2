using System.Runtime.InteropServices;
using AotFaas.Execution.Native;
using Microsoft.Win32.SafeHandles;

namespace AotFaas.Execution;

/// <summary>A temporary file that never has a name left behind: deleted however the server ends.</summary>
internal static class TemporaryFile
{
    /// <summary>The name a fallback file has for the moment between its creation and its unlinking.</summary>
    public const string SpillPrefix = "aotfaas-spill-";

    /// <summary>
    /// Opens an unnamed file in <paramref name="folder"/>, else the temporary folder (<c>$TMPDIR</c> or <c>/tmp</c>),
    /// with <c>O_TMPFILE</c>; where the file system cannot, a named file that is unlinked as soon as it is open.
    /// </summary>
    public static SafeFileHandle Open(string? folder = null)
    {
        folder ??= Path.GetTempPath();
        int fd = LibC.open(folder, LibC.O_TMPFILE | LibC.O_RDWR | LibC.O_CLOEXEC, 0x180);
        if (fd >= 0)
        {
            return new SafeFileHandle(fd, ownsHandle: true);
        }

        int errno = Marshal.GetLastPInvokeError();
        if (errno is not (LibC.EOPNOTSUPP or LibC.EISDIR or LibC.EINVAL))
        {
            throw new IOException($"cannot create a temporary file in {folder}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        string path = Path.Combine(folder, SpillPrefix + Guid.NewGuid().ToString("N"));
        SafeFileHandle handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        File.Delete(path);
        return handle;
    }
}
