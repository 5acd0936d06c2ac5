using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Sluice.Interop.Tests.Infrastructure;

namespace Sluice.Interop.Tests.Wan;

/// <summary>
/// <c>sluice wan</c> as a process between two network namespaces (each gets one of its TAP devices): Linux ping and
/// curl across the emulated WAN.
/// </summary>
/// <remarks>
/// Real time: the bounds are deliberately loose (timer and scheduling jitter of a loaded CI host); the exact
/// behaviour is tested on virtual time in Sluice.Ipfw.Tests.
/// </remarks>
public sealed class SluiceWanTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [InteropFact]
    public void FiftyMillisecondsEachWayGivePingARoundTripOfAHundred()
    {
        using var wan = Wan.Start(output, "delay 50ms", "delay 50ms");
        // The first ping also waits for ARP across the WAN: warm up, then measure.
        wan.A.Exec(Bound, "ping", "-c", "1", "-W", "3", "192.0.2.2");
        var ping = wan.A.Exec(Bound, "ping", "-c", "5", "-i", "0.3", "-W", "3", "192.0.2.2");
        Assert.True(ping.Succeeded, ping.ToString());
        Assert.Contains("5 packets transmitted, 5 received, 0% packet loss", ping.Stdout, StringComparison.Ordinal);
        var rtts = Regex.Matches(ping.Stdout, @"time=([\d.]+) ms").Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(5, rtts.Count);
        // Emulated delay is never shorter than configured; one round trip may be stretched by the scheduler on a busy
        // machine (the suite runs all projects in parallel on two cores), so the upper bound holds for the median.
        Assert.All(rtts, rtt => Assert.True(rtt >= 95, $"round trip {rtt} ms is shorter than the 100 ms the pipes add"));
        rtts.Sort();
        Assert.InRange(rtts[rtts.Count / 2], 95, 150);
    }

    [InteropFact]
    public void OneMegabitPerSecondMakesAOneMegabyteDownloadTakeAboutEightSeconds()
    {
        using var wan = Wan.Start(output, "bw 1Mbit/s", "bw 1Mbit/s");
        var dir = Path.Combine(Path.GetTempPath(), "sluice-wan-" + NetNamespace.RandomHex(4));
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "1m.bin"), new byte[1_000_000]);
            var pidFile = Path.Combine(dir, "server.pid");
            var server = wan.B.ExecAsync(TimeSpan.FromSeconds(40), "sh", "-c",
                $"python3 -m http.server -b 192.0.2.2 -d {dir} 8080 >/dev/null 2>&1 & echo $! > {pidFile}; wait");
            try
            {
                var ready = false;
                for (var i = 0; i < 50 && !ready; i++)
                {
                    ready = wan.B.Exec("python3", "-c", "import socket; socket.create_connection(('192.0.2.2', 8080), 1)").Succeeded;
                    if (!ready)
                    {
                        Thread.Sleep(100);
                    }
                }

                Assert.True(ready, "http.server did not start");
                var curl = wan.A.Exec(TimeSpan.FromSeconds(30), "curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", "http://192.0.2.2:8080/1m.bin");
                Assert.True(curl.Succeeded, curl.ToString());
                var parts = curl.Stdout.Split(' ');
                Assert.Equal("1000000", parts[0]);
                var seconds = double.Parse(parts[1], CultureInfo.InvariantCulture);
                output.WriteLine($"1 MB at 1 Mbit/s: {seconds:F2} s");
                // 8 Mbit of body plus TCP/IP headers (~3%) at 1 Mbit/s of IP bytes: about 8.3 s.
                Assert.InRange(seconds, 7.5, 11);
            }
            finally
            {
                if (File.Exists(pidFile))
                {
                    Command.Run("kill", [File.ReadAllText(pidFile).Trim()]);
                }

                server.Wait(TimeSpan.FromSeconds(10));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Two namespaces A (192.0.2.1) and B (192.0.2.2) joined through a <c>sluice wan</c> process.</summary>
    private sealed class Wan : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _stderr = new();
        private readonly StringBuilder _stdout = new();
        private readonly ITestOutputHelper _log;

        private Wan(Process process, NetNamespace a, NetNamespace b, ITestOutputHelper log)
        {
            _process = process;
            A = a;
            B = b;
            _log = log;
        }

        public NetNamespace A { get; }

        public NetNamespace B { get; }

        public static Wan Start(ITestOutputHelper log, string ab, string ba)
        {
            var a = NetNamespace.Create(log);
            var b = NetNamespace.Create(log);
            var tapA = NetNamespace.NewDeviceName("swa");
            var tapB = NetNamespace.NewDeviceName("swb");
            var psi = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "sluice"))
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { "wan", "-t", "60", "--ab", ab, "--ba", ba, "tap:" + tapA, "tap:" + tapB })
            {
                psi.ArgumentList.Add(arg);
            }

            var wan = new Wan(Process.Start(psi)!, a, b, log);
            wan._process.OutputDataReceived += (_, e) => { lock (wan._stdout) { wan._stdout.AppendLine(e.Data); } };
            wan._process.ErrorDataReceived += (_, e) => { lock (wan._stderr) { wan._stderr.AppendLine(e.Data); } };
            wan._process.BeginOutputReadLine();
            wan._process.BeginErrorReadLine();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20); // clock-ok: interop wait bound
            while (!wan.Stderr.Contains("running", StringComparison.Ordinal) && !wan._process.HasExited && DateTime.UtcNow < deadline) // clock-ok
            {
                Thread.Sleep(50);
            }

            Assert.True(wan.Stderr.Contains("running", StringComparison.Ordinal), wan.Stderr);
            a.AdoptAndConfigure(tapA, "192.0.2.1/24", ipv6: null);
            b.AdoptAndConfigure(tapB, "192.0.2.2/24", ipv6: null);
            return wan;
        }

        private string Stderr
        {
            get
            {
                lock (_stderr)
                {
                    return _stderr.ToString();
                }
            }
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                Command.Run("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)]);
                if (!_process.WaitForExit(10_000))
                {
                    _process.Kill(entireProcessTree: true);
                }
            }

            _process.WaitForExit();
            lock (_stdout)
            {
                _log.WriteLine(_stdout.ToString());
            }

            _log.WriteLine(Stderr);
            _process.Dispose();
            A.Dispose();
            B.Dispose();
        }
    }
}
