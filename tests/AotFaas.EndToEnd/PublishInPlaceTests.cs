using System.Net;

namespace AotFaas.EndToEnd;

/// <summary>
/// <c>publish.sh</c> over the folder a server is running from: the new binary is renamed into place, so the
/// running one keeps its file and goes on serving, and never sees half a new one.
/// </summary>
[Collection(nameof(PublishedBinary))]
public sealed class PublishInPlaceTests(PublishedBinary binary)
{
    [Fact]
    public async Task Publishing_over_a_running_server_replaces_its_file_by_a_rename_and_it_goes_on_serving()
    {
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--urls", $"http://127.0.0.1:{port}"]);
        long before = Inode(binary.Path);

        (int exitCode, string log) = Repo.Publish(Repo.E2eManifest, "-o", Path.GetDirectoryName(binary.Path)!);

        Assert.True(exitCode == 0, "publish.sh failed over a running server:\n" + log);
        Assert.NotEqual(before, Inode(binary.Path));
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(binary.Path)!, ".publish.*"));
        using HttpResponseMessage response = await server.Client.PostAsync("/function/greet", new StringContent("world"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hello, world", await response.Content.ReadAsStringAsync());
    }

    private static long Inode(string path)
    {
        var start = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true };
        using var stat = System.Diagnostics.Process.Start(start)!;
        string output = stat.StandardOutput.ReadToEnd();
        stat.WaitForExit();
        return long.Parse(output.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
