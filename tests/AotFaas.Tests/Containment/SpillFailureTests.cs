using System.Diagnostics;
using System.Net;
using AotFaas.Execution;
using AotFaas.Functions;
using AotFaas.Tests.Http;

namespace AotFaas.Tests.Containment;

/// <summary>A temporary folder that fills up: the output could not be kept (500, with the reason), never "wrote more than max-output".</summary>
[Collection(nameof(LeakTests))]
public class SpillFailureTests
{
    [RootFact]
    public async Task Output_that_a_full_temporary_folder_cannot_keep_is_500_could_not_be_kept()
    {
        string folder = Directory.CreateTempSubdirectory("aotfaas-full-").FullName;
        Run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", folder);
        try
        {
            Proc[] procs =
            [
                new("big", "head", ["-c", "10485760", "/dev/zero"]),
                new("cgi-big", "sh", ["-c", "printf 'Content-Type: text/plain\\n\\n'; head -c 10485760 /dev/zero"], response: ResponseMode.Cgi),
                new("cat", "cat", []),
            ];
            await using TestServer server = await TestServer.StartAsync(procs, new RunLimits { TempDirectory = folder });

            foreach (string function in (string[])["big", "cgi-big"])
            {
                using HttpResponseMessage response = await server.Client.PostAsync("/function/" + function, new ByteArrayContent([]));
                string body = await response.Content.ReadAsStringAsync();

                Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
                Assert.StartsWith($"the output of '{function}' could not be kept: ", body, StringComparison.Ordinal);
            }

            // Nothing is left in the folder, and the server goes on.
            Assert.Empty(Directory.GetFileSystemEntries(folder));
            using HttpResponseMessage cat = await server.Client.PostAsync("/function/cat", new StringContent("still here"));
            Assert.Equal("still here", await cat.Content.ReadAsStringAsync());
        }
        finally
        {
            Run("umount", "-l", folder);
            Directory.Delete(folder);
        }
    }

    private static void Run(string program, params string[] arguments)
    {
        using Process process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardError = true })!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} failed: {error}");
    }
}
