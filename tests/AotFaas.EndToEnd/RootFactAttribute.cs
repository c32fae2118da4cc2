using System.Runtime.InteropServices;

namespace AotFaas.EndToEnd;

/// <summary>A fact that needs root (a PID namespace); skipped, saying so, otherwise.</summary>
public sealed partial class RootFactAttribute : FactAttribute
{
    public RootFactAttribute(string why)
    {
        if (GetEuid() != 0)
        {
            Skip = $"needs root ({why}); run the suite as root to include it";
        }
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();
}
