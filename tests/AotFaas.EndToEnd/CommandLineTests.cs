using System.Net;

namespace AotFaas.EndToEnd;

/// <summary>The binary's command line and environment, and publish.sh with a broken manifest.</summary>
[Collection(nameof(PublishedBinary))]
public sealed class CommandLineTests(PublishedBinary binary)
{
    [Fact]
    public void Help_prints_usage_and_exits_0()
    {
        (int code, string output) = Repo.Run(binary.Path, ["--help"], TimeSpan.FromSeconds(30));

        Assert.Equal(0, code);
        Assert.Contains("Usage: aotfaas [options]", output, StringComparison.Ordinal);
        Assert.Contains("--urls", output, StringComparison.Ordinal);
    }

    [Fact]
    public void List_prints_the_compiled_functions_and_exits_0()
    {
        (int code, string output) = Repo.Run(binary.Path, ["--list"], TimeSpan.FromSeconds(30));

        Assert.Equal(0, code);
        Assert.Contains("cat: cat\n", output, StringComparison.Ordinal);
        Assert.Contains("upper: tr a-z A-Z\n  content-type: text/plain; charset=utf-8\n", output, StringComparison.Ordinal);
        Assert.Contains("argv: printf '%s|' \"two words\" '$HOME' \\*\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public void List_shows_the_request_and_auth_options()
    {
        (int code, string output) = Repo.Run(binary.Path, ["--list"], TimeSpan.FromSeconds(30));

        Assert.Equal(0, code);
        Assert.Contains("  auth: hmac-sha256 $E2E_HOOK_SECRET X-Hub-Signature-256\n", output, StringComparison.Ordinal);
        Assert.Contains("  methods: POST PUT\n  response: cgi\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_auth_secret_stops_the_server_before_it_listens()
    {
        int port = RunningServer.FreePort();
        (int code, string output) = Repo.Run(binary.Path, ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(30), new Dictionary<string, string> { [RunningServer.HookSecretVariable] = string.Empty });

        Assert.Equal(1, code);
        Assert.Contains("function 'hook' checks requests with auth: hmac-sha256 $E2E_HOOK_SECRET, but the environment variable E2E_HOOK_SECRET is not set (or empty)", output, StringComparison.Ordinal);
        Assert.Contains("refusing to start", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Now listening", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Log_format_json_writes_one_JSON_object_per_invocation()
    {
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--log-format", "json"]);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/function/upper") { Content = new StringContent("json") };
        request.Headers.Add("X-Request-Id", "json-log-1");

        using HttpResponseMessage response = await server.Client.SendAsync(request);

        System.Text.Json.JsonElement state = default;
        for (int i = 0; i < 100 && state.ValueKind == System.Text.Json.JsonValueKind.Undefined; i++)
        {
            await Task.Delay(30);
            foreach (string line in server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                using System.Text.Json.JsonDocument entry = System.Text.Json.JsonDocument.Parse(line);
                if (entry.RootElement.GetProperty("EventId").GetInt32() == 1)
                {
                    Assert.Equal("AotFaas.Http.FunctionEndpoint", entry.RootElement.GetProperty("Category").GetString());
                    Assert.Equal("Information", entry.RootElement.GetProperty("LogLevel").GetString());
                    state = entry.RootElement.GetProperty("State").Clone();
                }
            }
        }

        Assert.Equal("upper", state.GetProperty("Function").GetString());
        Assert.Equal("POST", state.GetProperty("Method").GetString());
        Assert.Equal("200", state.GetProperty("Status").ToString());
        Assert.Equal("0", state.GetProperty("Exit").GetString());
        Assert.Equal("4", state.GetProperty("BytesIn").ToString());
        Assert.Equal("4", state.GetProperty("BytesOut").ToString());
        Assert.Equal("json-log-1", state.GetProperty("RequestId").GetString());
    }

    [Fact]
    public async Task The_system_api_serves_the_listing_behind_its_token()
    {
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(
            binary.Path, port, ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--system-api-token-env", "E2E_LISTING_TOKEN"], new Dictionary<string, string> { ["E2E_LISTING_TOKEN"] = "e2e-listing" });
        using var request = new HttpRequestMessage(HttpMethod.Get, "/system/functions");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "e2e-listing");

        using HttpResponseMessage allowed = await server.Client.SendAsync(request);
        using HttpResponseMessage refused = await server.Client.GetAsync("/system/functions");
        using System.Text.Json.JsonDocument listing = System.Text.Json.JsonDocument.Parse(await allowed.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains(listing.RootElement.EnumerateArray(), f => f.GetProperty("name").GetString() == "upper" && f.GetProperty("envProcess").GetString() == "tr a-z A-Z");

        // What faas-cli describe and faas-cli version ask, from the trimmed binary (source-generated JSON, its version attribute).
        server.Client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "e2e-listing");
        using System.Text.Json.JsonDocument upper = System.Text.Json.JsonDocument.Parse(await server.Client.GetStringAsync("/system/function/upper"));
        using System.Text.Json.JsonDocument info = System.Text.Json.JsonDocument.Parse(await server.Client.GetStringAsync("/system/info"));
        Assert.Equal("tr", upper.RootElement.GetProperty("image").GetString());
        Assert.Equal("text/plain; charset=utf-8", upper.RootElement.GetProperty("annotations").GetProperty("com.aotfaas.content-type").GetString());
        Assert.Equal("aotfaas", info.RootElement.GetProperty("provider").GetProperty("provider").GetString());
        Assert.Matches("^[0-9]+\\.[0-9]+\\.[0-9]+$", info.RootElement.GetProperty("version").GetProperty("release").GetString());
        Assert.Matches("^[0-9a-f]{40}$", info.RootElement.GetProperty("version").GetProperty("sha").GetString());
    }

    [Fact]
    public void A_missing_system_api_token_stops_the_server()
    {
        (int code, string output) = Repo.Run(binary.Path, ["--port", "0", "--system-api-token-env", "E2E_UNSET_TOKEN"], TimeSpan.FromSeconds(30), new Dictionary<string, string> { [RunningServer.HookSecretVariable] = RunningServer.HookSecret });

        Assert.Equal(1, code);
        Assert.Contains("--system-api-token-env names E2E_UNSET_TOKEN, which is not set (or empty); refusing to start", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Signals_the_server_was_started_with_ignored_are_at_their_defaults_in_functions()
    {
        // nohup, or a shell's background job, starts a program with SIGHUP, SIGINT or SIGQUIT ignored; exec keeps that.
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(
            "/bin/sh", port, ["-c", "trap '' HUP INT QUIT; exec \"$0\" \"$@\"", binary.Path, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

        using HttpResponseMessage response = await server.Client.PostAsync("/function/sigign", new StringContent(string.Empty));
        Dictionary<string, ulong> masks = (await response.Content.ReadAsStringAsync()).Trim().Split('\n')
            .Select(line => line.Split(":\t"))
            .ToDictionary(parts => parts[0], parts => ulong.Parse(parts[1], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture));

        // The server itself does have them ignored (SIGPIPE too), which is what makes the check meaningful.
        string serverStatus = await File.ReadAllTextAsync($"/proc/{server.ProcessId}/status");
        ulong serverIgnored = ulong.Parse(serverStatus.Split('\n').Single(l => l.StartsWith("SigIgn:", StringComparison.Ordinal))[7..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(0x1007UL, serverIgnored & 0x1007UL);
        Assert.Equal(0UL, masks["SigIgn"] & 0x7FFF_FFFFUL);
        Assert.Equal(0UL, masks["SigBlk"] & 0x7FFF_FFFFUL);
    }

    [Fact]
    public void An_unknown_option_exits_2_with_a_message()
    {
        (int code, string output) = Repo.Run(binary.Path, ["--bogus"], TimeSpan.FromSeconds(30));

        Assert.Equal(2, code);
        Assert.Contains("unknown option '--bogus'", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_port_option_listens_on_loopback()
    {
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

        using HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("via --port"));

        Assert.Equal("via --port", await response.Content.ReadAsStringAsync());
        for (int i = 0; i < 100 && !server.Output.Contains("Now listening on", StringComparison.Ordinal); i++)
        {
            await Task.Delay(20);
        }

        Assert.Contains($"Now listening on: http://127.0.0.1:{port}", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_PORT_variable_is_honoured()
    {
        int port = RunningServer.FreePort();
        await using RunningServer server = await RunningServer.StartAsync(binary.Path, port, [], new Dictionary<string, string> { ["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) });

        using HttpResponseMessage response = await server.Client.PostAsync("/function/cat", new StringContent("via PORT"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("via PORT", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_port_in_use_is_a_clear_error_with_exit_code_1()
    {
        int port = RunningServer.FreePort();
        await using RunningServer first = await RunningServer.StartAsync(binary.Path, port, ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

        (int code, string output) = Repo.Run(binary.Path, ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(30), new Dictionary<string, string> { [RunningServer.HookSecretVariable] = RunningServer.HookSecret });

        Assert.Equal(1, code);
        Assert.Contains("address already in use", output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void An_address_that_cannot_be_bound_is_a_clear_error_and_a_host_name_a_usage_error()
    {
        // 192.0.2.1 (TEST-NET-1) is no interface's address here: the kernel refuses the bind itself.
        Dictionary<string, string> environment = new() { [RunningServer.HookSecretVariable] = RunningServer.HookSecret };
        (int code, string output) = Repo.Run(binary.Path, ["--urls", "http://192.0.2.1:3999"], TimeSpan.FromSeconds(30), environment);

        Assert.Equal(1, code);
        Assert.Contains("aotfaas: cannot listen on 192.0.2.1:3999: Cannot assign requested address (no interface of this host has that address)", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);

        // A mistyped localhost is refused before anything listens, not served on every interface.
        (int typo, string typoOutput) = Repo.Run(binary.Path, ["-H", "locahost", "--port", "3999"], TimeSpan.FromSeconds(30), environment);

        Assert.Equal(2, typo);
        Assert.Contains("aotfaas: 'http://locahost:3999': 'locahost' is not an address to listen on", typoOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void A_broken_manifest_fails_publish_with_line_and_column()
    {
        string manifest = Path.Combine(Path.GetTempPath(), $"aotfaas-broken-{Guid.NewGuid():N}.faas");
        File.WriteAllText(manifest, "cat: cat\n  content-typ: text/plain\nok: true\nbad: \"unterminated\n");
        try
        {
            (int code, string output) = Repo.Publish(manifest, "-o", Path.Combine(Repo.Root, "artifacts", "e2e", "broken"));

            Assert.Equal(1, code);
            Assert.Contains($"{manifest}(2,3): error FAAS006: Unknown option 'content-typ'", output, StringComparison.Ordinal);
            Assert.Contains($"{manifest}(4,6): error FAAS005: Unterminated double quote", output, StringComparison.Ordinal);
            Assert.DoesNotContain("error CS", output, StringComparison.Ordinal);

            // The development server prints the build's lines, less MSBuild's ' [project]', and nothing else.
            (int devCode, string devOutput) = Repo.Run(Path.Combine(Repo.Root, "dev.sh"), [manifest, "--list"], TimeSpan.FromMinutes(10));
            string[] built = output.Split('\n').Where(line => line.StartsWith(manifest + "(", StringComparison.Ordinal))
                .Select(line => System.Text.RegularExpressions.Regex.Replace(line, @" \[[^\]]*\.csproj\]$", string.Empty)).Distinct().ToArray();
            string[] served = devOutput.Split('\n').Where(line => line.Length > 0 && !line.StartsWith("dev.sh: ", StringComparison.Ordinal)).ToArray();
            Assert.Equal(1, devCode);
            Assert.Equal(2, built.Length);
            Assert.Equal(built, served);
        }
        finally
        {
            File.Delete(manifest);
        }
    }

    [Fact]
    public void A_missing_manifest_fails_publish_with_a_clear_message()
    {
        (int code, string output) = Repo.Publish("/nonexistent/functions.faas");

        Assert.Equal(1, code);
        Assert.Contains("manifest '/nonexistent/functions.faas' not found", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Publishing_reports_the_binary_path_and_size()
    {
        Assert.Contains($"publish.sh: {binary.Path} (", binary.PublishLog, StringComparison.Ordinal);
        Assert.True(new FileInfo(binary.Path).Length > 0);
    }
}
