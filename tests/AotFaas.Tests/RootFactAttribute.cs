namespace AotFaas.Tests;

/// <summary>A test that needs root (mounting a file system, forcing a pid to be reused); skipped, saying so, otherwise. CI runs as root.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            Skip = "needs root (CI runs as root)";
        }
    }
}
