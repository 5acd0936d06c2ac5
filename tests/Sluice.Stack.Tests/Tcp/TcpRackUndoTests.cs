using Sluice.Stack.Sockets;
using Sluice.Stack.Sysctl;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;
using Xunit.Abstractions;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>
/// rack's undo of reductions that turned out unnecessary — a recovery whose retransmissions were all DSACKed, a
/// retransmission timeout that timestamps show was spurious — RFC 8985 §6.2 step 2's TSecr rule, and the TLP that
/// resends only the last MSS of a TSO send. Two stacks on virtual time.
/// </summary>
public sealed class TcpRackUndoTests(ITestOutputHelper output)
{
    private sealed record Outcome(TcpStatistics Stats, int SsthreshBefore, int SsthreshAfter, int CwndAfter);

    private sealed record LateAckRun(
        TcpStatistics Stats, long TimeoutsBefore, int CwndBefore, int CwndAfter, int SsthreshBefore, int SsthreshAfter, long BurstAt, long RtoAt,
        RackState? Rack);

    /// <summary>
    /// After a warm-up, a 20-segment burst whose 5th data segment is held back 8 ms on a 20 ms RTT path: SACKs of the
    /// later ones make it look lost, it is retransmitted in a recovery episode, and then the original arrives first.
    /// </summary>
    private Outcome ReorderedOnce(string block)
    {
        var net = new TcpPair(block, oneWayDelayNs: Nanos.FromMilliseconds(10));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, x => x.SetOption(TcpSocketOption.TCP_NODELAY, 1));
        var tcb = c.ControlBlock!;
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(4000, net.Transfer(c, s, TcpPair.Pattern(4000, i), close: false).Length);
        }

        var seg = tcb.Mss - (tcb.TimestampsEnabled ? 12 : 0);
        var held = tcb.SndMax + (uint)(4 * seg);
        var once = false;
        net.ClientLink.ExtraDelay = f => ImpairedLink.TryTcp(f, out var h, out var len) && len > 0 && h.SequenceNumber == held && !once && (once = true)
            ? Nanos.FromMilliseconds(8) : 0;
        var before = tcb.Ssthresh;
        var data = TcpPair.Pattern(20 * seg, 11);
        var got = net.Transfer(c, s, data, close: false);
        Assert.Equal(data, got);
        Assert.True(net.Loop.RunUntil(() => tcb.SndUna == tcb.SndMax, 10 * Nanos.PerSecond));
        net.Loop.RunUntil(() => false, Nanos.FromMilliseconds(200)); // let the DSACK of the needless retransmission come back
        var st = c.Tcp().Statistics;
        output.WriteLine($"{block}: ssthresh {before} -> {tcb.Ssthresh}, cwnd {tcb.Cwnd}, recoveries {st.tcps_sack_recovery_episode}, rexmit {st.tcps_sndrexmitpack}, "
            + $"dsack {st.tcps_dsack_count} ({st.tcps_dsack_bytes} B), reverted {st.rack_recovery_reverted}");
        return new Outcome(st, before, tcb.Ssthresh, tcb.Cwnd);
    }

    [Fact]
    public void RecoveryWhoseRetransmissionsWereAllDsackedIsUndone()
    {
        var rack = ReorderedOnce("rack");
        var freebsd = ReorderedOnce("freebsd");

        // Both stacks took the held-back segment for lost, and the receiver reported the retransmission as a duplicate.
        Assert.Equal(1, rack.Stats.tcps_sack_recovery_episode);
        Assert.Equal(1, rack.Stats.tcps_sndrexmitpack);
        Assert.Equal(1, rack.Stats.tcps_dsack_count);
        Assert.Equal(1, freebsd.Stats.tcps_sndrexmitpack);
        Assert.Equal(1, freebsd.Stats.tcps_dsack_count);

        // rack gives back the ssthresh the recovery took; the default stack keeps the reduction.
        Assert.Equal(1, rack.Stats.rack_recovery_reverted);
        Assert.Equal(rack.SsthreshBefore, rack.SsthreshAfter);
        Assert.True(freebsd.SsthreshAfter < freebsd.SsthreshBefore, $"freebsd ssthresh {freebsd.SsthreshBefore} -> {freebsd.SsthreshAfter}");
        Assert.True(rack.SsthreshAfter > freebsd.SsthreshAfter);
        Assert.Equal(0, freebsd.Stats.rack_recovery_reverted);
    }

    /// <summary>
    /// After a warm-up, four segments sent at one instant whose ACKs the path holds back past the first retransmission
    /// timeout (but not the second): the timeout resends the first segment, then the ACK for the originals arrives.
    /// </summary>
    private LateAckRun LateAcks(string block, bool timestamps)
    {
        var net = new TcpPair(block, oneWayDelayNs: Nanos.FromMilliseconds(10));
        if (!timestamps)
        {
            Assert.Equal(SysctlSetStatus.Ok, net.Client.Sysctl.TrySet("net.inet.tcp.rfc1323", "0").Status);
        }

        var listener = net.Listen();
        var (c, s) = net.Establish(listener, x => x.SetOption(TcpSocketOption.TCP_NODELAY, 1));
        var tcb = c.ControlBlock!;
        Assert.Equal(timestamps, tcb.TimestampsEnabled);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(4000, net.Transfer(c, s, TcpPair.Pattern(4000, i), close: false).Length);
        }

        var seg = tcb.Mss - (tcb.TimestampsEnabled ? 12 : 0);
        var rto = tcb.CurrentRto();
        var hold = true;
        net.ServerLink.ExtraDelay = f => hold && ImpairedLink.TryTcp(f, out _, out var len) && len == 0 ? rto + Nanos.FromMilliseconds(100) : 0;
        var stats = c.Tcp().Statistics;
        var timeoutsBefore = stats.tcps_rexmttimeo;
        long rtoAt = 0;
        var cwndBefore = tcb.Cwnd;
        var ssthreshBefore = tcb.Ssthresh;
        var burstAt = net.Loop.Now;
        var data = TcpPair.Pattern(4 * seg, 21);
        var received = new MemoryStream();
        var buffer = new byte[65536];
        s.Readable = x =>
        {
            while (x.Receive(buffer, out var n) == Errno.None && n > 0)
            {
                received.Write(buffer, 0, n);
            }
        };
        Assert.Equal(Errno.None, c.Send(data, out var sent));
        Assert.Equal(data.Length, sent);
        Assert.True(net.Loop.RunUntil(() => stats.tcps_rexmttimeo > timeoutsBefore, 5 * Nanos.PerSecond));
        rtoAt = net.Loop.Now;
        Assert.True(net.Loop.RunUntil(() => tcb.SndUna == tcb.SndMax, 5 * Nanos.PerSecond));
        hold = false;
        Assert.Equal(1, stats.tcps_rexmttimeo - timeoutsBefore);
        Assert.Equal(data, received.ToArray());
        output.WriteLine($"{block} ts={timestamps}: cwnd {cwndBefore} -> {tcb.Cwnd}, ssthresh {tcb.Ssthresh}, bad rexmit {stats.tcps_sndrexmitbad}, rto at +{(rtoAt - burstAt) / Nanos.PerMillisecond} ms");
        return new LateAckRun(stats, timeoutsBefore, cwndBefore, tcb.Cwnd, ssthreshBefore, tcb.Ssthresh, burstAt, rtoAt, tcb.FunctionBlockState as RackState);
    }

    [Fact]
    public void SpuriousTimeoutIsUndoneWhenTheAckEchoesTheOriginalTimestamp()
    {
        var undone = LateAcks("rack", timestamps: true);
        Assert.Equal(1, undone.Stats.tcps_sndrexmitbad);
        Assert.True(undone.CwndAfter >= undone.CwndBefore, $"cwnd {undone.CwndBefore} -> {undone.CwndAfter}");

        // Without timestamps nothing tells the original's ACK from the retransmission's: the collapse stays.
        var kept = LateAcks("rack", timestamps: false);
        Assert.Equal(0, kept.Stats.tcps_sndrexmitbad);
        Assert.True(kept.CwndAfter < undone.CwndAfter, $"cwnd without timestamps {kept.CwndAfter}, with {undone.CwndAfter}");
    }

    [Fact]
    public void FreeBsdUndoesASpuriousTimeoutWhenTheAckEchoesTheOriginalTimestamp()
    {
        // tcp_do_segment: t_rxtshift == 1, TF_PREVVALID and TSecr older than t_badrxtwin (the resend's TSval):
        // cc_cong_signal(CC_RTO_ERR) puts back snd_cwnd_prev and snd_ssthresh_prev before the ACK is counted.
        var undone = LateAcks("freebsd", timestamps: true);
        Assert.Equal(1, undone.Stats.tcps_rexmttimeo - undone.TimeoutsBefore);
        Assert.Equal(1, undone.Stats.tcps_sndrexmitbad);
        Assert.Equal(undone.SsthreshBefore, undone.SsthreshAfter);
        Assert.True(undone.CwndAfter >= undone.CwndBefore, $"cwnd {undone.CwndBefore} -> {undone.CwndAfter}"); // restored, then grown by the ACKs

        // Without timestamps t_badrxtwin is half an SRTT after the timeout: these ACKs come later, the collapse stays.
        var kept = LateAcks("freebsd", timestamps: false);
        Assert.Equal(0, kept.Stats.tcps_sndrexmitbad);
        Assert.True(kept.SsthreshAfter < kept.SsthreshBefore, $"ssthresh {kept.SsthreshBefore} -> {kept.SsthreshAfter}");
        Assert.True(kept.CwndAfter < undone.CwndAfter, $"cwnd without timestamps {kept.CwndAfter}, with {undone.CwndAfter}");
    }

    [Fact]
    public void AckWhoseTsecrPredatesTheRetransmissionDoesNotDeliverIt()
    {
        // RFC 8985 §6.2 step 2: the late ACK covers the retransmitted first segment (and the probed last one) but echoes
        // the burst's timestamp, so RACK's most recently delivered send is the burst itself, not the later resends —
        // although the ACK came long after min_RTT, which alone would have let them count.
        var run = LateAcks("rack", timestamps: true);
        var r = Assert.IsType<RackState>(run.Rack);
        Assert.True(r.XmitTs < run.RtoAt, $"RACK.xmit_ts {r.XmitTs} after the timeout's resend at {run.RtoAt}");
        Assert.True(r.XmitTs >= run.BurstAt);
    }

    [Fact]
    public void ProbeResendsOnlyTheLastSegmentOfATsoSend()
    {
        var net = new TcpPair("rack", oneWayDelayNs: Nanos.FromMilliseconds(20));
        net.ClientLink.MaxSegmentOffload = 65535;
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, x => x.SetOption(TcpSocketOption.TCP_NODELAY, 1));
        var tcb = c.ControlBlock!;
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(1000, net.Transfer(c, s, TcpPair.Pattern(1000, i), close: false).Length);
        }

        var seg = tcb.Mss - (tcb.TimestampsEnabled ? 12 : 0);
        var count = 8;
        var start = tcb.SndMax;
        var frames = new List<(uint Seq, int Len)>();
        var dropped = false;
        net.ClientLink.Drop = f =>
        {
            if (!ImpairedLink.TryTcp(f, out var h, out var len) || len == 0)
            {
                return false;
            }

            frames.Add((h.SequenceNumber, len));
            if (!dropped && h.SequenceNumber == start)
            {
                dropped = true;
                return true; // the whole super-segment: a tail loss
            }

            return false;
        };
        var data = TcpPair.Pattern(count * seg, 31);
        var got = net.Transfer(c, s, data, close: false);
        Assert.Equal(data, got);
        var st = net.Client.Tcp.Statistics;
        output.WriteLine(string.Join(", ", frames.Select(x => $"{x.Seq - start}+{x.Len}")));

        // One super-segment, then a probe of just its last MSS (rack_clone_rsm at r_end - maxseg), whose SACK lets
        // RACK repair the rest without a timeout.
        Assert.Equal((start, count * seg), frames[0]);
        Assert.Equal((start + (uint)((count - 1) * seg), seg), frames[1]);
        Assert.Equal(1, st.rack_tlp_retran);
        Assert.Equal(seg, st.tcps_tlpresend_bytes);
        Assert.Equal(0, st.tcps_rexmttimeo);
        Assert.Equal(count * seg, frames.Skip(1).Sum(x => x.Len));
    }
}

internal static class TcpSocketTestExtensions
{
    public static TcpStack Tcp(this TcpSocket socket) => socket.ControlBlock!.Stack;
}
