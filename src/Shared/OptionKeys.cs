// Shared by the manifest compiler (which accepts these keys) and the server (which lists a function's
// options under the same keys in --list and the system API): one spelling of each option.
namespace AotFaas.Shared
{
    /// <summary>The keys of a function's indented <c>key: value</c> option lines in <c>functions.faas</c>.</summary>
    internal static class OptionKeys
    {
        public const string ContentType = "content-type";
        public const string Timeout = "timeout";
        public const string MaxInflight = "max-inflight";
        public const string MaxQueue = "max-queue";
        public const string MaxBody = "max-body";
        public const string MaxOutput = "max-output";
        public const string Env = "env";
        public const string PassEnv = "pass-env";
        public const string WorkDir = "workdir";
        public const string Methods = "methods";
        public const string RequestEnv = "request-env";
        public const string PassAuthorization = "pass-authorization";
        public const string Response = "response";
        public const string Auth = "auth";
        public const string LogStderr = "log-stderr";
        public const string Mode = "mode";
        public const string Replicas = "replicas";
        public const string Ready = "ready";
        public const string IdleStop = "idle-stop";
        public const string StartTimeout = "start-timeout";
        public const string Async = "async";
        public const string AsyncQueue = "async-queue";

        /// <summary>Every key, in the order the README, error messages and listings give them.</summary>
        public static readonly string[] All =
        {
            ContentType, Timeout, MaxInflight, MaxQueue, MaxBody, MaxOutput, Env, PassEnv, WorkDir,
            Methods, RequestEnv, PassAuthorization, Response, Auth, LogStderr, Mode, Replicas, Ready,
            IdleStop, StartTimeout, Async, AsyncQueue,
        };
    }
}
