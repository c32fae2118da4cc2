using Microsoft.CodeAnalysis;

namespace AotFaas.Generators.Diagnostics
{
    /// <summary>
    /// Every diagnostic the manifest compiler reports. Each id is documented in the README
    /// ("Manifest diagnostics"); keep the two in step.
    /// </summary>
    internal static class DiagnosticDescriptors
    {
        private const string Category = "AotFaas.Manifest";

        public static readonly DiagnosticDescriptor LineNotUnderstood = Error(
            "FAAS001",
            "Manifest line not understood",
            "Line not understood: {0}");

        public static readonly DiagnosticDescriptor InvalidName = Error(
            "FAAS002",
            "Invalid function name",
            "Invalid function name '{0}': {1}");

        public static readonly DiagnosticDescriptor DuplicateName = Error(
            "FAAS003",
            "Duplicate function name",
            "Function '{0}' is already defined on line {1}; function names must be unique");

        public static readonly DiagnosticDescriptor MissingCommand = Error(
            "FAAS004",
            "Function has no command",
            "Function '{0}' has no command: write '{0}: <command> [args...]'");

        public static readonly DiagnosticDescriptor UnterminatedQuote = Error(
            "FAAS005",
            "Unterminated quote",
            "Unterminated {0} quote: close it on the same line");

        public static readonly DiagnosticDescriptor UnknownOption = Error(
            "FAAS006",
            "Unknown option",
            "Unknown option '{0}'; known options: {1}");

        public static readonly DiagnosticDescriptor OptionWithoutFunction = Error(
            "FAAS007",
            "Option with no function above it",
            "Option '{0}' has no function above it: indented '<key>: <value>' lines belong to the function line before them");

        public static readonly DiagnosticDescriptor BadOptionValue = Error(
            "FAAS008",
            "Bad option value",
            "Bad value for option '{0}': {1}");

        public static readonly DiagnosticDescriptor NoManifest = Error(
            "FAAS009",
            "No manifest found",
            "No function manifest found{0}: create functions.faas, or pass another one with ./publish.sh MANIFEST or -p:FaasManifest=PATH");

        public static readonly DiagnosticDescriptor EmptyManifest = new DiagnosticDescriptor(
            "FAAS010",
            "Manifest defines no functions",
            "The manifest defines no functions: every request will get 404",
            Category,
            DiagnosticSeverity.Warning,
            isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor DuplicateOption = Error(
            "FAAS011",
            "Option given twice",
            "Option '{0}' is already set for this function on line {1}");

        public static readonly DiagnosticDescriptor ManyManifests = Error(
            "FAAS012",
            "More than one manifest",
            "More than one function manifest is part of the build ({0}): keep one");

        public static readonly DiagnosticDescriptor UnreadableManifest = Error(
            "FAAS013",
            "Manifest could not be read",
            "The manifest '{0}' could not be read");

        public static readonly DiagnosticDescriptor ShellSyntax = new DiagnosticDescriptor(
            "FAAS014",
            "Shell syntax in a command line",
            "'{0}' is passed to the program as a literal argument: no shell runs the command line; write sh -c '...' to use a shell on purpose",
            Category,
            DiagnosticSeverity.Warning,
            isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor LiteralSecret = Error(
            "FAAS015",
            "Secret written in the manifest",
            "A secret cannot be written in the manifest, which is compiled into the binary: name a server environment variable that holds it, for example auth: {0} $API_TOKEN");

        public static readonly DiagnosticDescriptor UnsignableMethod = Error(
            "FAAS016",
            "hmac-sha256 on a method without a body",
            "auth: hmac-sha256 signs the request body, and {0} runs with an empty one: its signature would be the same for every request, so anyone who saw one could replay it; remove {0} from methods, or check these requests with auth: bearer $VARIABLE");

        public static readonly DiagnosticDescriptor NotForHttpMode = Error(
            "FAAS017",
            "Option does not apply to an http function",
            "'{0}' does not apply to a function with 'mode: http': {1}");

        public static readonly DiagnosticDescriptor OnlyForHttpMode = Error(
            "FAAS018",
            "Option applies only to an http function",
            "'{0}' applies only to a function with 'mode: http'");

        public static readonly DiagnosticDescriptor OnlyForAsync = Error(
            "FAAS019",
            "Option applies only to a function that takes asynchronous calls",
            "'{0}' applies only to a function with 'async: true'");

        private static DiagnosticDescriptor Error(string id, string title, string message)
            => new DiagnosticDescriptor(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
    }
}
