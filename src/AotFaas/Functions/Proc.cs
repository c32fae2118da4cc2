using System.Collections.Immutable;

namespace AotFaas.Functions;

/// <summary>
/// A function of the manifest: the program that runs for <c>POST /function/{name}</c>. The generated
/// <c>FunctionTable</c> builds one per function with the options the manifest sets; everything else
/// keeps the defaults below.
/// </summary>
public sealed class Proc
{
    /// <summary>Creates a function; <c>FunctionTable</c> holds the manifest's ones.</summary>
    /// <param name="funcName">The name in the URL.</param>
    /// <param name="executable">The program: a bare name is looked up on PATH when it runs, a path is used as is.</param>
    /// <param name="argv">The arguments after the program, none when omitted.</param>
    /// <param name="contentType">The response's Content-Type on success, or null to echo the request's.</param>
    /// <param name="commandLine">The command line as the manifest writes it; built from the words when null.</param>
    /// <param name="timeoutMilliseconds">The <c>timeout</c> option, or null for the server's default.</param>
    /// <param name="maxInflight">The <c>max-inflight</c> option, or null for the server's default.</param>
    /// <param name="maxQueue">The <c>max-queue</c> option, or null for the server's default.</param>
    /// <param name="maxBody">The <c>max-body</c> option in bytes, or null for the server's default.</param>
    /// <param name="maxOutput">The <c>max-output</c> option in bytes, or null for the server's default.</param>
    /// <param name="env">The <c>env</c> options, <c>KEY=VALUE</c>.</param>
    /// <param name="passEnv">The <c>pass-env</c> options: names of server variables passed through.</param>
    /// <param name="workDir">The <c>workdir</c> option, or null for the server's working directory.</param>
    /// <param name="methods">The <c>methods</c> option: the HTTP methods the function answers; empty for POST alone.</param>
    /// <param name="requestEnv">The <c>request-env</c> option: how the request reaches the program's environment.</param>
    /// <param name="passAuthorization">The <c>pass-authorization</c> option: whether the Authorization header reaches it.</param>
    /// <param name="response">The <c>response</c> option: how stdout becomes the response.</param>
    /// <param name="auth">The scheme of the <c>auth</c> option.</param>
    /// <param name="authSecretVariable">The <c>auth</c> option's server variable holding the secret.</param>
    /// <param name="authHeader">The <c>auth</c> option's signature header (<c>hmac-sha256</c>).</param>
    /// <param name="logStderr">The <c>log-stderr</c> option, or null for the server's default.</param>
    /// <param name="mode">The <c>mode</c> option: a program per request, or warm HTTP workers.</param>
    /// <param name="replicas">The <c>replicas</c> option (<c>mode: http</c>), or null for the server's default.</param>
    /// <param name="readyPath">The <c>ready</c> option (<c>mode: http</c>), or null when a TCP connect suffices.</param>
    /// <param name="idleStopMilliseconds">The <c>idle-stop</c> option (<c>mode: http</c>), or null to keep the workers running.</param>
    /// <param name="startTimeoutMilliseconds">The <c>start-timeout</c> option (<c>mode: http</c>), or null for the server's default.</param>
    /// <param name="takesAsync">The <c>async</c> option: whether the function takes asynchronous calls.</param>
    /// <param name="asyncQueue">The <c>async-queue</c> option (<c>async: true</c>), or null for the server's default.</param>
    public Proc(
        string funcName,
        string executable,
        ImmutableArray<string> argv = default,
        string? contentType = null,
        string? commandLine = null,
        long? timeoutMilliseconds = null,
        int? maxInflight = null,
        int? maxQueue = null,
        long? maxBody = null,
        long? maxOutput = null,
        ImmutableArray<string> env = default,
        ImmutableArray<string> passEnv = default,
        string? workDir = null,
        ImmutableArray<string> methods = default,
        RequestEnvMode requestEnv = RequestEnvMode.Cgi,
        bool passAuthorization = false,
        ResponseMode response = ResponseMode.Raw,
        AuthScheme auth = AuthScheme.None,
        string? authSecretVariable = null,
        string? authHeader = null,
        bool? logStderr = null,
        FunctionMode mode = FunctionMode.Exec,
        int? replicas = null,
        string? readyPath = null,
        long? idleStopMilliseconds = null,
        long? startTimeoutMilliseconds = null,
        bool takesAsync = false,
        int? asyncQueue = null)
    {
        FuncName = funcName;
        Executable = executable;
        Argv = argv.IsDefault ? ImmutableArray<string>.Empty : argv;
        ContentType = contentType;
        CommandLine = commandLine ?? string.Join(" ", [executable, .. Argv]);
        Timeout = timeoutMilliseconds is long milliseconds ? TimeSpan.FromMilliseconds(milliseconds) : null;
        MaxInflight = maxInflight;
        MaxQueue = maxQueue;
        MaxBody = maxBody;
        MaxOutput = maxOutput;
        Env = env.IsDefault ? ImmutableArray<string>.Empty : env;
        PassEnv = passEnv.IsDefault ? ImmutableArray<string>.Empty : passEnv;
        WorkDir = workDir;
        Methods = methods.IsDefault || methods.IsEmpty ? ["POST"] : methods;
        RequestEnv = requestEnv;
        PassAuthorization = passAuthorization;
        Response = response;
        Auth = auth;
        AuthSecretVariable = authSecretVariable;
        AuthHeader = authHeader;
        LogStderr = logStderr;
        Mode = mode;
        Replicas = replicas;
        ReadyPath = readyPath;
        IdleStop = idleStopMilliseconds is long idle ? TimeSpan.FromMilliseconds(idle) : null;
        StartTimeout = startTimeoutMilliseconds is long start ? TimeSpan.FromMilliseconds(start) : null;
        TakesAsync = takesAsync;
        AsyncQueue = asyncQueue;
    }

    /// <summary>The name in the URL, <c>POST /function/{name}</c>.</summary>
    public string FuncName { get; }

    /// <summary>The program: a bare name is looked up on PATH when it runs, a path is used as is.</summary>
    public string Executable { get; }

    /// <summary>The arguments after the program, already split into words.</summary>
    public ImmutableArray<string> Argv { get; }

    /// <summary>The <c>content-type</c> option: the response's Content-Type on success, or null.</summary>
    public string? ContentType { get; }

    /// <summary>The command line as the manifest writes it.</summary>
    public string CommandLine { get; }

    /// <summary>The <c>timeout</c> option: wall-clock limit of a run, or null for the server's default.</summary>
    public TimeSpan? Timeout { get; }

    /// <summary>The <c>max-inflight</c> option: runs at the same time, or null for the server's default.</summary>
    public int? MaxInflight { get; }

    /// <summary>The <c>max-queue</c> option: requests waiting for a slot, or null for the server's default.</summary>
    public int? MaxQueue { get; }

    /// <summary>The <c>max-body</c> option: request body limit in bytes, or null for the server's default.</summary>
    public long? MaxBody { get; }

    /// <summary>The <c>max-output</c> option: stdout limit in bytes, or null for the server's default.</summary>
    public long? MaxOutput { get; }

    /// <summary>The <c>env</c> options: <c>KEY=VALUE</c> entries the program sees.</summary>
    public ImmutableArray<string> Env { get; }

    /// <summary>The <c>pass-env</c> options: names of server variables the program sees.</summary>
    public ImmutableArray<string> PassEnv { get; }

    /// <summary>The <c>workdir</c> option: the program's working directory, or null for the server's.</summary>
    public string? WorkDir { get; }

    /// <summary>The <c>methods</c> option: the HTTP methods the function answers (POST unless set).</summary>
    public ImmutableArray<string> Methods { get; }

    /// <summary>The <c>request-env</c> option: how the request reaches the program's environment.</summary>
    public RequestEnvMode RequestEnv { get; }

    /// <summary>The <c>pass-authorization</c> option: whether the Authorization header reaches the program.</summary>
    public bool PassAuthorization { get; }

    /// <summary>The <c>response</c> option: how stdout becomes the response.</summary>
    public ResponseMode Response { get; }

    /// <summary>The scheme of the <c>auth</c> option, or <see cref="AuthScheme.None"/>.</summary>
    public AuthScheme Auth { get; }

    /// <summary>The server environment variable that holds the <c>auth</c> secret, or null.</summary>
    public string? AuthSecretVariable { get; }

    /// <summary>The header that carries an <c>hmac-sha256</c> signature, or null.</summary>
    public string? AuthHeader { get; }

    /// <summary>The <c>log-stderr</c> option: whether the program's stderr goes to the server's log, or null for the server's default.</summary>
    public bool? LogStderr { get; }

    /// <summary>The <c>mode</c> option: whether a program runs per request (the default) or warm HTTP workers answer.</summary>
    public FunctionMode Mode { get; }

    /// <summary>The <c>replicas</c> option: the workers a <c>mode: http</c> function starts, or null for the server's default (1).</summary>
    public int? Replicas { get; }

    /// <summary>The <c>ready</c> option: the path the server GETs until a worker answers 2xx, or null when a TCP connect suffices.</summary>
    public string? ReadyPath { get; }

    /// <summary>The <c>idle-stop</c> option: how long the workers live without a call, or null to keep them running.</summary>
    public TimeSpan? IdleStop { get; }

    /// <summary>The <c>start-timeout</c> option: how long a worker may take to become ready, or null for the server's default.</summary>
    public TimeSpan? StartTimeout { get; }

    /// <summary>The <c>async</c> option: whether the function takes asynchronous calls at <c>POST /async-function/{name}</c>.</summary>
    public bool TakesAsync { get; }

    /// <summary>The <c>async-queue</c> option: asynchronous calls that may wait (stored, not yet running) before new ones get 429, or null for the server's default (1000).</summary>
    public int? AsyncQueue { get; }

    /// <inheritdoc/>
    public override string ToString() => FuncName + ": " + CommandLine;
}
