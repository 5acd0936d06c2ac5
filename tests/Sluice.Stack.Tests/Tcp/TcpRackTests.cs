using Sluice.Stack.Sockets;
using Sluice.Stack.Sysctl;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Xunit.Abstractions;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>RACK-TLP (RFC 8985) on virtual time: the DSACK-driven reordering window and tail loss probes.</summary>
public sealed class TcpRackTests(ITestOutputHelper output)
{
    private sealed record Run(TcpStatistics Client, TcpStatistics Server, int ReoWndMult, bool Reordering);

    /// <summary>
    /// 1 MB over a 20 ms RTT path that holds back one data segment in every <paramref name="every"/> by 8 ms (longer
    /// than min_RTT/4, shorter than SRTT), with the reordering window's DSACK adaptation on or off.
    /// </summary>
    private Run PersistentReordering(bool adapt, int every = 25)
    {
        var net = new TcpPair("rack", oneWayDelayNs: Nanos.FromMilliseconds(10));
        Assert.Equal(SysctlSetStatus.Ok, net.Client.Sysctl.TrySet("net.inet.tcp.rack.misc.rack_dsack_ctl", adapt ? "3" : "1").Status);
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        Assert.True(c.ControlBlock!.SackEnabled);
        var count = 0;
        net.ClientLink.ExtraDelay = f => ImpairedLink.TryTcp(f, out _, out var len) && len > 0 && ++count % every == 0 ? Nanos.FromMilliseconds(8) : 0;
        var data = TcpPair.Pattern(1 << 20, 3);
        var got = net.Transfer(c, s, data, close: false);
        Assert.True(data.AsSpan().SequenceEqual(got), $"received {got.Length} of {data.Length}");
        Assert.True(net.Loop.RunUntil(() => c.ControlBlock.SndUna == c.ControlBlock.SndMax, 30 * Nanos.PerSecond));
        var r = Assert.IsType<RackState>(c.ControlBlock.FunctionBlockState);
        var cs = net.Client.Tcp.Statistics;
        var ss = net.Server.Tcp.Statistics;
        output.WriteLine($"adapt={adapt}: delayed {count / every} segments; rexmit {cs.tcps_sndrexmitpack}, dsack {cs.tcps_dsack_count} ({cs.tcps_dsack_bytes} B), "
            + $"recoveries {cs.tcps_sack_recovery_episode}, loss marked {cs.rack_loss_marked}, reo_wnd_mult {r.ReoWndMult}, reordering {r.Reordering}, "
            + $"server dup packets {ss.tcps_rcvduppack}, RTOs {cs.tcps_rexmttimeo}");
        return new Run(cs, ss, r.ReoWndMult, r.Reordering);
    }

    [Fact]
    public void DsacksWidenTheReorderingWindowAndCutSpuriousRetransmissions()
    {
        var fixedWindow = PersistentReordering(adapt: false);
        var adaptive = PersistentReordering(adapt: true);

        // Without adaptation every held-back segment is retransmitted in vain and reported back as a DSACK.
        Assert.Equal(1, fixedWindow.ReoWndMult);
        Assert.True(fixedWindow.Client.tcps_dsack_count >= 10, $"{fixedWindow.Client.tcps_dsack_count} DSACKs without adaptation");

        // With it, the first DSACK round widens the window past the extra delay and the spurious retransmissions stop.
        Assert.True(adaptive.ReoWndMult >= 2, $"reo_wnd_mult {adaptive.ReoWndMult}");
        Assert.True(adaptive.Reordering);
        Assert.True(adaptive.Client.tcps_dsack_count >= 1, "the first spurious retransmission is DSACKed");
        Assert.True(adaptive.Client.tcps_dsack_count * 4 < fixedWindow.Client.tcps_dsack_count,
            $"DSACKs {adaptive.Client.tcps_dsack_count} adaptive vs {fixedWindow.Client.tcps_dsack_count} fixed");
        Assert.True(adaptive.Client.tcps_sndrexmitpack < fixedWindow.Client.tcps_sndrexmitpack);
        Assert.True(adaptive.Server.tcps_rcvduppack < fixedWindow.Server.tcps_rcvduppack);
        Assert.True(adaptive.Client.tcps_sack_recovery_episode < fixedWindow.Client.tcps_sack_recovery_episode);
        Assert.Equal(0, adaptive.Client.tcps_rexmttimeo);
        Assert.Equal(0, fixedWindow.Client.tcps_rexmttimeo);
    }

    /// <summary>
    /// Warms up the RTT, then sends an 8-segment burst whose last two data segments are lost, and also the first
    /// <paramref name="lostProbes"/> retransmissions of the last one (the tail loss probe).
    /// </summary>
    private (TcpStatistics Stats, long Cwnd) TailLoss(int lostProbes)
    {
        var net = new TcpPair("rack", oneWayDelayNs: Nanos.FromMilliseconds(20));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, x => x.SetOption(TcpSocketOption.TCP_NODELAY, 1));
        for (var i = 0; i < 5; i++)
        {
            net.Transfer(c, s, TcpPair.Pattern(1000, i), close: false);
        }

        var tcb = c.ControlBlock!;
        var seg = tcb.Mss - (tcb.TimestampsEnabled ? 12 : 0);
        var burst = TcpPair.Pattern(8 * seg, 9);
        var tail = tcb.SndMax + (uint)(6 * seg);
        var dropped = 0;
        var probesDropped = 0;
        var seen = new HashSet<uint>();
        net.ClientLink.Drop = f =>
        {
            if (!ImpairedLink.TryTcp(f, out var h, out var len) || len == 0 || (int)(h.SequenceNumber - tail) < 0)
            {
                return false;
            }

            if (seen.Add(h.SequenceNumber))
            {
                dropped++;
                return true; // the original transmission of one of the last two segments
            }

            if (h.SequenceNumber == tail + (uint)seg && probesDropped < lostProbes)
            {
                probesDropped++;
                return true;
            }

            return false;
        };
        var before = net.Client.Tcp.Statistics.tcps_sndpack;
        var got = net.Transfer(c, s, burst, close: false);
        Assert.True(burst.AsSpan().SequenceEqual(got), $"received {got.Length} of {burst.Length}");
        Assert.True(net.Loop.RunUntil(() => tcb.SndUna == tcb.SndMax, 60 * Nanos.PerSecond));
        Assert.Equal(2, dropped);
        Assert.Equal(lostProbes, probesDropped);
        Assert.Equal(8, net.Client.Tcp.Statistics.tcps_sndpack - before);
        var st = net.Client.Tcp.Statistics;
        output.WriteLine($"lost probes {lostProbes}: TLPs {st.rack_tlp_sent} (retran {st.rack_tlp_retran}, new {st.rack_tlp_new}), recovered {st.rack_tlp_recovered}, "
            + $"RTOs {st.tcps_rexmttimeo}, rack RTOs {st.rack_to_tot}, rexmit {st.tcps_sndrexmitpack}, recoveries {st.tcps_sack_recovery_episode}, cwnd {tcb.Cwnd}");
        return (st, tcb.Cwnd);
    }

    [Fact]
    public void TailLossOfTwoSegmentsIsRepairedByOneProbeWithoutRto()
    {
        var (st, _) = TailLoss(lostProbes: 0);
        Assert.Equal(1, st.rack_tlp_sent);
        Assert.Equal(1, st.rack_tlp_retran); // everything was sent: the probe repeats the last segment
        Assert.Equal(1, st.tcps_tlpresends);
        Assert.Equal(1, st.rack_tlp_recovered); // its SACK exposed the other loss, which RACK repaired
        Assert.Equal(1, st.tcps_sack_recovery_episode);
        Assert.Equal(2, st.tcps_sndrexmitpack);
        Assert.Equal(0, st.tcps_rexmttimeo);
        Assert.Equal(0, st.rack_to_tot);
    }

    [Fact]
    public void TlpCountersAreReadableUnderRackSysctls()
    {
        var (net, c, s) = Warm();
        var tcb = c.ControlBlock!;
        var start = tcb.SndMax;
        var stats = net.Client.Tcp.Statistics;
        net.ServerLink.Drop = f => ImpairedLink.TryTcp(f, out var h, out _) && (int)(h.AcknowledgmentNumber - start) > 0 && stats.rack_tlp_sent == 0;
        var data = TcpPair.Pattern(4 * tcb.Mss, 6);
        Assert.True(data.AsSpan().SequenceEqual(net.Transfer(c, s, data, close: false)));
        Assert.True(net.Loop.RunUntil(() => tcb.SndUna == tcb.SndMax, 10 * Nanos.PerSecond));

        string Read(string name) => Assert.IsAssignableFrom<SysctlNode>(net.Client.Sysctl.Find(name)).FormatValue();
        Assert.Equal("1", Read("net.inet.tcp.rack.stats.tlp_to_total"));
        Assert.Equal("0", Read("net.inet.tcp.rack.stats.tlp_new"));
        Assert.Equal("1", Read("net.inet.tcp.rack.stats.tlp_retran"));
        Assert.Equal(stats.tcps_tlpresend_bytes.ToString(System.Globalization.CultureInfo.InvariantCulture), Read("net.inet.tcp.rack.stats.tlp_retran_bytes"));
        Assert.True(stats.tcps_tlpresend_bytes > 0);
        Assert.Equal("3", Read("net.inet.tcp.rack.misc.rack_dsack_ctl"));
    }

    [Fact]
    public void LostProbeFallsBackToTheRetransmissionTimeout()
    {
        var (st, cwnd) = TailLoss(lostProbes: 1);
        Assert.Equal(1, st.rack_tlp_sent); // one probe per episode: no second PTO after the first probe
        Assert.Equal(1, st.tcps_rexmttimeo);
        Assert.Equal(1, st.rack_to_tot);
        Assert.Equal(0, st.rack_tlp_recovered);
        Assert.True(st.tcps_sndrexmitpack >= 3, $"{st.tcps_sndrexmitpack} retransmissions");
        Assert.True(cwnd > 0);
    }

    /// <summary>A warmed-up rack connection over a 40 ms RTT path with TCP_NODELAY; returns the pair and both ends.</summary>
    private static (TcpPair Net, TcpSocket Client, TcpSocket Server) Warm()
    {
        var net = new TcpPair("rack", oneWayDelayNs: Nanos.FromMilliseconds(20));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, x => x.SetOption(TcpSocketOption.TCP_NODELAY, 1));
        for (var i = 0; i < 5; i++)
        {
            net.Transfer(c, s, TcpPair.Pattern(1000, i), close: false);
        }

        Assert.True(net.Loop.RunUntil(() => c.ControlBlock!.SndUna == c.ControlBlock.SndMax, 10 * Nanos.PerSecond));
        return (net, c, s);
    }

    [Fact]
    public void ProbeThatArrivesTwiceIsDsackedAndCostsNoWindow()
    {
        var (net, c, s) = Warm();
        var tcb = c.ControlBlock!;
        var seg = tcb.Mss - (tcb.TimestampsEnabled ? 12 : 0);
        var start = tcb.SndMax;
        var ssthresh = tcb.Ssthresh;
        var stats = net.Client.Tcp.Statistics;

        // Nothing is lost, but the ACKs of the burst's tail are, until the probe went out.
        net.ServerLink.Drop = f => ImpairedLink.TryTcp(f, out var h, out _) && (int)(h.AcknowledgmentNumber - (start + (uint)(6 * seg))) > 0 && stats.rack_tlp_sent == 0;
        var burst = TcpPair.Pattern(8 * seg, 4);
        Assert.True(burst.AsSpan().SequenceEqual(net.Transfer(c, s, burst, close: false)));
        Assert.True(net.Loop.RunUntil(() => tcb.SndUna == tcb.SndMax, 10 * Nanos.PerSecond));
        output.WriteLine($"TLPs {stats.rack_tlp_sent}, DSACK TLP bytes {stats.tcps_dsack_tlp_bytes}, DSACK bytes {stats.tcps_dsack_bytes}, ssthresh {ssthresh} -> {tcb.Ssthresh}");

        Assert.True(net.ServerLink.Dropped > 0);
        Assert.Equal(1, stats.rack_tlp_sent);
        Assert.Equal(1, stats.rack_tlp_retran);
        Assert.Equal(seg, stats.tcps_dsack_tlp_bytes); // the receiver reports the probe as a duplicate
        Assert.Equal(0, stats.tcps_dsack_bytes);
        Assert.Equal(0, stats.rack_tlp_recovered);
        Assert.Equal(0, stats.tcps_rexmttimeo);
        Assert.Equal(ssthresh, tcb.Ssthresh); // no loss, no congestion response
        var r = Assert.IsType<RackState>(tcb.FunctionBlockState);
        Assert.False(r.TlpEpisode);
        Assert.Equal(1, r.ReoWndMult); // a DSACK of our own probe says nothing about reordering
    }

    [Fact]
    public void ProbeSendsNewDataWhenTheWindowsAllow()
    {
        var (net, c, s) = Warm();
        var tcb = c.ControlBlock!;
        var start = tcb.SndMax;
        var stats = net.Client.Tcp.Statistics;

        // The first flight's ACKs are lost, so the sender sits on unsent data until the PTO fires.
        net.ServerLink.Drop = f => ImpairedLink.TryTcp(f, out var h, out _) && (int)(h.AcknowledgmentNumber - start) > 0 && stats.rack_tlp_sent == 0;
        var data = TcpPair.Pattern(30 * tcb.Mss, 5);
        Assert.True(data.AsSpan().SequenceEqual(net.Transfer(c, s, data, close: false)));
        Assert.True(net.Loop.RunUntil(() => tcb.SndUna == tcb.SndMax, 10 * Nanos.PerSecond));
        output.WriteLine($"TLPs {stats.rack_tlp_sent} (new {stats.rack_tlp_new}, retran {stats.rack_tlp_retran}), rexmit {stats.tcps_sndrexmitpack}, RTOs {stats.tcps_rexmttimeo}");

        Assert.True(net.ServerLink.Dropped > 0);
        Assert.Equal(1, stats.rack_tlp_sent);
        Assert.Equal(1, stats.rack_tlp_new);
        Assert.Equal(0, stats.rack_tlp_retran);
        Assert.Equal(0, stats.tcps_sndrexmitpack);
        Assert.Equal(0, stats.tcps_rexmttimeo);
        Assert.False(Assert.IsType<RackState>(tcb.FunctionBlockState).TlpEpisode);
    }
}
