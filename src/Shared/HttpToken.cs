// Shared by the manifest compiler (header names in auth options) and the server (CGI response headers):
// one definition of what an HTTP header name may hold.
namespace AotFaas.Shared
{
    /// <summary>HTTP tokens (RFC 9110 section 5.6.2): header names, media types and their parameter names.</summary>
    internal static class HttpToken
    {
        public static bool IsTokenChar(char c)
            => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || "!#$%&'*+-.^_`|~".IndexOf(c) >= 0;
    }
}
