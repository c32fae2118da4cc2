using Microsoft.CodeAnalysis;

namespace AotFaas.Generators.Model
{
    /// <summary>A diagnostic found while parsing, held as values until the generator reports it.</summary>
    internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, ManifestLocation? Location, EquatableArray<string> MessageArgs)
    {
        public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, ManifestLocation? location, params string[] messageArgs)
            => new DiagnosticInfo(descriptor, location, new EquatableArray<string>(messageArgs));

        public Diagnostic ToDiagnostic()
        {
            object[] args = new object[MessageArgs.Count];
            for (int i = 0; i < args.Length; i++)
            {
                args[i] = MessageArgs[i];
            }

            return Diagnostic.Create(Descriptor, Location?.ToLocation() ?? Microsoft.CodeAnalysis.Location.None, args);
        }
    }
}
