using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Xunit.Abstractions;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>
/// Proportional Rate Reduction (RFC 6937) in the default stack's SACK recovery, as FreeBSD's tcp_input.c does it
/// (net.inet.tcp.do_prr): two stacks on virtual time, a burst whose first segments are lost.
/// </summary>
public sealed class TcpPrrTests(ITestOutputHelper output)
{
    private sealed record Run(List<(uint Ack, List<uint> Released)> Events, int Seg, int Mss, int Ssthresh, long RecoverFs, long PrrOut,
        int CwndAtExit, int SsthreshAtExit, TcpStatistics Stats, bool Intact, uint Start);

    /// <summary>
    /// After a warm-up (all of it acknowledged), cwnd is set to 10 MSS and <paramref name="segments"/> segments are
    /// written at once on a 20 ms RTT path; the first transmission of the first <paramref name="lost"/> is lost.
    /// </summary>
    private Run BurstLoss(int prr, int segments, int lost)
    {
        var net = new TcpPair("freebsd", oneWayDelayNs: Nanos.FromMilliseconds(10));
        Assert.True(net.Client.Sysctl.TrySet("net.inet.tcp.do_prr", prr.ToString(System.Globalization.CultureInfo.InvariantCulture)).Succeeded);
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, x => x.SetOption(TcpSocketOption.TCP_NODELAY, 1));
        var tcb = c.ControlBlock!;
        Assert.True(tcb.SackEnabled);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(4000, net.Transfer(c, s, TcpPair.Pattern(4000, i), close: false).Length);
        }

        net.Loop.RunUntil(() => false, Nanos.FromMilliseconds(500)); // every ACK of the warm-up is in
        var seg = tcb.Mss - (tcb.TimestampsEnabled ? 12 : 0);
        var start = tcb.SndMax;
        tcb.Cwnd = 10 * tcb.Mss;
        var highest = start;
        net.ClientLink.Drop = f =>
        {
            if (!ImpairedLink.TryTcp(f, out var h, out var len) || len == 0 || Seq.Lt(h.SequenceNumber, highest))
            {
                return false;
            }

            highest = h.SequenceNumber + (uint)len;
            return Seq.Lt(h.SequenceNumber, start + (uint)(lost * seg));
        };

        // What the client's interface sees, in order: each ACK it receives, then the data segments that ACK releases.
        // The state is read as each ACK arrives, i.e. as the previous one left it.
        long recoverFs = 0, prrOut = 0;
        int ssthresh = 0, cwndAtExit = 0, ssthreshAtExit = 0;
        var wasInRecovery = false;
        var tap = new Tap(() =>
        {
            if (tcb.InRecovery)
            {
                (recoverFs, prrOut, ssthresh) = (tcb.RecoverFs, tcb.PrrOut, tcb.Ssthresh);
            }
            else if (wasInRecovery && cwndAtExit == 0)
            {
                (cwndAtExit, ssthreshAtExit) = (tcb.Cwnd, tcb.Ssthresh);
            }

            wasInRecovery |= tcb.InRecovery;
            return $"cwnd {tcb.Cwnd} ssthresh {tcb.Ssthresh} recovery {tcb.InRecovery} RecoverFS {tcb.RecoverFs} prr_delivered {tcb.PrrDelivered} "
                + $"prr_out {tcb.PrrOut} pipe {TcpFunctionBlockBase.Pipe(tcb)}";
        });
        net.Client.FindInterface("epair0a")!.AddTap(tap);
        var data = TcpPair.Pattern(segments * seg, 9);
        var got = net.Transfer(c, s, data, close: false);
        var st = c.Tcp().Statistics;
        output.WriteLine($"do_prr {prr}: mss {tcb.Mss}, seg {seg}, rexmit {st.tcps_sndrexmitpack}, rto {st.tcps_rexmttimeo}");
        for (var i = 0; i < tap.Events.Count; i++)
        {
            var (ack, released) = tap.Events[i];
            output.WriteLine($"  [{tap.States[i]}]");
            output.WriteLine($"  ack {(int)(ack - start) / seg,3} -> {released.Count}: {string.Join(' ', released.Select(q => (int)(q - start) / seg))}");
        }

        return new Run(tap.Events, seg, tcb.Mss, ssthresh, recoverFs, prrOut, cwndAtExit, ssthreshAtExit, st, data.AsSpan().SequenceEqual(got), start);
    }

    private sealed class Tap : Sluice.Stack.Interfaces.IFrameTap
    {
        private readonly Func<string> _state;

        public Tap(Func<string> state) => _state = state;

        public List<(uint Ack, List<uint> Released)> Events { get; } = [];

        public List<string> States { get; } = [];

        public void OnFrame(Sluice.Stack.Interfaces.NetworkInterface ifp, ReadOnlySpan<byte> frame, bool outbound)
        {
            if (frame.Length < 14 + 20 + 20 || frame[12] != 0x08 || frame[13] != 0x00 || frame[14 + 9] != 6)
            {
                return;
            }

            var ihl = (frame[14] & 0xf) * 4;
            var total = (frame[16] << 8) | frame[17];
            var tcp = frame.Slice(14 + ihl, total - ihl);
            var payload = tcp.Length - ((tcp[12] >> 4) * 4);
            if (!outbound && payload == 0)
            {
                States.Add(_state());
                Events.Add((System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(tcp[8..]), []));
            }
            else if (outbound && payload > 0 && Events.Count > 0)
            {
                Events[^1].Released.Add(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]));
            }
        }
    }

    [Fact]
    public void PrrDefaultsAreFreeBsds()
    {
        var net = new TcpPair("freebsd");
        Assert.Equal(1, Assert.IsType<Sluice.Stack.Sysctl.SysctlInt>(net.Client.Sysctl.Find("net.inet.tcp.do_prr")).Value);
        Assert.Null(net.Client.Sysctl.Find("net.inet.tcp.do_prr_conservative")); // gone in FreeBSD 14 (RFC 6937bis heuristic)
    }

    [Fact]
    public void SackRecoveryAfterALossSendsWhatPrrAllowsPerAck()
    {
        var run = BurstLoss(prr: 1, segments: 20, lost: 1);
        Assert.True(run.Intact);
        Assert.Equal(0, run.Stats.tcps_rexmttimeo);
        Assert.Equal(1, run.Stats.tcps_sack_recovery_episode);
        Assert.Equal(1, run.Stats.tcps_sndrexmitpack);

        // The scenario, in segments of seg = tcp_maxseg = 1448 B (MSS 1460 less the timestamp option): cwnd = 10 * 1460
        // sends segments 0..9; 0 is lost. Each later segment reaches the receiver out of order and is SACKed at once.
        // The first two duplicate ACKs release 2 new segments each (limited transmit, 10..13), so RecoverFS =
        // snd_nxt - snd_una = 14 * 1448 = 20272 when the third starts recovery; newreno's ssthresh = 5 * 1460 = 7300
        // (half of cwnd, whole MSS). tcp_input then sets prr_delivered = one segment (1448; limited transmit
        // excluded) and snd_cwnd = one segment: only the retransmission of 0 leaves (prr_out = 1448).
        // Every further duplicate ACK SACKs one more segment, contiguous with the last (DeliveredData = 1448,
        // SACK_CHANGE, not SACK_NEWLOSS); pipe is RFC 6675's. tcp_do_prr_ack per ACK, in bytes, then segments:
        //   pipe >= ssthresh: sndcnt = ceil(prr_delivered * 7300 / 20272) - prr_out + 1447, / 1448 (rounds up)
        //     pd  2896, pipe 14480: 1043 - 1448 + 1447 = 1042 -> 0
        //     pd  4344, pipe 13032: 1565 - 1448 + 1447 = 1564 -> 1 (segment 14; prr_out 2896)
        //     pd  5792, pipe 13032: 2086 - 2896 + 1447 =  637 -> 0
        //     pd  7240, pipe 11584: 2608 - 2896 + 1447 = 1159 -> 0
        //     pd  8688, pipe 10136: 3129 - 2896 + 1447 = 1680 -> 1 (segment 15; prr_out 4344)
        //     pd 10136, pipe 10136: 3650 - 4344 + 1447 =  753 -> 0
        //     pd 11584, pipe  8688: 4172 - 4344 + 1447 = 1275 -> 0
        //   pipe < ssthresh, no new loss (PRR-SSRB): sndcnt = min(ssthresh - pipe, max(pd - prr_out, DeliveredData) + 1448), / 1448
        //     pd 13032, pipe  7240: min(  60, 8688 + 1448) =   60 -> 0
        //     pd 14480, pipe  5792: min(1508, 10136 + 1448) = 1508 -> 1 (segment 16; prr_out 5792)
        //     pd 15928, pipe  5792: min(1508, 10136 + 1448) = 1508 -> 1 (segment 17; prr_out 7240)
        // The ACK of the retransmission covers snd_recover (all 14 segments): recovery ends there.
        var entry = run.Events.FindIndex(e => e.Released.Count > 0 && e.Released[0] == run.Start);
        Assert.True(entry >= 0);
        var recovery = run.Events.Skip(entry).Take(11).Select(e => e.Released.Count).ToArray();
        Assert.Equal([1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1], recovery);
        var newData = run.Events.Skip(entry + 1).Take(10).SelectMany(e => e.Released).Select(q => (int)(q - run.Start) / run.Seg).ToArray();
        Assert.Equal([14, 15, 16, 17], newData);
        Assert.Equal(7300, run.Ssthresh);
        Assert.Equal(20272, run.RecoverFs);
        Assert.Equal(4 * run.Seg + run.Seg, run.PrrOut); // RFC 6937: what recovery sent stays within ssthresh (7240 <= 7300)

        // newreno_post_recovery (cc_newreno.c): cwnd = ssthresh if what is still in flight reaches it, else that flight
        // plus one segment. PRR kept the flight under ssthresh, so: snd_max - th_ack = 4 * 1448 = 5792 < 7300, cwnd =
        // 5792 + 1460 = 7252.
        Assert.Equal(4 * run.Seg + run.Mss, run.CwndAtExit);
        Assert.Equal(run.Ssthresh, run.SsthreshAtExit);
    }
}
