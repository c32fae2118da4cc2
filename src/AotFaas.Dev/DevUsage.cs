using AotFaas.Hosting;

namespace AotFaas.Dev;

/// <summary>The text of <c>./dev.sh --help</c>.</summary>
internal static class DevUsage
{
    public static string Text { get; } = """
        Usage: ./dev.sh [MANIFEST] [options]

        The development server: serves MANIFEST (default: functions.faas) from source on
        127.0.0.1:3000 as the published binary would, and reloads it on save, without a restart:
        a run in flight finishes under the definition it started with. A broken edit prints the
        build's diagnostics (MANIFEST(LINE,COL): error FAASnnn: ...) and the last good version keeps
        serving. Not for production: ./publish.sh builds the server.

        The options are the published server's (./artifacts/bin/aotfaas --help).

        """ + ServerOptions.Usage[ServerOptions.Usage.IndexOf("Options:", StringComparison.Ordinal)..];
}
