using System.Text.Json.Nodes;

namespace AotFaas.EndToEnd;

/// <summary>The --portal page of the native binary in a real headless Chromium.</summary>
[Collection(nameof(PublishedBinary))]
public sealed class PortalTests(PublishedBinary binary) : IAsyncLifetime
{
    private RunningServer _server = null!;
    private Chromium _browser = null!;

    public async Task InitializeAsync()
    {
        int port = RunningServer.FreePort();
        _server = await RunningServer.StartAsync(binary.Path, port, ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--portal"]);
        _browser = await Chromium.OpenAsync(_server.Address);
        await _browser.WaitForAsync("document.readyState === 'complete' && document.querySelectorAll('li.function').length > 0");
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        await _server.DisposeAsync();
    }

    private async Task<string> TextAsync(string id) => (await _browser.EvaluateAsync($"document.getElementById('{id}').textContent"))!.GetValue<string>();

    private async Task SendAsync(string function, string body, string headers = "", string contentType = "", string secret = "")
    {
        await _browser.EvaluateAsync($$"""
            document.querySelector('li.function[data-name="{{function}}"]').click();
            document.getElementById('body').value = {{JsonValue.Create(body).ToJsonString()}};
            document.getElementById('request-headers').value = {{JsonValue.Create(headers).ToJsonString()}};
            document.getElementById('content-type').value = {{JsonValue.Create(contentType).ToJsonString()}};
            document.getElementById('secret').value = {{JsonValue.Create(secret).ToJsonString()}};
            document.getElementById('response').hidden = true;
            document.getElementById('send').click();
            """);
        await _browser.WaitForAsync("!document.getElementById('response').hidden");
    }

    [Fact]
    public async Task The_page_lists_every_compiled_function_with_its_command_line()
    {
        JsonArray listed = (await _browser.EvaluateAsync("Array.from(document.querySelectorAll('li.function'), li => [li.dataset.name, li.querySelector('code').textContent])"))!.AsArray();
        (int _, string list) = Repo.Run(binary.Path, ["--list"], TimeSpan.FromSeconds(30));

        Assert.Contains(listed, item => item![0]!.GetValue<string>() == "cat" && item[1]!.GetValue<string>() == "cat");
        Assert.Contains(listed, item => item![0]!.GetValue<string>() == "argv" && item[1]!.GetValue<string>() == "printf '%s|' \"two words\" '$HOME' \\*");
        Assert.Equal(list.Split('\n').Count(line => line.Length > 0 && !line.StartsWith(' ')), listed.Count);
    }

    [Fact]
    public async Task A_round_trip_through_cat_shows_status_headers_duration_and_body()
    {
        await SendAsync("cat", "hello from chromium ✓");

        Assert.Equal("200 OK", await TextAsync("status"));
        Assert.Equal("hello from chromium ✓", await TextAsync("response-body"));
        Assert.Equal("text", await TextAsync("view"));
        Assert.Matches("^[0-9]+\\.[0-9] ms on the server, [0-9]+\\.[0-9] ms round trip$", await TextAsync("duration"));
        Assert.Contains("x-duration-seconds: ", await TextAsync("headers"), StringComparison.Ordinal);
        Assert.Contains("x-request-id: ", await TextAsync("headers"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Functions_with_auth_are_marked_and_the_one_selected_first_needs_none()
    {
        JsonArray marked = (await _browser.EvaluateAsync("Array.from(document.querySelectorAll('li.function[data-auth]'), li => [li.dataset.name, li.dataset.auth, li.querySelector('.badge').textContent])"))!.AsArray();
        string selected = (await _browser.EvaluateAsync("document.querySelector('li.function.selected').dataset.name"))!.GetValue<string>();
        string wrap = (await _browser.EvaluateAsync("getComputedStyle(document.querySelector('li.function code')).overflowWrap + ' ' + getComputedStyle(document.querySelector('li.function code')).wordBreak"))!.GetValue<string>();

        var hook = Assert.Single(marked);
        Assert.Equal("hook", hook![0]!.GetValue<string>());
        Assert.Equal("hmac-sha256", hook[1]!.GetValue<string>());
        Assert.Equal("auth: hmac-sha256", hook[2]!.GetValue<string>());
        Assert.Null(await _browser.EvaluateAsync($"document.querySelector('li.function[data-name=\"{selected}\"]').dataset.auth ?? null"));
        Assert.Equal("anywhere normal", wrap);
    }

    [Fact]
    public async Task Request_headers_and_the_content_type_reach_the_function()
    {
        await SendAsync("request-type", "{}", headers: "X-Try: from the portal", contentType: "application/json");

        Assert.Equal("200 OK", await TextAsync("status"));
        Assert.Equal("application/json|from the portal", await TextAsync("response-body"));
    }

    [Fact]
    public async Task A_signed_webhook_function_can_be_tried_with_its_secret_and_is_401_without()
    {
        await SendAsync("hook", "payload", headers: "X-GitHub-Event: push");
        Assert.Equal("401 Unauthorized", await TextAsync("status"));

        await SendAsync("hook", "payload", headers: "X-GitHub-Event: push", secret: RunningServer.HookSecret);
        Assert.Equal("200 OK", await TextAsync("status"));
        Assert.Equal("payload|POST|push", await TextAsync("response-body"));
    }

    [Fact]
    public async Task A_binary_response_is_shown_in_hex()
    {
        await SendAsync("bytes", string.Empty);

        Assert.Equal("hex", await TextAsync("view"));
        Assert.StartsWith("00000000  01 02 ff 62 69 6e 61 72 79", await TextAsync("response-body"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failing_function_shows_its_500_and_stderr()
    {
        await SendAsync("fail", "x");

        Assert.Equal("500 Internal Server Error", await TextAsync("status"));
        Assert.Equal("bad input\n", await TextAsync("response-body"));
    }

    [Fact]
    public async Task The_page_renders()
    {
        await SendAsync("cat", "screenshot");
        byte[] file = await _browser.ScreenshotAsync();
        string saved = Path.Combine(Repo.Root, "artifacts", "e2e", "portal.png");
        await File.WriteAllBytesAsync(saved, file);

        Png png = Png.Decode(file);

        Assert.Equal(1280, png.Width);
        Assert.InRange(png.Height, 600, 900);
        // The dark header band across the top, the light page under it, and enough colours for text and boxes.
        Assert.Equal(0x1d232a, png.Pixel(640, 5));
        Assert.Equal(0xf6f8fa, png.Pixel(4, png.Height - 4));
        var colours = new HashSet<int>();
        for (int y = 0; y < png.Height; y += 3)
        {
            for (int x = 0; x < png.Width; x += 3)
            {
                colours.Add(png.Pixel(x, y));
            }
        }

        Assert.True(colours.Count > 40, $"only {colours.Count} colours: the page looks blank");
        // A selected function's outline (the accent colour) is drawn in the list.
        Assert.Contains(0x0b6bcb, colours);
    }
}
