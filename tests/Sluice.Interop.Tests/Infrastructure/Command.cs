using System.Diagnostics;
using System.Text;

namespace Sluice.Interop.Tests.Infrastructure;

/// <summary>What a finished (or killed) command left behind.</summary>
public sealed record CommandResult(string CommandLine, int ExitCode, string Stdout, string Stderr, bool TimedOut)
{
    /// <summary>True when the command exited with status 0 in time.</summary>
    public bool Succeeded => ExitCode == 0 && !TimedOut;

    /// <summary>Throws with the full output unless the command succeeded.</summary>
    public CommandResult EnsureSuccess()
    {
        if (!Succeeded)
        {
            throw new InvalidOperationException($"Command failed: {this}");
        }

        return this;
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"`{CommandLine}` exit {ExitCode}{(TimedOut ? " (killed: timed out)" : string.Empty)}\n--- stdout\n{Stdout}--- stderr\n{Stderr}";
}

/// <summary>Runs a program with a bounded lifetime, capturing its output.</summary>
public static class Command
{
    /// <summary>Default bound on any command.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Runs <paramref name="program"/> to completion or until <paramref name="timeout"/>, when it is killed.</summary>
    public static CommandResult Run(string program, IEnumerable<string> arguments, TimeSpan? timeout = null, ITestOutputHelper? log = null) =>
        RunAsync(program, arguments, timeout, log).GetAwaiter().GetResult();

    /// <summary>Starts <paramref name="program"/>; the task completes when it exits or is killed after <paramref name="timeout"/>.</summary>
    public static async Task<CommandResult> RunAsync(string program, IEnumerable<string> arguments, TimeSpan? timeout = null, ITestOutputHelper? log = null)
    {
        var start = new ProcessStartInfo(InteropEnvironment.FindExecutable(program) ?? program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var line = program + " " + string.Join(' ', start.ArgumentList);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var timedOut = false;
        using (var cancel = new CancellationTokenSource(timeout ?? DefaultTimeout))
        {
            try
            {
                await process.WaitForExitAsync(cancel.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Exited in the meantime.
                }
            }
        }

        // Bounded wait for the output pipes to close after exit or kill.
        using (var drain = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            try
            {
                await process.WaitForExitAsync(drain.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
            }
        }

        string outText, errText;
        lock (stdout)
        {
            outText = stdout.ToString();
        }

        lock (stderr)
        {
            errText = stderr.ToString();
        }

        var result = new CommandResult(line, process.HasExited ? process.ExitCode : -1, outText, errText, timedOut);
        Log(log, $"$ {line}  -> exit {result.ExitCode}{(timedOut ? " TIMEOUT" : string.Empty)}\n{outText}{errText}".TrimEnd());
        return result;
    }

    /// <summary>Writes to the test output (ignoring a test that has already finished).</summary>
    public static void Log(ITestOutputHelper? log, string message)
    {
        if (log is null)
        {
            Console.Error.WriteLine(message);
            return;
        }

        try
        {
            log.WriteLine(message);
        }
        catch (InvalidOperationException)
        {
            Console.Error.WriteLine(message);
        }
    }

    private static void Append(StringBuilder builder, string? data)
    {
        if (data is null)
        {
            return;
        }

        lock (builder)
        {
            builder.Append(data).Append('\n');
        }
    }
}
