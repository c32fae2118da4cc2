using System.Diagnostics;
using AotFaas.Execution;

// Usage: SpawnBench SECONDS WORKERS BODY_BYTES
// Each worker runs `cat` in a loop: write the body to stdin, read stdout and stderr to their end, reap.
// Prints one line per spawner: name, spawns/s, bytes allocated per spawn (all threads).
double seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
int workers = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 2;
byte[] body = new byte[args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1024];
Array.Fill(body, (byte)'x');
ProcessEnvironment environment = ProcessEnvironment.FromCurrentProcess();

async Task<long> ChildProcessRun()
{
    using var stdout = new OutputBuffer();
    using var stderr = new OutputBuffer();
    using ChildProcess child = ChildProcess.Start("cat", [], environment, stdout, stderr);
    await child.WriteInputAsync(body, CancellationToken.None);
    child.CloseInput();
    await child.Completion;
    return stdout.Length;
}

async Task<long> ProcessRun()
{
    var start = new ProcessStartInfo("cat") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    using Process process = Process.Start(start)!;
    var stdout = new MemoryStream();
    var stderr = new MemoryStream();
    Task reading = Task.WhenAll(process.StandardOutput.BaseStream.CopyToAsync(stdout), process.StandardError.BaseStream.CopyToAsync(stderr));
    await process.StandardInput.BaseStream.WriteAsync(body);
    process.StandardInput.Close();
    await reading;
    await process.WaitForExitAsync();
    return stdout.Length;
}

async Task Measure(string name, Func<Task<long>> run)
{
    for (int i = 0; i < 50; i++)
    {
        await run();
    }

    long count = 0;
    long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
    var clock = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
    {
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            if (await run() != body.Length)
            {
                throw new InvalidOperationException(name + ": short output");
            }

            Interlocked.Increment(ref count);
        }
    })));
    double elapsed = clock.Elapsed.TotalSeconds;
    long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
    Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{name} {count / elapsed:F0} {allocated / count}"));
}

await Measure("ChildProcess", ChildProcessRun);
await Measure("Process.Start", ProcessRun);
