using System.Runtime.InteropServices;
using AotFaas.Execution;

namespace AotFaas.Hosting;

/// <summary>
/// What the signals an operator or a supervisor sends do: SIGTERM, SIGINT, SIGQUIT (nginx's graceful stop),
/// SIGPWR (LXC's halt) and SIGRTMIN+3 (the halt of systemd, and of images that run it) complete
/// <see cref="Stopping"/>, and the server drains; a second one of them ends every run at once. SIGHUP asks for a
/// binary swap (<see cref="BinarySwap"/>). SIGUSR1, SIGUSR2, SIGALRM and a few more whose default action would end
/// the server with no drain are logged and ignored (<see cref="IgnoredSignals"/>).
/// </summary>
public sealed class ShutdownSignals : IDisposable
{
    private readonly TaskCompletionSource _stopping = new();
    private readonly List<PosixSignalRegistration> _registrations = [];

    /// <param name="log">Where ignored signals are logged.</param>
    /// <param name="hangUp">Called on SIGHUP, with whether the server is stopping already; null to log and ignore it.</param>
    public ShutdownSignals(ILogger log, Action<bool>? hangUp = null)
    {
        _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            if (hangUp is null)
            {
                log.LogWarning("SIGHUP: ignored");
            }
            else
            {
                hangUp(_stopping.Task.IsCompleted);
            }
        }));

        foreach (PosixSignal signal in IgnoredSignals.All)
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                log.LogWarning("{Message}", IgnoredSignals.Message(context.Signal));
            }));
        }

        foreach (PosixSignal signal in StopSignals)
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, OnStop));
        }
    }

    // Linux numbers: SIGPWR is 30 on x86-64 and arm64; SIGRTMIN is 34 under glibc and musl (32 and 33 are the C library's).
    private const int SIGPWR = 30;
    private const int SIGRTMIN_3 = 37;

    /// <summary>The signals that drain the server.</summary>
    public static IReadOnlyList<PosixSignal> StopSignals { get; } = [PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT, (PosixSignal)SIGPWR, (PosixSignal)SIGRTMIN_3];

    /// <summary>Completes when the first stop signal arrives.</summary>
    public Task Stopping => _stopping.Task;

    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in _registrations)
        {
            registration.Dispose();
        }
    }

    private void OnStop(PosixSignalContext context)
    {
        if (_stopping.TrySetResult())
        {
            context.Cancel = true;
            return;
        }

        // The second one: no more waiting. The process ends by the signal's default action.
        LiveRuns.SignalAll(Signals.SIGKILL);
    }
}
