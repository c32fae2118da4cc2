// Linked into the native binary only (AotFaas.csproj). The server binds its addresses first thing in Program.Main
// (PreboundSockets, issue 16), ~1-2 ms before its signal handlers are registered (ShutdownSignals): a supervisor that
// sends SIGHUP (swap), SIGTERM (drain) or SIGUSR1 (ignored) as soon as the port answers would hit the default action
// and end the server at once. So the signals the server handles are blocked before main(), on the main thread, and
// every thread the runtime starts inherits that mask; once the handlers are registered, aotfaas_release_signals()
// gives them one thread that takes them (the main thread, which waits in Main until the process ends, or else a
// thread of their own that only waits): a signal sent meanwhile waits, pending, and is then handled as usual.
// Signals the parent had blocked already stay blocked (its choice); children get an empty mask (PosixSpawn.cs).
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

// The signals ShutdownSignals and IgnoredSignals register (Linux numbers; SIGRTMIN is 34 under glibc and musl).
static const int handled[] = { SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGSTKFLT, SIGVTALRM,
                               SIGPROF, SIGIO, SIGPWR, 37 /* SIGRTMIN+3 */ };
static sigset_t held; // those blocked here, not by the parent

// Before the other constructors (prefault.c's populate takes a few hundred microseconds): priority 101, the first
// a program may use.
__attribute__((constructor(101))) static void aotfaas_hold_signals(void) {
    sigset_t wanted, before;
    sigemptyset(&wanted);
    sigemptyset(&held);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) {
        sigaddset(&wanted, handled[i]);
    }
    if (pthread_sigmask(SIG_BLOCK, &wanted, &before) != 0) {
        return;
    }
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) {
        if (!sigismember(&before, handled[i])) {
            sigaddset(&held, handled[i]);
        }
    }
}

static void *take_signals(void *unused) {
    (void)unused;
    pthread_sigmask(SIG_UNBLOCK, &held, NULL);
    for (;;) {
        pause();
    }
    return NULL;
}

// Returns 0 once a thread takes the held signals (they were all delivered to it, if pending), or an errno.
int aotfaas_release_signals(void) {
    if (syscall(SYS_gettid) == getpid()) {
        return pthread_sigmask(SIG_UNBLOCK, &held, NULL);
    }
    pthread_attr_t attributes;
    pthread_t thread;
    int error = pthread_attr_init(&attributes);
    if (error != 0) {
        return error;
    }
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 256 * 1024);
    error = pthread_create(&thread, &attributes, take_signals, NULL);
    pthread_attr_destroy(&attributes);
    if (error == 0) {
        pthread_setname_np(thread, "aotfaas signals");
    }
    return error;
}
