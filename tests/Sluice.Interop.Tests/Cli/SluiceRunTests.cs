using System.Diagnostics;
using System.Text;
using Sluice.Interop.Tests.Infrastructure;

namespace Sluice.Interop.Tests.Cli;

/// <summary><c>sluice run</c> as a process: a live appliance that Linux reaches, stopped by SIGINT, SIGTERM or <c>-t</c>.</summary>
public sealed class SluiceRunTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [InteropTheory]
    [InlineData("INT")]
    [InlineData("TERM")]
    public void SignalStopsTheApplianceWhichEndsItsCaptureAndRemovesItsDevice(string signal)
    {
        var prefix = "s" + NetNamespace.RandomHex(3);
        var lab = Path.Combine(Path.GetTempPath(), $"sluice-run-{prefix}.lab");
        var pcap = Path.Combine(Path.GetTempPath(), $"sluice-run-{prefix}.pcap");
        File.WriteAllText(lab, $"""
            ifconfig tap0 create
            ifconfig tap0 inet 192.0.2.2/24 up
            tcpdump -i tap0 -U -w {pcap}
            echo ready
            """);
        using var ns = NetNamespace.Create(output);
        using var sluice = SluiceProcess.Start(["run", "-p", prefix, "-t", "60", lab], output);
        try
        {
            Assert.True(sluice.WaitForStdout("ready\n", Bound), sluice.ToString());
            ns.AdoptAndConfigure(prefix + "tap0", "192.0.2.1/24", ipv6: null);
            var ping = ns.Exec(Bound, "ping", "-c", "3", "-i", "0.3", "-W", "2", "192.0.2.2");
            Assert.True(ping.Succeeded, ping.ToString());
            Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", ping.Stdout, StringComparison.Ordinal);

            Command.Run("kill", [$"-{signal}", sluice.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], log: output).EnsureSuccess();
            Assert.True(sluice.WaitForExit(TimeSpan.FromSeconds(10)), sluice.ToString());
            Assert.Equal(0, sluice.ExitCode);
            Assert.Contains("packets captured", sluice.Stderr, StringComparison.Ordinal);
            Assert.False(ns.Exec("ip", "link", "show", prefix + "tap0").Succeeded, "the TAP device outlived sluice run");

            var decoded = Command.Run("tshark", ["-n", "-r", pcap], Bound, output);
            Assert.True(decoded.Succeeded, decoded.ToString());
            Assert.DoesNotContain("[Malformed", decoded.Stdout, StringComparison.Ordinal);
            Assert.Equal(3, LiveLabTests.CountOf(decoded.Stdout, "Echo (ping) reply"));
        }
        finally
        {
            File.Delete(lab);
            File.Delete(pcap);
        }
    }

    [InteropFact]
    public void TimeLimitEndsTheRunAndAFailingScriptStillRemovesItsDevices()
    {
        var prefix = "s" + NetNamespace.RandomHex(3);
        var lab = Path.Combine(Path.GetTempPath(), $"sluice-run-{prefix}.lab");
        try
        {
            File.WriteAllText(lab, "ifconfig tap0 create\nifconfig tap0 inet 192.0.2.2/24 up\n");
            var watch = Stopwatch.StartNew();
            var timed = Command.Run(SluiceProcess.Executable, ["run", "-p", prefix, "-t", "1.5", lab], Bound, output);
            Assert.Equal(0, timed.ExitCode);
            Assert.InRange(watch.Elapsed.TotalSeconds, 1.4, 15);
            Assert.Contains("running for at most 1.5 s", timed.Stderr, StringComparison.Ordinal);
            Assert.False(Command.Run("ip", ["link", "show", prefix + "tap0"], log: output).Succeeded);

            File.WriteAllText(lab, "ifconfig tap0 create\nifconfig tap0 inet 192.0.2.300/24\n");
            var failed = Command.Run(SluiceProcess.Executable, ["run", "-p", prefix, "-t", "30", lab], Bound, output);
            Assert.Equal(1, failed.ExitCode);
            Assert.Contains(":2: ifconfig tap0 inet 192.0.2.300/24: ifconfig: 192.0.2.300/24: bad value", failed.Stderr, StringComparison.Ordinal);
            Assert.False(Command.Run("ip", ["link", "show", prefix + "tap0"], log: output).Succeeded);
        }
        finally
        {
            File.Delete(lab);
        }
    }

    /// <summary>The sluice executable built beside the tests, running with a bounded lifetime; killed on dispose.</summary>
    private sealed class SluiceProcess : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _stdout = new();
        private readonly StringBuilder _stderr = new();
        private readonly ITestOutputHelper _log;

        private SluiceProcess(Process process, ITestOutputHelper log)
        {
            _process = process;
            _log = log;
        }

        public static string Executable => Path.Combine(AppContext.BaseDirectory, "sluice");

        public int Id => _process.Id;

        public int ExitCode => _process.ExitCode;

        public string Stdout
        {
            get
            {
                lock (_stdout)
                {
                    return _stdout.ToString();
                }
            }
        }

        public string Stderr
        {
            get
            {
                lock (_stderr)
                {
                    return _stderr.ToString();
                }
            }
        }

        public static SluiceProcess Start(string[] arguments, ITestOutputHelper log)
        {
            var start = new ProcessStartInfo(Executable)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            foreach (var a in arguments)
            {
                start.ArgumentList.Add(a);
            }

            var process = new Process { StartInfo = start };
            var result = new SluiceProcess(process, log);
            process.OutputDataReceived += (_, e) => Append(result._stdout, e.Data);
            process.ErrorDataReceived += (_, e) => Append(result._stderr, e.Data);
            process.Start();
            process.StandardInput.Close();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return result;
        }

        public bool WaitForStdout(string text, TimeSpan bound)
        {
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < bound && !_process.HasExited)
            {
                if (Stdout.Contains(text, StringComparison.Ordinal))
                {
                    return true;
                }

                Thread.Sleep(50);
            }

            return Stdout.Contains(text, StringComparison.Ordinal);
        }

        public bool WaitForExit(TimeSpan bound)
        {
            if (!_process.WaitForExit(bound))
            {
                return false;
            }

            _process.WaitForExit(); // drains the output pipes
            return true;
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }

            Command.Log(_log, ToString());
            _process.Dispose();
        }

        public override string ToString() => $"sluice (pid {_process.Id})\n--- stdout\n{Stdout}--- stderr\n{Stderr}";

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
}
