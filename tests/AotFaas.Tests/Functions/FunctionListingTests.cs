using System.Text.Json;
using AotFaas.Functions;
using AotFaas.Hosting;
using AotFaas.Operations;

namespace AotFaas.Tests.Functions;

public class FunctionListingTests
{
    [Fact]
    public void The_listing_writes_functions_as_the_manifest_does()
    {
        Proc[] functions =
        [
            new("cat", "cat", []),
            new("greet", "sh", ["-c", "printf hi"], contentType: "text/plain", commandLine: "sh -c 'printf hi'"),
        ];

        Assert.Equal("cat: cat\ngreet: sh -c 'printf hi'\n  content-type: text/plain\n", FunctionListing.Format(functions));
    }

    [Fact]
    public void The_listing_shows_every_option_a_function_sets()
    {
        Proc[] functions =
        [
            new("limited", "sleep", ["1"], timeoutMilliseconds: 1500, maxInflight: 2, maxQueue: 0, maxBody: 64 * 1024, maxOutput: 1 << 20,
                env: ["A=1", "B=two words"], passEnv: ["TZ", "REGION"], workDir: "/srv"),
        ];

        Assert.Equal(
            "limited: sleep 1\n  timeout: 1500ms\n  max-inflight: 2\n  max-queue: 0\n  max-body: 64KiB\n  max-output: 1MiB\n"
            + "  env: A=1\n  env: B=two words\n  pass-env: TZ, REGION\n  workdir: /srv\n",
            FunctionListing.Format(functions));
    }

    [Fact]
    public void The_listing_shows_log_stderr_only_when_the_function_sets_it()
    {
        Proc[] functions = [new("quiet", "cat", [], logStderr: false), new("loud", "cat", [], logStderr: true), new("default", "cat", [])];

        Assert.Equal("quiet: cat\n  log-stderr: false\nloud: cat\n  log-stderr: true\ndefault: cat\n", FunctionListing.Format(functions));
    }

    [Fact]
    public void The_listing_shows_the_http_options_and_mode_only_when_it_is_http()
    {
        Proc[] functions =
        [
            new("web", "./web", ["--port", "9000"], mode: FunctionMode.Http, replicas: 2, readyPath: "/healthz?deep=1",
                idleStopMilliseconds: 10 * 60 * 1000, startTimeoutMilliseconds: 1500),
            new("api", "./api", [], timeoutMilliseconds: 5000, mode: FunctionMode.Http),
            new("cat", "cat", [], mode: FunctionMode.Exec),
        ];

        Assert.Equal(
            "web: ./web --port 9000\n  mode: http\n  replicas: 2\n  ready: /healthz?deep=1\n  idle-stop: 10m\n  start-timeout: 1500ms\n"
            + "api: ./api\n  timeout: 5s\n  mode: http\n"
            + "cat: cat\n",
            FunctionListing.Format(functions));
    }

    [Fact]
    public void The_system_api_annotates_an_http_function_with_its_options_and_not_the_exec_defaults()
    {
        Proc web = new("web", "./web", [], mode: FunctionMode.Http, replicas: 2, readyPath: "/ready", idleStopMilliseconds: 90_000, startTimeoutMilliseconds: 30_000);
        var catalog = new FunctionCatalog(_ => null, new RunLimits(), _ => null, _ => throw new InvalidOperationException("no invoker is made"));

        using JsonDocument json = JsonDocument.Parse(SystemApi.Describe(web, catalog, new ServerLifecycle()));
        Dictionary<string, string?> annotations = json.RootElement.GetProperty("annotations").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());

        Assert.Equal(
            new Dictionary<string, string?>
            {
                ["com.aotfaas.methods"] = "POST",
                ["com.aotfaas.mode"] = "http",
                ["com.aotfaas.replicas"] = "2",
                ["com.aotfaas.ready"] = "/ready",
                ["com.aotfaas.idle-stop"] = "90s",
                ["com.aotfaas.start-timeout"] = "30s",
            },
            annotations);
    }

    [Fact]
    public void The_listing_shows_async_only_when_true_and_async_queue_when_set()
    {
        Proc[] functions =
        [
            new("jobs", "./jobs", [], timeoutMilliseconds: 60_000, takesAsync: true, asyncQueue: 250),
            new("web", "./web", [], mode: FunctionMode.Http, replicas: 2, takesAsync: true),
            new("sync", "cat", [], takesAsync: false),
        ];

        Assert.Equal(
            "jobs: ./jobs\n  timeout: 1m\n  async: true\n  async-queue: 250\n"
            + "web: ./web\n  mode: http\n  replicas: 2\n  async: true\n"
            + "sync: cat\n",
            FunctionListing.Format(functions));
    }

    [Fact]
    public void The_system_api_annotates_a_function_with_its_async_options()
    {
        var catalog = new FunctionCatalog(_ => null, new RunLimits(), _ => null, _ => throw new InvalidOperationException("no invoker is made"));
        Dictionary<string, string?> Annotations(Proc proc)
        {
            using JsonDocument json = JsonDocument.Parse(SystemApi.Describe(proc, catalog, new ServerLifecycle()));
            return json.RootElement.GetProperty("annotations").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        }

        Dictionary<string, string?> jobs = Annotations(new("jobs", "./jobs", [], takesAsync: true, asyncQueue: 5000));
        Dictionary<string, string?> sync = Annotations(new("sync", "cat", []));

        Assert.Equal("true", jobs["com.aotfaas.async"]);
        Assert.Equal("5000", jobs["com.aotfaas.async-queue"]);
        Assert.DoesNotContain("com.aotfaas.async", sync.Keys);
        Assert.DoesNotContain("com.aotfaas.async-queue", sync.Keys);
    }

    [Fact]
    public void The_repository_manifest_is_compiled_into_the_table()
    {
        Proc greet = Assert.IsType<Proc>(FunctionTable.GetProcByFuncName("greet"));

        Assert.Equal("sh", greet.Executable);
        Assert.Equal(["-c", "printf \"hello, %s\" \"$(cat)\""], greet.Argv.ToArray());
        Assert.Contains(FunctionTable.All, proc => proc.FuncName == "cat");
        Assert.Null(FunctionTable.GetProcByFuncName("no-such-function"));
    }
}
