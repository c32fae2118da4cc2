using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Xunit.Abstractions;

namespace AotFaas.EndToEnd;

/// <summary>
/// <c>./dev.sh</c> run as a user runs it: a save is served within a second by the same process, a broken edit
/// prints the build's lines and nothing else while the last good version keeps serving, and a run in flight
/// finishes under the definition it started with.
/// </summary>
[Collection(nameof(DevServer))]
public sealed class DevServerTests(DevServer dev, ITestOutputHelper log)
{
    private static async Task<string> PostAsync(RunningServer server, string function)
    {
        using HttpResponseMessage response = await server.Client.PostAsync("/function/" + function, new StringContent(string.Empty));
        return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
    }

    /// <summary>Asks <paramref name="function"/> until it answers <paramref name="expected"/>; the time it took, at most ten seconds.</summary>
    private static async Task<TimeSpan> UntilAnswerAsync(RunningServer server, string function, string expected, Stopwatch clock)
    {
        string answer;
        while ((answer = await PostAsync(server, function)) != expected)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"'{function}' still answers '{answer}', not '{expected}', after 10 s:\n{server.Output}");
        }

        return clock.Elapsed;
    }

    [Fact]
    public async Task A_save_is_served_in_under_a_second_by_the_same_process_without_a_build()
    {
        string folder = dev.ManifestFolder("hello: echo v0\n");
        string manifest = Path.Combine(folder, "functions.faas");
        var starting = Stopwatch.StartNew();
        await using RunningServer server = await DevServer.StartAsync(folder);
        Assert.Equal("200 v0\n", await PostAsync(server, "hello"));
        log.WriteLine($"./dev.sh: from exec to the first answer {starting.ElapsedMilliseconds} ms");
        Assert.Contains(DevServer.Banner, server.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(DevServer.Building, server.Output, StringComparison.Ordinal);

        var reloads = new List<double>();
        for (int save = 1; save <= 3; save++)
        {
            string text = $"hello: echo v{save}\n";
            var clock = Stopwatch.StartNew();
            if (save == 2)
            {
                // As editors save: write another file, rename it over the manifest.
                string aside = Path.Combine(folder, ".functions.faas.tmp");
                File.WriteAllText(aside, text);
                File.Move(aside, manifest, overwrite: true);
            }
            else
            {
                File.WriteAllText(manifest, text);
            }

            reloads.Add((await UntilAnswerAsync(server, "hello", $"200 v{save}\n", clock)).TotalMilliseconds);
        }

        double median = reloads.Order().ElementAt(reloads.Count / 2);
        string measured = string.Join(", ", reloads.Select(ms => ms.ToString("F0", CultureInfo.InvariantCulture) + " ms"));
        log.WriteLine($"save to new answer: {measured} (median {median:F0} ms)");
        Assert.True(median < 1000, $"a save took {measured} to be served (median {median:F0} ms): over a second");
        Assert.True(await server.WaitForOutputAsync("Reloaded functions.faas: 1 function in "), server.Output);

        // Reloaded, not restarted: one process, started once.
        Assert.Single(server.Output.Split('\n'), line => line.Contains(DevServer.Banner, StringComparison.Ordinal));
        Assert.Equal(0, await server.StopAsync());
    }

    [Fact]
    public async Task A_broken_edit_prints_exactly_the_builds_lines_and_the_last_good_version_keeps_serving()
    {
        string folder = dev.ManifestFolder("hello: echo good\n");
        string manifest = Path.Combine(folder, "functions.faas");
        await using RunningServer server = await DevServer.StartAsync(folder);
        Assert.Equal("200 good\n", await PostAsync(server, "hello"));
        Assert.True(await server.WaitForOutputAsync("hello POST -> 200"), server.Output);
        int mark = server.Output.Length;

        File.WriteAllText(manifest, "hello: echo broken\n  content-typ: text/plain\nbad: \"unterminated\n");

        // What the build prints for this manifest (MSBuild adds ' [project]'): see also CommandLineTests.
        string[] expected =
        [
            "functions.faas(2,3): error FAAS006: Unknown option 'content-typ'; known options: content-type, timeout, max-inflight, max-queue, max-body, max-output, env, pass-env, workdir, methods, request-env, pass-authorization, response, auth, log-stderr, mode, replicas, ready, idle-stop, start-timeout, async, async-queue",
            "functions.faas(3,6): error FAAS005: Unterminated double quote: close it on the same line",
        ];
        Assert.True(await server.WaitForOutputAsync(expected[^1]), server.Output);
        Assert.Equal("200 good\n", await PostAsync(server, "hello"));

        // Everything printed since the edit, but the line of the request just made: only the build's lines.
        Assert.True(await WaitForCountAsync(server, "hello POST -> 200", 2), server.Output);
        string[] printed = server.Output[mark..].Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(line => !line.Contains("AotFaas.Http.FunctionEndpoint[1] hello POST -> 200", StringComparison.Ordinal))
            .ToArray();
        Assert.Equal(expected, printed);

        File.WriteAllText(manifest, "hello: echo fixed\n");
        await UntilAnswerAsync(server, "hello", "200 fixed\n", Stopwatch.StartNew());
    }

    [Fact]
    public async Task A_run_in_flight_across_a_reload_finishes_under_the_old_definition_then_SIGTERM_drains()
    {
        string release = Path.Combine(dev.Folder, $"release-{Guid.NewGuid():N}");
        string folder = dev.ManifestFolder($"slow: sh -c 'while [ ! -e {release} ]; do sleep 0.01; done; echo old'\nversion: echo 1\n");
        await using RunningServer server = await DevServer.StartAsync(folder);
        Task<HttpResponseMessage> inFlight = server.Client.PostAsync("/function/slow", new StringContent(string.Empty));
        Assert.True(await server.WaitForMetricAsync("aotfaas_inflight{function=\"slow\"} 1"), "the old run never started:\n" + server.Output);

        // Asked until the new version answers: a request to 'slow' before the reload would wait for the release too.
        File.WriteAllText(Path.Combine(folder, "functions.faas"), "slow: echo new\nversion: echo 2\n");
        await UntilAnswerAsync(server, "version", "200 2\n", Stopwatch.StartNew());
        Assert.Equal("200 new\n", await PostAsync(server, "slow"));

        Assert.False(inFlight.IsCompleted, "the old run ended before the new version answered");
        File.WriteAllText(release, string.Empty);
        using HttpResponseMessage old = await inFlight;
        Assert.Equal(HttpStatusCode.OK, old.StatusCode);
        Assert.Equal("old\n", await old.Content.ReadAsStringAsync());

        // SIGTERM: the production server's drain.
        Assert.Equal(0, await server.StopAsync());
        Assert.Contains("Stopping: no new requests; runs in flight have 30 s to finish", server.Output, StringComparison.Ordinal);
        File.Delete(release);
    }

    [Fact]
    public async Task A_manifest_broken_at_start_is_reported_serves_nothing_and_is_served_once_fixed()
    {
        string folder = dev.ManifestFolder("hello: echo one\nbad\n");
        await using RunningServer server = await DevServer.StartAsync(folder);

        Assert.True(await server.WaitForOutputAsync("functions.faas has errors (above): no function is served until it compiles; fix it and save"), server.Output);
        Assert.Contains("functions.faas(2,1): error FAAS001: Line not understood: ", server.Output, StringComparison.Ordinal);
        Assert.Equal("404 ", await PostAsync(server, "hello"));

        File.WriteAllText(Path.Combine(folder, "functions.faas"), "hello: echo fixed\n");
        await UntilAnswerAsync(server, "hello", "200 fixed\n", Stopwatch.StartNew());
    }

    [Fact]
    public void Later_starts_do_not_build()
    {
        string folder = dev.ManifestFolder("hello: echo hello\n");
        log.WriteLine($"the suite's first ./dev.sh --list took {dev.FirstStart.TotalSeconds:F1} s ({(dev.FirstStartOutput.Contains(DevServer.Building, StringComparison.Ordinal) ? "it built the development server" : "no build needed")})");

        var clock = Stopwatch.StartNew();
        (int exitCode, string output) = Repo.Run(DevServer.Script, [Path.Combine(folder, "functions.faas"), "--list"], TimeSpan.FromMinutes(2));
        log.WriteLine($"./dev.sh --list: {clock.ElapsedMilliseconds} ms");

        Assert.Equal(0, exitCode);
        Assert.Contains("hello: echo hello\n", output, StringComparison.Ordinal);
        Assert.DoesNotContain(DevServer.Building, output, StringComparison.Ordinal);
    }

    private static async Task<bool> WaitForCountAsync(RunningServer server, string text, int count)
    {
        for (int i = 0; i < 500; i++)
        {
            if (server.Output.Split(text).Length - 1 >= count)
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }
}

/// <summary>The production binary has none of the development server: no manifest is read at run time.</summary>
[Collection(nameof(PublishedBinary))]
public sealed class PublishedBinaryHasNoDevServerTests(PublishedBinary binary)
{
    [Fact]
    public void The_published_binary_holds_none_of_the_development_servers_code_or_Roslyn()
    {
        byte[] image = File.ReadAllBytes(binary.Path);

        // Found when there: string literals of the server's own Program.cs (kept as UTF-16 in the binary).
        Assert.True(Holds(image, "refusing to start"), "the search finds nothing, not even a literal of Program.cs");
        foreach (string absent in new[] { DevServer.Banner[..30], "AotFaas.Dev", "ManifestLoader", "Microsoft.CodeAnalysis", "CSharpGeneratorDriver", "not reloading" })
        {
            Assert.False(Holds(image, absent), $"the published binary holds '{absent}'");
        }
    }

    private static bool Holds(byte[] image, string text)
        => image.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0 || image.AsSpan().IndexOf(Encoding.Unicode.GetBytes(text)) >= 0;
}
