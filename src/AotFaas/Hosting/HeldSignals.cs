using System.Runtime.InteropServices;

namespace AotFaas.Hosting;

/// <summary>
/// The signals the server handles are held (blocked) from before <c>main()</c> until their handlers are registered
/// (<c>Hosting/held-signals.c</c>, linked into the native binary): the server listens from the start of
/// <c>Program.Main</c>, and a SIGHUP, SIGTERM or SIGUSR1 sent as soon as the port answers would otherwise end it by its
/// default action. One sent meanwhile waits and is handled once <see cref="Release"/> has run.
/// </summary>
public static partial class HeldSignals
{
    /// <summary>
    /// Gives the held signals a thread that takes them, once every handler is registered: the calling thread if it is
    /// the main thread (which waits in Main until the process ends), otherwise a thread of their own. Where the C part
    /// is not linked (a JIT run, a build for another architecture) nothing was held and nothing is done.
    /// </summary>
    public static void Release()
    {
        try
        {
            int error = ReleaseSignals();
            if (error != 0)
            {
                throw new InvalidOperationException($"the signals held during start-up could not be released (error {error})");
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not linked in: nothing held.
        }
    }

    [LibraryImport("aotfaas_native", EntryPoint = "aotfaas_release_signals")]
    private static partial int ReleaseSignals();
}
