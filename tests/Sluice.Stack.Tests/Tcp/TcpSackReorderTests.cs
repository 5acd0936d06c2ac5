using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Xunit.Abstractions;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>
/// The default stack's SACK loss recovery (RFC 6675, FreeBSD's tcp_sack.c) when the path reorders rather than
/// loses: two stacks on virtual time, one data segment held back so that later ones overtake it.
/// </summary>
public sealed class TcpSackReorderTests(ITestOutputHelper output)
{
    private sealed record Run(TcpStatistics Stats, List<(uint Seq, int Len)> Retransmitted, byte[] Sent, byte[] Received, uint Held, int Seg);

    /// <summary>
    /// After a warm-up, a 20-segment burst on a 20 ms RTT path whose 5th data segment is held back 8 ms: the segments
    /// behind it arrive first and are SACKed, then the original arrives before any retransmission could have.
    /// </summary>
    private Run ReorderOne(string block)
    {
        var net = new TcpPair(block, oneWayDelayNs: Nanos.FromMilliseconds(10));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, x => x.SetOption(TcpSocketOption.TCP_NODELAY, 1));
        var tcb = c.ControlBlock!;
        Assert.True(tcb.SackEnabled);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(4000, net.Transfer(c, s, TcpPair.Pattern(4000, i), close: false).Length);
        }

        var seg = tcb.Mss - (tcb.TimestampsEnabled ? 12 : 0);
        var held = tcb.SndMax + (uint)(4 * seg);
        var once = false;
        var highest = tcb.SndMax;
        var resent = new List<(uint, int)>();
        net.ClientLink.ExtraDelay = f =>
        {
            if (!ImpairedLink.TryTcp(f, out var h, out var len) || len == 0)
            {
                return 0;
            }

            var end = h.SequenceNumber + (uint)len;
            if (Seq.Lt(h.SequenceNumber, highest))
            {
                resent.Add((h.SequenceNumber, len));
            }
            else
            {
                highest = end;
            }

            return h.SequenceNumber == held && !once && (once = true) ? Nanos.FromMilliseconds(8) : 0;
        };
        var data = TcpPair.Pattern(20 * seg, 11);
        var got = net.Transfer(c, s, data, close: false);
        Assert.True(net.Loop.RunUntil(() => tcb.SndUna == tcb.SndMax, 10 * Nanos.PerSecond));
        net.Loop.RunUntil(() => false, Nanos.FromMilliseconds(200)); // the D-SACKs of needless retransmissions come back
        var st = c.Tcp().Statistics;
        output.WriteLine($"{block}: seg {seg}, held {held}, recoveries {st.tcps_sack_recovery_episode}, rexmit {st.tcps_sndrexmitpack} ({st.tcps_sndrexmitbyte} B), dsack {st.tcps_dsack_count}, rto {st.tcps_rexmttimeo}");
        foreach (var (q, l) in resent)
        {
            output.WriteLine($"  resent {q} (+{(int)(q - held)}) len {l}");
        }

        return new Run(st, resent, data, got, held, seg);
    }

    [Fact]
    public void OneReorderedSegmentIsRetransmittedOnce()
    {
        var run = ReorderOne("freebsd");

        // FreeBSD (tcp_input.c, tcp_sack.c): the SACKs of the segments that overtook the held one make it the only
        // hole, and the third of them (tcprexmtthresh = 3; RFC 6675 §4 IsLost: DupThresh segments SACKed above it)
        // starts recovery, whose tcp_output resends that hole once (tcp_sack_output skips a hole whose rxmit reached
        // its end). The partial ACKs that follow when the original arrives leave no hole — nothing above snd_fack is
        // one, and data sent after the hole is not lost for being later — so tcp_prr_partialack's tcp_output sends
        // no more retransmissions, and lost retransmission detection (net.inet.tcp.sack.lrd) needs a SACK above
        // snd_recover, which never comes. One retransmission, and the receiver reports it as one duplicate.
        Assert.Equal(1, run.Stats.tcps_sack_recovery_episode);
        Assert.Equal([(run.Held, run.Seg)], run.Retransmitted);
        Assert.Equal(1, run.Stats.tcps_sndrexmitpack);
        Assert.Equal(run.Seg, run.Stats.tcps_sndrexmitbyte);
        Assert.Equal(1, run.Stats.tcps_dsack_count);
        Assert.Equal(run.Seg, run.Stats.tcps_dsack_bytes);
        Assert.Equal(0, run.Stats.tcps_rexmttimeo);
        Assert.Equal(20 * run.Seg, run.Received.Length);
        Assert.Equal(run.Sent, run.Received);
    }
}
