using System.Runtime.InteropServices;
using AotFaas.Execution;

namespace AotFaas.Hosting;

/// <summary>
/// What the signals an operator or a supervisor sends do: SIGTERM, SIGINT and SIGQUIT (nginx's graceful stop)
/// complete <see cref="Stopping"/>, and the server drains; a second one of them ends every run at once. SIGHUP,
/// SIGUSR1, SIGUSR2 and SIGALRM, whose default action would end the server with no drain, are logged and
/// ignored (<see cref="IgnoredSignals"/>).
/// </summary>
public sealed class ShutdownSignals : IDisposable
{
    private readonly TaskCompletionSource _stopping = new();
    private readonly List<PosixSignalRegistration> _registrations = [];

    public ShutdownSignals(ILogger log)
    {
        foreach (PosixSignal signal in IgnoredSignals.All)
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                log.LogWarning("{Message}", IgnoredSignals.Message(context.Signal));
            }));
        }

        foreach (PosixSignal signal in (PosixSignal[])[PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT])
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, OnStop));
        }
    }

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
