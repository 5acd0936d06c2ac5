using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;

namespace Sluice.Stack.Tests.Tcp;

public sealed class TcpRecoveryTests
{
    [Theory]
    [InlineData("freebsd", 11)]
    [InlineData("rack", 11)]
    [InlineData("freebsd", 12)]
    [InlineData("rack", 12)]
    public void LossyReorderingLinkStillDeliversExactBytes(string block, int seed)
    {
        var net = new TcpPair(block, oneWayDelayNs: Nanos.FromMilliseconds(10), seed: seed);
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        var rng = new Random(seed);
        net.ClientLink.Drop = f => ImpairedLink.TryTcp(f, out _, out var len) && len > 0 && rng.NextDouble() < 0.03;
        net.ClientLink.ExtraDelay = f => ImpairedLink.TryTcp(f, out _, out var len) && len > 0 && rng.NextDouble() < 0.05 ? Nanos.FromMilliseconds(3) : 0;
        net.ServerLink.Drop = f => rng.NextDouble() < 0.02;
        var data = TcpPair.Pattern(512 * 1024, seed);
        var got = net.Transfer(c, s, data);
        Assert.True(data.AsSpan().SequenceEqual(got), $"received {got.Length} of {data.Length}");
        Assert.True(net.ClientLink.Dropped > 0);
        Assert.True(net.Client.Tcp.Statistics.tcps_sndrexmitpack > 0);
        Assert.True(net.Server.Tcp.Statistics.tcps_rcvoopack > 0);
    }

    [Fact]
    public void SackIsNegotiatedAndUsedForRecovery()
    {
        var net = new TcpPair("freebsd", oneWayDelayNs: Nanos.FromMilliseconds(10));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        Assert.True(c.ControlBlock!.SackEnabled);
        var count = 0;
        net.ClientLink.Drop = f => ImpairedLink.TryTcp(f, out _, out var len) && len > 0 && ++count is 40 or 41 or 90;
        var data = TcpPair.Pattern(400 * 1024);
        Assert.True(data.AsSpan().SequenceEqual(net.Transfer(c, s, data)));
        var st = net.Client.Tcp.Statistics;
        Assert.True(st.tcps_sack_recovery_episode >= 1);
        Assert.True(st.tcps_sack_rcv_blocks > 0);
        Assert.True(net.Server.Tcp.Statistics.tcps_sack_send_blocks > 0);
        Assert.Equal(0, st.tcps_rexmttimeo);
    }

    [Fact]
    public void NewRenoWithoutSackRecoversByFastRetransmit()
    {
        var net = new TcpPair("freebsd", oneWayDelayNs: Nanos.FromMilliseconds(10));
        net.Client.Sysctl.TrySet("net.inet.tcp.sack.enable", "0");
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        Assert.False(c.ControlBlock!.SackEnabled);
        var count = 0;
        net.ClientLink.Drop = f => ImpairedLink.TryTcp(f, out _, out var len) && len > 0 && ++count == 50;
        var data = TcpPair.Pattern(300 * 1024);
        Assert.True(data.AsSpan().SequenceEqual(net.Transfer(c, s, data)));
        Assert.True(net.Client.Tcp.Statistics.tcps_sndrexmitpack >= 1);
        Assert.Equal(0, net.Client.Tcp.Statistics.tcps_rexmttimeo);
    }

    /// <summary>Sends a burst whose last two data segments are lost; returns virtual ns until everything was acknowledged.</summary>
    private static (long Elapsed, TcpStatistics Stats) TailLoss(string block)
    {
        var net = new TcpPair(block, oneWayDelayNs: Nanos.FromMilliseconds(20));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, x => x.SetOption(TcpSocketOption.TCP_NODELAY, 1));
        // Warm up RTT estimates with a few request/response exchanges.
        for (var i = 0; i < 5; i++)
        {
            net.Transfer(c, s, TcpPair.Pattern(1000, i), close: false);
        }

        var mss = c.ControlBlock!.Mss;
        var burst = TcpPair.Pattern(8 * 1400);
        var segments = 0;
        var total = (burst.Length + 1399) / 1400;
        var dropped = 0;
        net.ClientLink.Drop = f =>
        {
            if (!ImpairedLink.TryTcp(f, out _, out var len) || len == 0)
            {
                return false;
            }

            segments++;
            if (segments >= total - 1 && dropped < 2)
            {
                dropped++;
                return true;
            }

            return false;
        };
        _ = mss;
        var start = net.Loop.Now;
        var got = net.Transfer(c, s, burst, close: false);
        Assert.True(burst.AsSpan().SequenceEqual(got));
        Assert.True(net.Loop.RunUntil(() => c.ControlBlock!.SndUna == c.ControlBlock.SndMax, 30 * Nanos.PerSecond));
        Assert.Equal(2, dropped);
        return (net.Loop.Now - start, net.Client.Tcp.Statistics);
    }

    [Fact]
    public void RackTailLossProbeRecoversSoonerThanFreeBsdRto()
    {
        var (freebsd, fs) = TailLoss("freebsd");
        var (rack, rs) = TailLoss("rack");
        Assert.True(fs.tcps_rexmttimeo >= 1, "the default stack needs an RTO for a tail loss");
        Assert.True(rs.rack_tlp_sent >= 1, "rack sends a tail loss probe");
        Assert.Equal(0, rs.tcps_rexmttimeo);
        Assert.True(rack < freebsd, $"rack {Nanos.ToMilliseconds(rack)} ms vs freebsd {Nanos.ToMilliseconds(freebsd)} ms");
    }

    [Fact]
    public void RackDetectsLossByTimeAndUsesPrr()
    {
        var net = new TcpPair("rack", oneWayDelayNs: Nanos.FromMilliseconds(10));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        var count = 0;
        net.ClientLink.Drop = f => ImpairedLink.TryTcp(f, out _, out var len) && len > 0 && ++count is 30 or 60 or 61 or 62;
        var data = TcpPair.Pattern(400 * 1024);
        Assert.True(data.AsSpan().SequenceEqual(net.Transfer(c, s, data)));
        var st = net.Client.Tcp.Statistics;
        Assert.True(st.rack_loss_marked >= 4);
        Assert.True(st.rack_prr_sndcnt > 0);
        Assert.Equal(0, st.tcps_rexmttimeo);
    }

    [Theory]
    [InlineData("newreno")]
    [InlineData("cubic")]
    public void CongestionControlModulesCompleteLossyTransfers(string cc)
    {
        var net = new TcpPair("freebsd", oneWayDelayNs: Nanos.FromMilliseconds(10));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, x => Assert.Equal(Errno.None, x.SetCongestionControl(cc)));
        Assert.Equal(cc, c.CongestionControlName);
        var rng = new Random(5);
        net.ClientLink.Drop = f => ImpairedLink.TryTcp(f, out _, out var len) && len > 0 && rng.NextDouble() < 0.01;
        var data = TcpPair.Pattern(512 * 1024);
        Assert.True(data.AsSpan().SequenceEqual(net.Transfer(c, s, data)));
        Assert.Equal(Errno.ENOENT, c.SetCongestionControl("bbr"));
    }
}
