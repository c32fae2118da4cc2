using AotFaas.Functions;
using AotFaas.Hosting;

namespace AotFaas.Tests.Hosting;

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
    public void The_repository_manifest_is_compiled_into_the_table()
    {
        Proc greet = Assert.IsType<Proc>(FunctionTable.GetProcByFuncName("greet"));

        Assert.Equal("sh", greet.Executable);
        Assert.Equal(["-c", "printf \"hello, %s\" \"$(cat)\""], greet.Argv.ToArray());
        Assert.Contains(FunctionTable.All, proc => proc.FuncName == "cat");
        Assert.Null(FunctionTable.GetProcByFuncName("no-such-function"));
    }
}
