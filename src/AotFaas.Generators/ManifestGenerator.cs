using System.Collections.Immutable;
using System.IO;
using System.Text;
using System.Threading;
using AotFaas.Generators.Diagnostics;
using AotFaas.Generators.Emitting;
using AotFaas.Generators.Model;
using AotFaas.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace AotFaas.Generators
{
    /// <summary>
    /// Compiles the function manifest (<c>functions.faas</c>) into the switch-based
    /// <c>FunctionTable.GetProcByFuncName</c> over <c>Proc</c> values (<c>Proc</c> itself is a source file
    /// of the server). Pipeline: the manifest among the additional files, a pure parse into an equatable
    /// <see cref="ManifestModel"/>, then one source output. Editing C# files leaves every step cached;
    /// only a change to the manifest parses it again.
    /// </summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class ManifestGenerator : IIncrementalGenerator
    {
        /// <summary>Item metadata that marks the additional file holding the manifest (set by AotFaas.csproj).</summary>
        public const string ManifestMetadataKey = "build_metadata.AdditionalFiles.AotFaasManifest";

        /// <summary>The MSBuild property naming the manifest, used to say where it was looked for.</summary>
        public const string ManifestPropertyKey = "build_property.FaasManifestFullPath";

        /// <summary>The file extension that marks a manifest when no metadata does.</summary>
        public const string ManifestExtension = ".faas";

        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            IncrementalValuesProvider<ManifestModel> manifests = context.AdditionalTextsProvider
                .Combine(context.AnalyzerConfigOptionsProvider)
                .Where(static pair => IsManifest(pair.Left, pair.Right.GetOptions(pair.Left)))
                .Select(static (pair, cancellationToken) => Parse(pair.Left, cancellationToken))
                .WithTrackingName(TrackingNames.Parse);

            IncrementalValueProvider<string> configuredPath = context.AnalyzerConfigOptionsProvider
                .Select(static (options, _) => options.GlobalOptions.TryGetValue(ManifestPropertyKey, out string? path) ? path : string.Empty)
                .WithTrackingName(TrackingNames.ConfiguredPath);

            IncrementalValueProvider<(ImmutableArray<ManifestModel> Manifests, string ConfiguredPath)> input = manifests
                .Collect()
                .Combine(configuredPath)
                .WithTrackingName(TrackingNames.Manifests);

            context.RegisterSourceOutput(input, static (spc, source) => Execute(spc, source.Manifests, source.ConfiguredPath));
        }

        private static bool IsManifest(AdditionalText file, AnalyzerConfigOptions options)
        {
            if (options.TryGetValue(ManifestMetadataKey, out string? marked) && !string.IsNullOrEmpty(marked))
            {
                return string.Equals(marked, "true", System.StringComparison.OrdinalIgnoreCase);
            }

            return file.Path.EndsWith(ManifestExtension, System.StringComparison.OrdinalIgnoreCase);
        }

        private static ManifestModel Parse(AdditionalText file, CancellationToken cancellationToken)
        {
            SourceText? text = file.GetText(cancellationToken);
            if (text is null)
            {
                return new ManifestModel(
                    file.Path,
                    EquatableArray<FunctionModel>.Empty,
                    new EquatableArray<DiagnosticInfo>(new[] { DiagnosticInfo.Create(DiagnosticDescriptors.UnreadableManifest, null, file.Path) }));
            }

            return ManifestParser.Parse(file.Path, text, cancellationToken);
        }

        private static void Execute(SourceProductionContext context, ImmutableArray<ManifestModel> manifests, string configuredPath)
        {
            if (manifests.IsDefaultOrEmpty)
            {
                string where = configuredPath.Length == 0 ? string.Empty : " at '" + configuredPath + "'";
                context.ReportDiagnostic(DiagnosticInfo.Create(DiagnosticDescriptors.NoManifest, null, where).ToDiagnostic());
                return;
            }

            if (manifests.Length > 1)
            {
                var paths = new StringBuilder();
                foreach (ManifestModel manifest in manifests)
                {
                    paths.Append(paths.Length == 0 ? string.Empty : ", ").Append(manifest.Path);
                }

                context.ReportDiagnostic(DiagnosticInfo.Create(DiagnosticDescriptors.ManyManifests, null, paths.ToString()).ToDiagnostic());
                return;
            }

            ManifestModel model = manifests[0];
            bool hasErrors = false;
            foreach (DiagnosticInfo diagnostic in model.Diagnostics)
            {
                hasErrors |= diagnostic.Descriptor.DefaultSeverity == DiagnosticSeverity.Error;
                context.ReportDiagnostic(diagnostic.ToDiagnostic());
            }

            if (!hasErrors)
            {
                context.AddSource(FunctionTableEmitter.HintName, FunctionTableEmitter.Emit(model.Functions, Path.GetFileName(model.Path)));
            }
        }
    }

    /// <summary>Names of the pipeline steps, for incrementality tests.</summary>
    internal static class TrackingNames
    {
        public const string Parse = nameof(Parse);
        public const string ConfiguredPath = nameof(ConfiguredPath);
        public const string Manifests = nameof(Manifests);
    }
}
