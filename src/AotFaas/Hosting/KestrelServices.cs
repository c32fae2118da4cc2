using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace AotFaas.Hosting;

/// <summary>
/// What Kestrel asks its options' <c>ApplicationServices</c> for, without a container: nothing on the plain HTTP path;
/// on an https listener, <c>ListenOptions.UseHttps</c> asks for the logger factory and for Kestrel's metrics, an
/// internal type that its own <c>UseKestrel</c> registers. That one is made here by its constructor (an
/// <see cref="UnsafeAccessorAttribute"/>, which Native AOT compiles to a direct call), and only when asked, so a server
/// without TLS never creates it. A Kestrel whose type differs fails the end-to-end TLS tests, not a user at run time.
/// </summary>
internal sealed class KestrelServices(ILoggerFactory loggerFactory) : IServiceProvider
{
    private const string MetricsType = "Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Infrastructure.KestrelMetrics";

    private object? _metrics;

    public object? GetService(Type serviceType)
        => serviceType == typeof(ILoggerFactory) ? loggerFactory
        : serviceType.FullName == MetricsType ? _metrics ??= NewKestrelMetrics(new MeterFactory())
        : null;

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    [return: UnsafeAccessorType(MetricsType + ", Microsoft.AspNetCore.Server.Kestrel.Core")]
    private static extern object NewKestrelMetrics(IMeterFactory meterFactory);

    /// <summary>Kestrel's own stand-in when it is built without a container: plain meters, which nothing here listens to.</summary>
    private sealed class MeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }
}
