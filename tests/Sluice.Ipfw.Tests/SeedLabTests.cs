using System.Globalization;
using System.Text.RegularExpressions;
using Sluice.Dummynet;
using Sluice.Stack;
using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Ipfw.Tests;

/// <summary>The seed article's dummynet example, verbatim, in a lab on virtual time.</summary>
public sealed class SeedLabTests
{
    private const string Seed = """
        ipfw pipe 1 config bw 1Mbit/s delay 50ms plr 0.01
        ipfw add 1000 pipe 1 ip from any to 203.0.113.5
        ipfw add 1010 pipe 1 ip from 203.0.113.5 to any

        """;

    private static IEnumerable<double> Rtts(string output) =>
        Regex.Matches(output, @"time=(\d+\.\d+) ms").Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));

    [Fact]
    public void OnTheSendingHostPingShowsTheAddedHundredMillisecondRoundTrip()
    {
        var (lab, stdout, _) = LabFixture.Create(Seed.Replace("ipfw", "jexec h1 ipfw", StringComparison.Ordinal)
            + "jexec h1 ipfw pipe 1 config bw 1Mbit/s delay 50ms\njexec h1 ping -c 5 203.0.113.5\n");
        using (lab)
        {
            // 50 ms each way plus 84 bytes at 1 Mbit/s (0.672 ms) each way; the epairs add nothing.
            Assert.All(Rtts(stdout.ToString()), rtt => Assert.Equal(101.344, rtt, 3));
        }
    }

    [Fact]
    public void OnARouterTheRulesMatchOnInputAndOutput()
    {
        // FreeBSD calls ipfw on both ip_input and ip_output of a forwarding router; without "in"/"via" the verbatim rules
        // put each packet through the pipe twice per direction (and the counters show two matches per packet).
        var (lab, stdout, _) = LabFixture.Create("jexec r " + Seed.Replace("\nipfw", "\njexec r ipfw", StringComparison.Ordinal)
            + "jexec r ipfw pipe 1 config bw 1Mbit/s delay 50ms\njexec h1 ping -c 3 203.0.113.5\njexec r ipfw show\n");
        using (lab)
        {
            var output = stdout.ToString();
            Assert.All(Rtts(output), rtt => Assert.Equal(202.688, rtt, 3));
            Assert.Contains("01000  6  504 pipe 1 ip from any to 203.0.113.5\n", output, StringComparison.Ordinal);
            Assert.Contains("01010  6  504 pipe 1 ip from 203.0.113.5 to any\n", output, StringComparison.Ordinal);
            Assert.Contains("65535  0    0 deny ip from any to any\n", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void LossOverTenThousandPingsIsConsistentWithOnePercentEachWay()
    {
        var (lab, stdout, _) = LabFixture.Create(Seed.Replace("ipfw", "jexec h1 ipfw", StringComparison.Ordinal)
            + "jexec h1 ping -q -c 10000 -i 0.01 203.0.113.5\njexec h1 ipfw pipe show\n");
        using (lab)
        {
            var (sent, received) = LabFixture.PingStats(stdout.ToString());
            Assert.Equal(10000, sent);
            var lost = sent - received;
            // A round trip survives two independent 1% losses.
            var p = 1 - (0.99 * 0.99);
            var (low, high) = LabFixture.Binomial999(sent, p);
            Assert.InRange(lost, low, high);
            // Each lost round trip lost exactly one packet in the pipe, counted in its drops.
            Assert.Equal(lost, DummynetInstance.Of(lab.Jail("h1")!.Stack).PacketsDropped);
        }
    }

    private sealed class Blaster(UdpSocket socket, InetEndpoint to, EventLoop loop, int size, long until) : ITimerHandler
    {
        private readonly byte[] _payload = new byte[size];

        public Timer? Timer { get; set; }

        public void OnTimer(Timer timer)
        {
            // Twice the pipe's rate keeps its queue full: the pipe, not the sender, sets the pace.
            socket.SendTo(_payload, to);
            socket.SendTo(_payload, to);
            if (loop.Now < until)
            {
                loop.ScheduleAfter(timer, 8 * Nanos.PerMillisecond);
            }
        }
    }

    [Fact]
    public void UdpAcrossAOneMegabitPipeArrivesAtOneMegabit()
    {
        var (lab, _, _) = LabFixture.Create("jexec h1 ipfw pipe 1 config bw 1Mbit/s delay 50ms\n"
            + "jexec h1 ipfw add 1000 pipe 1 ip from any to 203.0.113.5\njexec h1 ipfw add 65000 allow ip from any to any\n");
        using (lab)
        {
            var h1 = lab.Jail("h1")!.Stack;
            var h2 = lab.Jail("h2")!.Stack;
            var rx = h2.OpenUdp();
            Assert.Equal(Errno.None, rx.Bind(IPv4Address.Any, 9000));
            long bytes = 0;
            long first = -1, last = 0;
            var buffer = new byte[2048];
            rx.DataAvailable = s =>
            {
                while (s.TryReceive(buffer, out var n, out _))
                {
                    if (first < 0)
                    {
                        first = lab.Loop.Now;
                    }
                    else
                    {
                        bytes += n + 28;
                    }

                    last = lab.Loop.Now;
                }
            };
            var tx = h1.OpenUdp();
            const int Size = 972; // 1000-byte IP packets
            var start = lab.Loop.Now;
            var blaster = new Blaster(tx, new InetEndpoint(new IPv4Address(203, 0, 113, 5), 9000), lab.Loop, Size, start + (20 * Nanos.PerSecond));
            var timer = new Timer(blaster);
            lab.Loop.Schedule(timer, start);
            lab.Loop.RunFor(22 * Nanos.PerSecond);
            var rate = bytes * 8.0 / ((last - first) / (double)Nanos.PerSecond);
            Assert.True(rate is > 0.99e6 and < 1.01e6, $"rate {rate} bytes {bytes}");
            Console.WriteLine($"achieved {rate:F1} bit/s");
            Assert.True(DummynetInstance.Of(h1).PacketsDropped > 0, "the sender must overrun the pipe");
        }
    }
}
