using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AotFaas.EndToEnd;

/// <summary>
/// Debian's headless Chromium driven over the DevTools protocol: one page, JavaScript evaluated in it,
/// screenshots. test.sh installs the <c>chromium</c> package when it is missing.
/// </summary>
public sealed class Chromium : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private int _nextId;

    private Chromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <summary>The browser, if this machine has one.</summary>
    public static string? Executable => new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);

    /// <summary>Starts Chromium headless on <paramref name="url"/> and connects to its page.</summary>
    public static async Task<Chromium> OpenAsync(Uri url)
    {
        string executable = Executable ?? throw new InvalidOperationException("Chromium is not installed: ./test.sh installs Debian's chromium package, or run: sudo apt-get install -y chromium");
        string profile = Directory.CreateTempSubdirectory("aotfaas-chromium-").FullName;
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[]
        {
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            "--user-data-dir=" + profile, "--window-size=1280,900", url.ToString(),
        })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var browser = new Chromium(process, profile);
        try
        {
            await browser.ConnectAsync();
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    /// <summary>Evaluates <paramref name="expression"/> in the page; its value, awaited when it is a promise.</summary>
    public async Task<JsonNode?> EvaluateAsync(string expression)
    {
        JsonNode result = await SendAsync("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (result["exceptionDetails"] is JsonNode error)
        {
            throw new InvalidOperationException("the page threw: " + error.ToJsonString());
        }

        return result["result"]?["value"];
    }

    /// <summary>Evaluates <paramref name="expression"/> until it is true, for up to 15 seconds.</summary>
    public async Task WaitForAsync(string expression)
    {
        for (long deadline = Environment.TickCount64 + 15_000; Environment.TickCount64 < deadline; await Task.Delay(50))
        {
            if ((await EvaluateAsync(expression))?.GetValue<bool>() == true)
            {
                return;
            }
        }

        throw new TimeoutException("the page never satisfied: " + expression);
    }

    /// <summary>A PNG of the viewport.</summary>
    public async Task<byte[]> ScreenshotAsync()
        => Convert.FromBase64String((await SendAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png" }))["data"]!.GetValue<string>());

    public async ValueTask DisposeAsync()
    {
        _socket.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // A helper process may still hold a file for a moment; the folder is in /tmp.
        }
    }

    private async Task ConnectAsync()
    {
        // Chromium writes its DevTools port into the profile once it listens.
        string portFile = Path.Combine(_profile, "DevToolsActivePort");
        for (long deadline = Environment.TickCount64 + 30_000; !File.Exists(portFile) || new FileInfo(portFile).Length == 0; await Task.Delay(50))
        {
            if (_process.HasExited || Environment.TickCount64 > deadline)
            {
                throw new InvalidOperationException("Chromium did not start its DevTools endpoint");
            }
        }

        string port = (await File.ReadAllLinesAsync(portFile))[0];
        using var http = new HttpClient();
        for (long deadline = Environment.TickCount64 + 15_000; ; await Task.Delay(50))
        {
            JsonArray targets = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json/list"))!.AsArray();
            JsonNode? page = targets.FirstOrDefault(t => t?["type"]?.GetValue<string>() == "page");
            if (page is not null)
            {
                await _socket.ConnectAsync(new Uri(page["webSocketDebuggerUrl"]!.GetValue<string>()), CancellationToken.None);
                return;
            }

            if (Environment.TickCount64 > deadline)
            {
                throw new InvalidOperationException("Chromium opened no page");
            }
        }
    }

    private async Task<JsonNode> SendAsync(string method, JsonObject parameters)
    {
        int id = ++_nextId;
        byte[] command = Encoding.UTF8.GetBytes(new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters }.ToJsonString());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _socket.SendAsync(command, WebSocketMessageType.Text, true, timeout.Token);
        byte[] buffer = new byte[1 << 16];
        while (true)
        {
            using var message = new MemoryStream();
            WebSocketReceiveResult received;
            do
            {
                received = await _socket.ReceiveAsync(buffer, timeout.Token);
                message.Write(buffer, 0, received.Count);
            }
            while (!received.EndOfMessage);

            JsonNode reply = JsonNode.Parse(message.ToArray())!;
            if (reply["id"]?.GetValue<int>() != id)
            {
                continue;
            }

            if (reply["error"] is JsonNode error)
            {
                throw new InvalidOperationException($"{method} failed: {error.ToJsonString()}");
            }

            return reply["result"]!;
        }
    }
}
