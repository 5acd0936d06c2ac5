using Sluice.Stack.Tcp;
using Sluice.Stack.Time;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>Packetization-layer path MTU black-hole detection (net.inet.tcp.pmtud_blackhole_detection, tcp_timer_rexmt).</summary>
public sealed class TcpPathMtuTests
{
    [Theory]
    [InlineData("freebsd", "1", 1200)]
    [InlineData("rack", "1", 1200)]
    [InlineData("freebsd", "0", 0)]
    public void BlackHoleDetectionLowersTheMssUntilSegmentsGetThrough(string block, string detect, int expectedMss)
    {
        var net = new TcpPair(block, oneWayDelayNs: Nanos.FromMilliseconds(10));
        Assert.True(net.Client.Sysctl.TrySet("net.inet.tcp.pmtud_blackhole_detection", detect).Succeeded);
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        Assert.Equal(1460, c.ControlBlock!.Mss);

        // A path that silently loses IPv4 packets above 1300 bytes and sends no ICMP.
        net.ClientLink.Drop = f => f.Data.Length > 14 + 1300;
        var data = TcpPair.Pattern(30_000, 2);
        var received = net.Transfer(c, s, data, timeoutNs: 120 * Nanos.PerSecond, close: false);
        if (expectedMss == 0)
        {
            Assert.True(received.Length < data.Length); // without detection nothing full-sized ever arrives
            Assert.Equal(1460, c.ControlBlock.Mss);
            Assert.Equal(0, net.Client.Tcp.Statistics.tcps_pmtud_blackhole_activated);
            return;
        }

        Assert.Equal(data, received);
        Assert.Equal(expectedMss, c.ControlBlock.Mss); // net.inet.tcp.pmtud_blackhole_mss
        Assert.Equal(1, net.Client.Tcp.Statistics.tcps_pmtud_blackhole_activated);
        Assert.Equal(0, net.Client.Tcp.Statistics.tcps_pmtud_blackhole_failed);
    }
}
