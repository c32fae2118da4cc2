using AotFaas.Functions;
using AotFaas.Hosting;

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
    public void The_repository_manifest_is_compiled_into_the_table()
    {
        Proc greet = Assert.IsType<Proc>(FunctionTable.GetProcByFuncName("greet"));

        Assert.Equal("sh", greet.Executable);
        Assert.Equal(["-c", "printf \"hello, %s\" \"$(cat)\""], greet.Argv.ToArray());
        Assert.Contains(FunctionTable.All, proc => proc.FuncName == "cat");
        Assert.Null(FunctionTable.GetProcByFuncName("no-such-function"));
    }
}
