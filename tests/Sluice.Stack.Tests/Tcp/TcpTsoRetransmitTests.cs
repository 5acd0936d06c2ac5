using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Xunit.Abstractions;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>
/// How much the default stack resends when what it lost was a TSO super-segment: tcp_output's retransmissions are
/// at most t_maxseg each (no TSO for SACK retransmissions, cwnd of one segment after a timeout), never the whole
/// super-segment. Two stacks on virtual time, the client's link offloading segmentation.
/// </summary>
public sealed class TcpTsoRetransmitTests(ITestOutputHelper output)
{
    private sealed record Run(TcpStatistics Stats, List<(long At, uint Seq, int Len)> Retransmitted, int Lost, int Seg, uint Start, bool Intact);

    /// <summary>A warm-up grows cwnd past a super-segment; then <paramref name="segments"/> segments, whose first send is lost.</summary>
    private Run LoseFirstSuperSegment(string block, int segments)
    {
        var net = new TcpPair(block, oneWayDelayNs: Nanos.FromMilliseconds(10));
        net.ClientLink.MaxSegmentOffload = 65535;
        var listener = net.Listen();
        Assert.Equal(Errno.None, listener.SetOption(TcpSocketOption.SO_RCVBUF, 1024 * 1024));
        var (c, s) = net.Establish(listener, x =>
        {
            x.SetOption(TcpSocketOption.TCP_NODELAY, 1);
            x.SetOption(TcpSocketOption.SO_SNDBUF, 1024 * 1024);
        });
        var tcb = c.ControlBlock!;
        Assert.True(tcb.SackEnabled);
        Assert.Equal(512 * 1024, net.Transfer(c, s, TcpPair.Pattern(512 * 1024, 1), close: false).Length);

        var seg = tcb.Mss - (tcb.TimestampsEnabled ? 12 : 0);
        var start = tcb.SndMax;
        var highest = start;
        var lost = 0;
        var resent = new List<(long, uint, int)>();
        net.ClientLink.Drop = f =>
        {
            if (!ImpairedLink.TryTcp(f, out var h, out var len) || len == 0)
            {
                return false;
            }

            if (Seq.Lt(h.SequenceNumber, highest))
            {
                resent.Add((net.Loop.Now, h.SequenceNumber, len));
                return false;
            }

            highest = h.SequenceNumber + (uint)len;
            if (h.SequenceNumber == start)
            {
                lost = len;
                return true;
            }

            return false;
        };
        var data = TcpPair.Pattern(segments * seg, 5);
        var got = net.Transfer(c, s, data, close: false);
        var st = c.Tcp().Statistics;
        output.WriteLine($"{block}: seg {seg}, lost {lost} B ({lost / seg} segments), rto {st.tcps_rexmttimeo}, recoveries {st.tcps_sack_recovery_episode}, "
            + $"rexmit {st.tcps_sndrexmitpack} ({st.tcps_sndrexmitbyte} B), dsack {st.tcps_dsack_count}");
        foreach (var (at, q, l) in resent)
        {
            output.WriteLine($"  {at / Nanos.PerMillisecond} ms: {q - start}+{l}");
        }

        return new Run(st, resent, lost, seg, start, data.AsSpan().SequenceEqual(got));
    }

    [Fact]
    public void FastRetransmitOfALostSuperSegmentResendsOneSegmentAtATime()
    {
        var run = LoseFirstSuperSegment("freebsd", 3 * 44);
        Assert.True(run.Intact);
        Assert.True(run.Lost > 2 * run.Seg, $"lost {run.Lost} B: not a super-segment");

        // The super-segments behind the lost one are SACKed: more than (DupThresh-1)*SMSS bytes above snd_una start
        // SACK recovery (tcp_input's sacked_bytes test, RFC 6675 §5). The first retransmission is one t_maxseg from
        // snd_una; every later one is another piece of the hole of at most t_maxseg (tcp_output: sack_rxmit disables
        // TSO), each byte of the hole once, so the loss event costs exactly the lost bytes and no D-SACK comes back.
        Assert.Equal(0, run.Stats.tcps_rexmttimeo);
        Assert.Equal(1, run.Stats.tcps_sack_recovery_episode);
        Assert.Equal((run.Start, run.Seg), (run.Retransmitted[0].Seq, run.Retransmitted[0].Len));
        Assert.All(run.Retransmitted, r => Assert.True(r.Len <= run.Seg, $"a retransmission of {r.Len} B"));
        Assert.Equal(run.Lost, run.Retransmitted.Sum(r => r.Len));
        Assert.Equal(run.Lost, run.Stats.tcps_sndrexmitbyte);
        Assert.Equal((run.Lost + run.Seg - 1) / run.Seg, run.Stats.tcps_sndrexmitpack);
        Assert.Equal(0, run.Stats.tcps_dsack_count);
    }

    [Fact]
    public void TimeoutAfterALostSuperSegmentResendsOneSegment()
    {
        // Everything of the burst is in the one lost super-segment: no ACK comes back, the retransmission timer fires.
        var run = LoseFirstSuperSegment("freebsd", 20);
        Assert.True(run.Intact);
        Assert.Equal(20 * run.Seg, run.Lost);

        // tcp_timer_rexmt: cwnd = one segment and snd_nxt = snd_una, so tcp_output resends one t_maxseg; the rest of
        // the super-segment goes out as the ACKs of the resent data open cwnd again (slow start), once each.
        Assert.Equal(1, run.Stats.tcps_rexmttimeo);
        Assert.Equal(0, run.Stats.tcps_sack_recovery_episode);
        var first = run.Retransmitted[0];
        Assert.Equal((run.Start, run.Seg), (first.Seq, first.Len));
        Assert.Single(run.Retransmitted, r => r.At == first.At);
        Assert.All(run.Retransmitted, r => Assert.True(r.Len <= run.Seg, $"a retransmission of {r.Len} B"));
        Assert.Equal(run.Lost, run.Retransmitted.Sum(r => r.Len));
        Assert.Equal(run.Lost, run.Stats.tcps_sndrexmitbyte);
        Assert.Equal(0, run.Stats.tcps_dsack_count);
    }
}
