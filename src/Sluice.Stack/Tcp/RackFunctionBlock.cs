using Sluice.Stack.Time;

namespace Sluice.Stack.Tcp;

/// <summary>Per-connection RACK-TLP state (FreeBSD rack's struct rack_control, the part Sluice keeps).</summary>
internal sealed class RackState
{
    public long XmitTs = -1;   // RACK.xmit_ts
    public uint EndSeq;        // RACK.end_seq
    public long Rtt;           // RACK.rtt
    public uint Fack;          // highest delivered sequence
    public bool Reordering;    // RACK.reordering_seen
    public int ReoWndMult = 1;
    public bool TlpOutstanding;
    public uint TlpHighSeq;
    public bool TlpInEpisode;
}

/// <summary>
/// The `rack` stack: RACK-TLP loss detection (RFC 8985) — time-based loss marking with a reordering window, tail
/// loss probes instead of waiting for the RTO — and Proportional Rate Reduction during recovery (RFC 6937).
/// </summary>
public sealed class RackFunctionBlock : TcpFunctionBlockBase
{
    private const long TlpMinimum = 10 * Nanos.PerMillisecond;   // net.inet.tcp.rack.tlpminto
    private const long MaxAckDelay = 200 * Nanos.PerMillisecond; // RFC 8985 §7.2 WCDelAckT

    /// <inheritdoc />
    public override string Name => "rack";

    /// <inheritdoc />
    public override void Init(TcpControlBlock tcb) => tcb.FunctionBlockState = new RackState();

    private static RackState State(TcpControlBlock tcb)
    {
        if (tcb.FunctionBlockState is not RackState r)
        {
            r = new RackState();
            tcb.FunctionBlockState = r;
        }

        return r;
    }

    internal override void OnSegmentDelivered(TcpControlBlock tcb, ref SentSegment e, long now)
    {
        var r = State(tcb);
        // RFC 8985 §6.2 step 2: ignore a retransmitted segment acked sooner than min_RTT (the original was delivered).
        var rtt = now - e.SentAt;
        if (e.Is(SentFlags.Retransmitted) && tcb.MinRtt != long.MaxValue && rtt < tcb.MinRtt)
        {
            return;
        }

        if (r.XmitTs < 0 || e.SentAt > r.XmitTs || (e.SentAt == r.XmitTs && Seq.Gt(e.End, r.EndSeq)))
        {
            r.XmitTs = e.SentAt;
            r.EndSeq = e.End;
            r.Rtt = rtt;
        }

        // §6.2 step 3: reordering if a segment below the highest delivered one is delivered without retransmission.
        if (Seq.Lt(e.End, r.Fack) && !e.Is(SentFlags.Retransmitted))
        {
            if (!r.Reordering)
            {
                tcb.Stack.Statistics.rack_reorder_seen++;
            }

            r.Reordering = true;
        }
        else if (Seq.Gt(e.End, r.Fack))
        {
            r.Fack = e.End;
        }

        if (r.TlpInEpisode && (e.Is(SentFlags.TlpProbe) || Seq.Geq(e.End, r.TlpHighSeq)))
        {
            r.TlpInEpisode = false;
        }
    }

    internal override void OnDuplicateAck(TcpControlBlock tcb, int sackedBytes)
    {
        // Loss detection runs in AfterAck for every ACK.
    }

    internal override void OnNewAck(TcpControlBlock tcb, uint oldUna, int acked, int delivered)
    {
        var r = State(tcb);
        r.TlpOutstanding = false;
        if (tcb.InRecovery)
        {
            if (Seq.Geq(tcb.SndUna, tcb.SndRecover))
            {
                tcb.Flags &= ~TcbFlags.FastRecovery;
                tcb.Cwnd = Math.Max(tcb.Ssthresh, tcb.Mss); // RFC 6937 §3.1: cwnd = ssthresh when recovery ends
            }

            return;
        }

        tcb.CongestionControl.AckReceived(tcb, acked);
    }

    internal override void AfterAck(TcpControlBlock tcb, int delivered)
    {
        if (tcb.InRecovery)
        {
            tcb.PrrDelivered += delivered;
        }

        var lost = DetectLoss(tcb);
        if (lost && !tcb.InRecovery)
        {
            EnterRecovery(tcb);
        }
    }

    private static void EnterRecovery(TcpControlBlock tcb)
    {
        var r = State(tcb);
        if (r.TlpInEpisode)
        {
            tcb.Stack.Statistics.rack_tlp_recovered++;
            r.TlpInEpisode = false;
        }

        // RFC 6937 §3.1 initialisation.
        tcb.RecoverFs = Math.Max((int)(tcb.SndMax - tcb.SndUna), 1);
        tcb.CongestionControl.CongestionSignal(tcb, CongestionSignal.Loss);
        tcb.Flags |= TcbFlags.FastRecovery | TcbFlags.WasInRecovery;
        tcb.SndRecover = tcb.SndMax;
        tcb.PrrDelivered = 0;
        tcb.PrrOut = 0;
        tcb.ForceOneRetransmit = true; // RFC 6937 §3.1: the first retransmission goes out at once
        if (tcb.SackEnabled)
        {
            tcb.Stack.Statistics.tcps_sack_recovery_episode++;
        }
    }

    /// <summary>RFC 8985 §6.2 RACK_detect_loss: marks segments lost by time; arms the reordering timer for the rest.</summary>
    private static bool DetectLoss(TcpControlBlock tcb)
    {
        var r = State(tcb);
        if (r.XmitTs < 0)
        {
            return false;
        }

        var now = tcb.Now;
        var reoWnd = ReorderingWindow(tcb, r);
        long timeout = 0;
        var marked = false;
        for (var i = 0; i < tcb.Map.Count; i++)
        {
            ref var e = ref tcb.Map[i];
            if (e.Is(SentFlags.Sacked))
            {
                continue;
            }

            // Only segments sent before the most recently delivered one are candidates.
            var sentAfter = e.SentAt > r.XmitTs || (e.SentAt == r.XmitTs && Seq.Geq(e.End, r.EndSeq));
            if (sentAfter)
            {
                break;
            }

            if (e.Is(SentFlags.Lost) && !e.Is(SentFlags.Resent))
            {
                continue;
            }

            var remaining = e.SentAt + r.Rtt + reoWnd - now;
            if (remaining <= 0)
            {
                e.Flags = (e.Flags | SentFlags.Lost) & ~SentFlags.Resent;
                tcb.Stack.Statistics.rack_loss_marked++;
                marked = true;
            }
            else
            {
                timeout = Math.Max(timeout, remaining);
            }
        }

        if (timeout > 0)
        {
            tcb.RexmtMode = TcpTimerKind.RackReorder;
            tcb.Stack.Net.Loop.ScheduleAfter(tcb.RexmtTimer, timeout);
        }

        return marked;
    }

    private static long ReorderingWindow(TcpControlBlock tcb, RackState r)
    {
        if (!r.Reordering)
        {
            if (tcb.InRecovery)
            {
                return 0;
            }

            var sacked = 0;
            for (var i = 0; i < tcb.Map.Count && sacked < 3; i++)
            {
                if (tcb.Map[i].Is(SentFlags.Sacked))
                {
                    sacked++;
                }
            }

            if (sacked >= 3)
            {
                return 0;
            }
        }

        var minRtt = tcb.MinRtt == long.MaxValue ? 0 : tcb.MinRtt;
        return Math.Min(r.ReoWndMult * minRtt / 4, tcb.HaveRtt ? tcb.Srtt : long.MaxValue);
    }

    internal override int CongestionAllowance(TcpControlBlock tcb)
    {
        var pipe = Pipe(tcb);
        if (!tcb.InRecovery)
        {
            return tcb.Cwnd - pipe;
        }

        // RFC 6937 §3.1: PRR with slow-start reduction bound (PRR-SSRB).
        long sndcnt;
        if (pipe > tcb.Ssthresh)
        {
            sndcnt = ((tcb.PrrDelivered * tcb.Ssthresh) + tcb.RecoverFs - 1) / tcb.RecoverFs - tcb.PrrOut;
        }
        else
        {
            var limit = Math.Max(tcb.PrrDelivered - tcb.PrrOut, 0) + tcb.Mss;
            sndcnt = Math.Min(tcb.Ssthresh - pipe, limit);
        }

        // Always allow one segment when nothing is in flight, so recovery never stalls.
        if (pipe == 0)
        {
            sndcnt = Math.Max(sndcnt, tcb.Mss);
        }

        return (int)Math.Clamp(sndcnt, 0, int.MaxValue / 2);
    }

    internal override void OnSent(TcpControlBlock tcb, int bytes, bool retransmission)
    {
        if (tcb.InRecovery)
        {
            tcb.PrrOut += bytes;
            tcb.Stack.Statistics.rack_prr_sndcnt += bytes;
        }
    }

    internal override void ArmTimer(TcpControlBlock tcb, bool restart)
    {
        if (!restart && tcb.RexmtTimer.IsScheduled)
        {
            return;
        }

        var r = State(tcb);
        var loop = tcb.Stack.Net.Loop;
        var rto = tcb.CurrentRto();
        if (tcb.InRecovery || !tcb.HaveRtt || r.TlpOutstanding || tcb.RxtShift > 0 || !tcb.SackEnabled)
        {
            tcb.RexmtMode = TcpTimerKind.Retransmit;
            loop.ScheduleAfter(tcb.RexmtTimer, rto);
            return;
        }

        // RFC 8985 §7.2: PTO = 2*SRTT (+ WCDelAckT when one segment is in flight), never later than the RTO.
        var pto = 2 * tcb.Srtt;
        if (tcb.Map.Count == 1)
        {
            pto += MaxAckDelay;
        }

        pto = Math.Max(pto, TlpMinimum);
        if (pto >= rto)
        {
            tcb.RexmtMode = TcpTimerKind.Retransmit;
            loop.ScheduleAfter(tcb.RexmtTimer, rto);
            return;
        }

        tcb.RexmtMode = TcpTimerKind.TailLossProbe;
        loop.ScheduleAfter(tcb.RexmtTimer, pto);
    }

    internal override void OnBlockTimer(TcpControlBlock tcb, TcpTimerKind kind)
    {
        if (kind == TcpTimerKind.RackReorder)
        {
            if (DetectLoss(tcb) && !tcb.InRecovery)
            {
                EnterRecovery(tcb);
            }

            Output(tcb);
            if (!tcb.RexmtTimer.IsScheduled && tcb.SndUna != tcb.SndMax)
            {
                ArmTimer(tcb, restart: true);
            }

            return;
        }

        if (kind != TcpTimerKind.TailLossProbe || tcb.SndUna == tcb.SndMax)
        {
            RetransmitTimeout(tcb);
            return;
        }

        // RFC 8985 §7.3: send new data if the windows allow, else retransmit the last segment.
        var r = State(tcb);
        var stats = tcb.Stack.Statistics;
        stats.rack_tlp_sent++;
        r.TlpOutstanding = true;
        r.TlpInEpisode = true;
        r.TlpHighSeq = tcb.SndMax;
        var seg = SegmentSize(tcb);
        if (tcb.Unsent > 0 && (long)tcb.SndWnd - (tcb.SndMax - tcb.SndUna) >= Math.Min(seg, tcb.Unsent))
        {
            stats.rack_tlp_new++;
            var before = tcb.SndMax;
            tcb.Flags |= TcbFlags.ForceData;
            Output(tcb);
            tcb.Flags &= ~TcbFlags.ForceData;
            if (tcb.SndMax != before && tcb.Map.Count > 0)
            {
                tcb.Map.Last.Flags |= SentFlags.TlpProbe;
            }
        }
        else if (tcb.Map.Count > 0)
        {
            stats.rack_tlp_retran++;
            ref var last = ref tcb.Map.Last;
            Retransmit(tcb, ref last);
            last.Flags = (last.Flags & ~(SentFlags.Lost | SentFlags.Resent)) | SentFlags.TlpProbe;
        }

        ArmTimer(tcb, restart: true);
    }

    internal override void OnRetransmitTimeout(TcpControlBlock tcb)
    {
        tcb.Stack.Statistics.rack_to_tot++;
        var r = State(tcb);
        r.TlpOutstanding = false;
        r.TlpInEpisode = false;
    }
}
