using System.Net;
using AotFaas.Functions;

namespace AotFaas.Tests.Http;

/// <summary>A bare program name is looked up on the server's PATH when it runs, and again when the file found goes away.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PathLookupTests : IAsyncLifetime
{
    private readonly string _first = Directory.CreateTempSubdirectory("aotfaas-path-a-").FullName;
    private readonly string _second = Directory.CreateTempSubdirectory("aotfaas-path-b-").FullName;
    private TestServer? _server;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        var tool = new Proc("tool", "aotfaas-test-tool", []);
        string path = $"{_first}:{_second}:/usr/bin:/bin";
        _server = await TestServer.StartAsync([tool], environment: name => name == "PATH" ? path : null);
        _client = _server.Client;
    }

    public async Task DisposeAsync()
    {
        await _server!.DisposeAsync();
        Directory.Delete(_first, recursive: true);
        Directory.Delete(_second, recursive: true);
    }

    private static void WriteTool(string directory, string output)
    {
        string file = Path.Combine(directory, "aotfaas-test-tool");
        File.WriteAllText(file, $"#!/bin/sh\necho {output}\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserExecute);
    }

    private async Task<string> RunAsync()
    {
        using HttpResponseMessage response = await _client.PostAsync("/function/tool", new StringContent(string.Empty));
        return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
    }

    [Fact]
    public async Task The_program_is_found_on_PATH_and_found_again_after_it_moves()
    {
        Assert.StartsWith("500 cannot run 'aotfaas-test-tool': No such file or directory", await RunAsync(), StringComparison.Ordinal);

        WriteTool(_second, "second");
        Assert.Equal("200 second\n", await RunAsync());

        File.Delete(Path.Combine(_second, "aotfaas-test-tool"));
        WriteTool(_first, "first");
        Assert.Equal("200 first\n", await RunAsync());
    }

    [Fact]
    public async Task A_directory_of_the_same_name_is_skipped()
    {
        Directory.CreateDirectory(Path.Combine(_first, "aotfaas-test-tool"));
        WriteTool(_second, "the file");

        Assert.Equal("200 the file\n", await RunAsync());
    }
}
