using Sluice.Stack.Time;

namespace Sluice.Stack.Tcp;

/// <summary>Per-connection RACK-TLP state (FreeBSD rack's struct rack_control, the part Sluice keeps).</summary>
internal sealed class RackState
{
    public long XmitTs = -1;   // RACK.xmit_ts
    public uint EndSeq;        // RACK.end_seq
    public long Rtt;           // RACK.rtt
    public uint Fack;          // RACK.fack: highest delivered sequence
    public bool Reordering;    // RACK.reordering_seen

    // RFC 8985 §6.2 step 4: DSACK-based reordering window adaptation (rack's num_dsack, dsack_persist, dsack_round_end).
    public int ReoWndMult = 1;   // RACK.reo_wnd_mult
    public int ReoWndPersist;    // RACK.reo_wnd_persist
    public bool DsackRoundOpen;  // RACK.dsack_round is not None
    public uint DsackRound;      // RACK.dsack_round
    public bool DsackThisAck;    // the ACK being processed carried a DSACK that counted for the reordering window
    public bool UseDsack = true; // rc_rack_use_dsack

    /// <summary>In RTO recovery (after a retransmission timeout, until snd_una reaches snd_recover).</summary>
    public bool InRtoRecovery;

    // RFC 8985 §7: the TLP episode (TLP.end_seq, TLP.is_retrans) and the last probe's range (rack's last_sent_tlp_seq/len).
    public bool TlpEpisode;      // TLP.end_seq is not None
    public uint TlpEndSeq;       // TLP.end_seq
    public bool TlpIsRetrans;    // TLP.is_retrans
    public bool TlpProbeKnown;
    public uint TlpProbeStart, TlpProbeEnd;
    public bool DupAckThisAck;   // the ACK being processed was a duplicate ACK with nothing newly SACKed

    /// <summary>New data went out: a pending PTO restarts from now (RFC 8985 §7.2).</summary>
    public bool RestartPto;

    // rack_note_dsack / rack_handle_might_revert: bytes retransmitted in the last recovery episode, bytes DSACKed since
    // it began, and ssthresh when it began (retran_during_recovery, dsack_byte_cnt, rc_ssthresh_at_erec).
    public long RetranDuringRecovery;
    public long DsackBytes;
    public int SsthreshAtRecovery;
}

/// <summary>
/// The `rack` stack: RACK-TLP loss detection (RFC 8985) — time-based loss marking with a reordering window that
/// DSACKs widen, tail loss probes instead of waiting for the RTO — and Proportional Rate Reduction during recovery
/// (RFC 6937).
/// </summary>
public sealed class RackFunctionBlock : TcpFunctionBlockBase
{
    private const long TlpMinimum = 10 * Nanos.PerMillisecond;   // net.inet.tcp.rack.tlpminto
    private const long MaxAckDelay = 200 * Nanos.PerMillisecond; // RFC 8985 §7.2 WCDelAckT
    private const int DupThresh = 3;
    private const int ReoWndPersistRecoveries = 16;               // RFC 8985 §6.2 step 4
    private const int MaxReoWndMult = 64;

    /// <summary>net.inet.tcp.rack.misc.rack_dsack_ctl (rack_dsack_std_based) bit: DSACKs widen the reordering window (rc_rack_use_dsack).</summary>
    internal const long DsackUseBit = 0x2;

    /// <inheritdoc />
    public override string Name => "rack";

    /// <inheritdoc />
    public override void Init(TcpControlBlock tcb) => tcb.FunctionBlockState = NewState(tcb);

    /// <summary>rack_init: the DSACK behaviour is fixed per connection when it takes the connection.</summary>
    private static RackState NewState(TcpControlBlock tcb) =>
        new() { UseDsack = (tcb.Stack.SysctlRackDsackStdBased.Value & DsackUseBit) != 0 };

    /// <summary>Registers rack's sysctls (rack_init_sysctls): the DSACK switch and the TLP counters.</summary>
    internal static void RegisterSysctls(TcpStack stack, Sluice.Stack.Sysctl.SysctlTree t)
    {
        stack.SysctlRackDsackStdBased = t.AddInt("net.inet.tcp.rack.misc.rack_dsack_ctl",
            "How do we process dsack with respect to rack timers, bit field, 3 is standards based?", 3, 0, 3);
        stack.SysctlRackAutoscale = t.AddInt("net.inet.tcp.rack.misc.autoscale",
            "What percentage should rack scale up its snd buffer by?", 20, 0, int.MaxValue);
        var s = stack.Statistics;
        t.AddComputed("net.inet.tcp.rack.stats.tlp_to_total", "Total number of tail loss probe expirations", () => Text(s.rack_tlp_sent));
        t.AddComputed("net.inet.tcp.rack.stats.tlp_new", "Total number of tail loss probe sending new data", () => Text(s.rack_tlp_new));
        t.AddComputed("net.inet.tcp.rack.stats.tlp_retran", "Total number of tail loss probe sending retransmitted data", () => Text(s.rack_tlp_retran));
        t.AddComputed("net.inet.tcp.rack.stats.tlp_retran_bytes", "Total bytes of tail loss probe sending retransmitted data", () => Text(s.tcps_tlpresend_bytes));

        static string Text(long v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static RackState State(TcpControlBlock tcb)
    {
        if (tcb.FunctionBlockState is not RackState r)
        {
            r = NewState(tcb);
            tcb.FunctionBlockState = r;
        }

        return r;
    }

    internal override void OnSegmentDelivered(TcpControlBlock tcb, ref SentSegment e, long now)
    {
        var r = State(tcb);

        // rack_process_to_cumack: the cumulative ACK of a segment the timeout resent echoes the TSval of its first
        // transmission — the original arrived and the timeout was spurious (Eifel detection, RFC 3522; CC_RTO_ERR).
        if (e.Is(SentFlags.RtoRetransmit) && tcb.PrevValid && tcb.InputHasTs && tcb.InputTsEcr != 0 && Seq.Leq(e.End, tcb.InputAck))
        {
            tcb.PrevValid = false;
            if (tcb.InputTsEcr == tcb.TsValAt(e.FirstSentAt))
            {
                SpuriousTimeout(tcb, r);
            }
        }

        // RFC 8985 §6.2 step 2: a retransmitted segment is not taken as delivered by an ACK whose TSecr predates the
        // retransmission, or that came sooner than min_RTT after it (the original was what arrived). The TSecr test is
        // for cumulative ACKs: an ACK of out-of-order data echoes the segment that last advanced the left edge (RFC
        // 7323 §4.3), so a SACK of a retransmission (a tail loss probe above a hole) always echoes an older TSval.
        var rtt = now - e.SentAt;
        if (e.Is(SentFlags.Retransmitted)
            && ((tcb.InputHasTs && Seq.Leq(e.End, tcb.InputAck) && Seq.Lt(tcb.InputTsEcr, tcb.TsValAt(e.SentAt)))
                || (tcb.MinRtt != long.MaxValue && rtt < tcb.MinRtt)))
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
            SetReordering(tcb, r);
        }
        else if (Seq.Gt(e.End, r.Fack))
        {
            r.Fack = e.End;
        }
    }

    /// <summary>
    /// rack_cong_signal(CC_RTO_ERR): the timeout was unnecessary, so cwnd, ssthresh and the recovery point go back to
    /// what they were before it (snd_cwnd_prev, snd_ssthresh_prev, snd_recover_prev) and sending resumes with new data
    /// (snd_nxt = snd_max): what the timeout marked lost and has not yet resent is not lost after all.
    /// </summary>
    private static void SpuriousTimeout(TcpControlBlock tcb, RackState r)
    {
        tcb.Stack.Statistics.tcps_sndrexmitbad++;
        tcb.Cwnd = tcb.CwndPrev;
        tcb.Ssthresh = tcb.SsthreshPrev;
        tcb.SndRecover = tcb.RecoverPrev;
        if (tcb.WasFastRecoveryPrev)
        {
            tcb.Flags |= TcbFlags.FastRecovery;
        }

        r.InRtoRecovery = false;
        for (var i = 0; i < tcb.Map.Count; i++)
        {
            ref var e = ref tcb.Map[i];
            if (e.Is(SentFlags.RtoRetransmit) && e.Is(SentFlags.Lost) && !e.Is(SentFlags.Resent))
            {
                e.Flags &= ~SentFlags.Lost;
            }
        }
    }

    /// <summary>
    /// rack_note_dsack's undo rule: once recovery is over and DSACKs have covered every byte it retransmitted, the
    /// recovery was caused by reordering, not loss; unless the scoreboard still shows a hole below SACKed data
    /// (RACK_SACK_PASSED), ssthresh goes back to its value when recovery began (rack_handle_might_revert).
    /// </summary>
    private static void NoteDsackForUndo(TcpControlBlock tcb, RackState r, uint start, uint end)
    {
        r.DsackBytes += Seq.Gt(end, start) ? end - start : 0;
        if (tcb.InRecovery || r.RetranDuringRecovery == 0 || r.DsackBytes < r.RetranDuringRecovery)
        {
            return;
        }

        var sackPassed = false;
        var sackedAbove = false;
        for (var i = tcb.Map.Count - 1; i >= 0 && !sackPassed; i--)
        {
            if (tcb.Map[i].Is(SentFlags.Sacked))
            {
                sackedAbove = true;
            }
            else if (sackedAbove)
            {
                sackPassed = true;
            }
        }

        if (!sackPassed)
        {
            tcb.Stack.Statistics.rack_recovery_reverted++;
            tcb.Ssthresh = r.SsthreshAtRecovery;
            tcb.SndRecover = tcb.SndUna;
        }

        r.RetranDuringRecovery = 0;
        r.DsackBytes = 0;
    }

    private static void SetReordering(TcpControlBlock tcb, RackState r)
    {
        if (!r.Reordering)
        {
            tcb.Stack.Statistics.rack_reorder_seen++;
        }

        r.Reordering = true;
    }

    /// <summary>
    /// A DSACK block (RFC 2883): the receiver got [<paramref name="start"/>, <paramref name="end"/>) twice. A DSACK of
    /// the last probe ends the TLP episode without a loss (RFC 8985 §7.4); any other opens a DSACK round that widens
    /// the reordering window (§6.2 step 4; rack_note_dsack).
    /// </summary>
    internal override bool OnDsack(TcpControlBlock tcb, uint start, uint end, uint ack)
    {
        var r = State(tcb);
        if (r.DsackRoundOpen && Seq.Geq(ack, r.DsackRound))
        {
            r.DsackRoundOpen = false; // the round is over once everything sent when it began is acknowledged
        }

        NoteDsackForUndo(tcb, r, start, end);

        if (r.TlpProbeKnown && Seq.Geq(start, r.TlpProbeStart) && Seq.Leq(end, r.TlpProbeEnd))
        {
            // The duplicate is our probe: the original arrived, nothing was lost, and reordering is not the cause.
            if (r.TlpEpisode && r.TlpIsRetrans)
            {
                r.TlpEpisode = false;
            }

            return true;
        }

        if (!r.UseDsack)
        {
            return false;
        }

        // A retransmission the receiver already had means the original was late, not lost (RFC 3708 §3).
        SetReordering(tcb, r);
        r.DsackThisAck = true;
        if (!r.DsackRoundOpen)
        {
            r.DsackRoundOpen = true;
            r.DsackRound = tcb.SndMax;
            r.ReoWndMult = Math.Min(r.ReoWndMult + 1, MaxReoWndMult);
            r.ReoWndPersist = ReoWndPersistRecoveries;
        }

        return false;
    }

    internal override void OnDuplicateAck(TcpControlBlock tcb, int sackedBytes)
    {
        // Loss detection runs in AfterAck for every ACK; a dupack that delivered nothing may end a TLP episode there.
        if (sackedBytes == 0)
        {
            State(tcb).DupAckThisAck = true;
        }
    }

    internal override void OnNewAck(TcpControlBlock tcb, uint oldUna, int acked, int delivered)
    {
        var r = State(tcb);
        if (r.InRtoRecovery && Seq.Geq(tcb.SndUna, tcb.SndRecover))
        {
            r.InRtoRecovery = false;
            RecoveryEnded(r);
        }

        if (tcb.InRecovery)
        {
            if (Seq.Geq(tcb.SndUna, tcb.SndRecover))
            {
                tcb.Flags &= ~TcbFlags.FastRecovery;
                tcb.Cwnd = Math.Max(tcb.Ssthresh, tcb.Mss); // RFC 6937 §3.1: cwnd = ssthresh when recovery ends
                RecoveryEnded(r);
            }

            return;
        }

        tcb.CongestionControl.AckReceived(tcb, acked);
    }

    /// <summary>RFC 8985 §6.2 step 4: after 16 recoveries without a DSACK round the reordering window shrinks back.</summary>
    private static void RecoveryEnded(RackState r)
    {
        if (r.DsackThisAck || r.ReoWndPersist <= 0)
        {
            return;
        }

        if (--r.ReoWndPersist == 0)
        {
            r.ReoWndMult = 1;
        }
    }

    internal override void AfterAck(TcpControlBlock tcb, int delivered)
    {
        var r = State(tcb);
        if (tcb.InRecovery)
        {
            tcb.PrrDelivered += delivered;
        }

        TlpProcessAck(tcb, r, delivered);
        var lost = DetectLoss(tcb);
        if (lost && !tcb.InRecovery)
        {
            EnterRecovery(tcb);
        }

        r.DsackThisAck = false;
        r.DupAckThisAck = false;
    }

    /// <summary>RFC 8985 §7.4 TLP_process_ack: decides whether the probe repaired a loss once the ACK covers it.</summary>
    private static void TlpProcessAck(TcpControlBlock tcb, RackState r, int delivered)
    {
        if (!r.TlpEpisode || Seq.Lt(tcb.SndUna, r.TlpEndSeq))
        {
            return;
        }

        if (!r.TlpIsRetrans)
        {
            r.TlpEpisode = false; // the probe carried new data, and it was delivered
            return;
        }

        if (Seq.Gt(tcb.SndUna, r.TlpEndSeq))
        {
            // The probe repaired a loss: react as to any loss, once, without a recovery episode.
            r.TlpEpisode = false;
            tcb.Stack.Statistics.rack_tlp_recovered++;
            tcb.CongestionControl.CongestionSignal(tcb, CongestionSignal.Loss);
            tcb.Cwnd = Math.Max(tcb.Ssthresh, tcb.Mss);
        }
        else if (r.DupAckThisAck && delivered == 0)
        {
            r.TlpEpisode = false; // a duplicate ACK without news: the original and the probe both arrived
        }
    }

    private static void EnterRecovery(TcpControlBlock tcb)
    {
        var r = State(tcb);
        if (r.TlpEpisode)
        {
            // The probe's ACK exposed the losses: recovery repairs them and makes the one congestion response.
            tcb.Stack.Statistics.rack_tlp_recovered++;
            r.TlpEpisode = false;
        }

        // rack_cong_signal: a new episode starts the DSACK accounting that may undo it.
        r.SsthreshAtRecovery = tcb.Ssthresh;
        r.RetranDuringRecovery = 0;
        r.DsackBytes = 0;

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

    /// <summary>RFC 8985 §6.2 step 4 RACK_update_reo_wnd: min(reo_wnd_mult * min_RTT / 4, SRTT), or 0 when no reordering was seen and recovery (or DupThresh SACKs) says act at once.</summary>
    private static long ReorderingWindow(TcpControlBlock tcb, RackState r)
    {
        if (!r.Reordering)
        {
            if (tcb.InRecovery || r.InRtoRecovery)
            {
                return 0;
            }

            var sacked = 0;
            for (var i = 0; i < tcb.Map.Count && sacked < DupThresh; i++)
            {
                if (tcb.Map[i].Is(SentFlags.Sacked))
                {
                    sacked++;
                }
            }

            if (sacked >= DupThresh)
            {
                return 0;
            }
        }

        var minRtt = tcb.MinRtt == long.MaxValue ? 0 : tcb.MinRtt;
        return Math.Min(r.ReoWndMult * minRtt / 4, tcb.HaveRtt ? tcb.Srtt : long.MaxValue);
    }

    /// <summary>
    /// rack_sndbuf_autoscale (rack.c), run by rack_output and at the end of a fast-output burst: the criteria of
    /// tcp_sndbuf_autoscale (without the low-water mark, and counting unacknowledged data from snd_max), but the step is
    /// net.inet.tcp.rack.misc.autoscale percent of the buffer, at least net.inet.tcp.sendbuf_inc.
    /// </summary>
    internal override void SendBufferAutoscale(TcpControlBlock tcb)
    {
        var stack = tcb.Stack;
        if (stack.SysctlSendBufAuto.Value == 0 || !tcb.SendAutoSize)
        {
            return;
        }

        var hiwat = (uint)tcb.SendBuffer.Capacity;
        var used = (uint)tcb.SendBuffer.Count;
        var sendwin = Math.Min((uint)Math.Max(tcb.Cwnd, 0), tcb.SndWnd);
        var max = stack.SysctlSendBufMax.Value;
        var inc = stack.SysctlSendBufInc.Value;
        if (tcb.SndWnd / 4 * 5 >= hiwat
            && used >= hiwat / 8 * 7
            && used < max
            && sendwin >= used - (tcb.SndMax - tcb.SndUna))
        {
            var percent = stack.SysctlRackAutoscale.Value;
            long scaleUp = percent != 0 ? unchecked((uint)percent * hiwat) / 100 : inc;
            scaleUp = Math.Max(scaleUp, inc) + hiwat;
            ReserveSendBuffer(tcb, Math.Min(scaleUp, max));
        }
    }

    /// <summary>
    /// rack keeps t_srtt in microseconds, unscaled (rack_init converts it, tcp_change_time_units with
    /// TCP_TMR_GRANULARITY_USEC), yet tcp_autorcvbuf still shifts it by TCP_RTT_SHIFT and compares it with elapsed
    /// milliseconds: under rack a measurement lasts sRTT(µs)/64 ms, about 15.6 sRTTs, not half of one.
    /// </summary>
    internal override long AutorcvbufSrtt(TcpControlBlock tcb) => (tcb.Srtt / Nanos.PerMicrosecond) >> 5;

    /// <summary>
    /// rack_process_data and rack_do_fastnewdata call tcp_autorcvbuf for every data segment taken in order with an empty
    /// reassembly queue, on an established connection or a TCP Fast Open SYN_RECEIVED one — not only on the fast path.
    /// </summary>
    internal override bool AutoscalesReceiveBuffer(TcpControlBlock tcb, ref TcpSegment s, uint tiwin) =>
        tcb.State != TcpState.SynReceived || (tcb.FastOpen & FastOpenFlags.Enabled) != 0;

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
            if (retransmission)
            {
                State(tcb).RetranDuringRecovery += bytes;
            }
        }

        if (!retransmission)
        {
            State(tcb).RestartPto = true;
        }
    }

    /// <summary>
    /// rack_timer_start: the PTO while the connection is open (RFC 8985 §7.2), else the RTO — during recovery,
    /// before an RTT sample, without SACK, after an RTO, while a TLP episode is open, or with only a FIN outstanding.
    /// </summary>
    internal override void ArmTimer(TcpControlBlock tcb, bool restart)
    {
        var r = State(tcb);
        var restartPto = r.RestartPto;
        r.RestartPto = false;
        if (!restart && tcb.RexmtTimer.IsScheduled && !(restartPto && tcb.RexmtMode == TcpTimerKind.TailLossProbe))
        {
            return;
        }

        var loop = tcb.Stack.Net.Loop;
        var rto = tcb.CurrentRto();
        var flight = tcb.SndMax - tcb.SndUna;
        var finOnly = flight == 1 && tcb.Has(TcbFlags.SentFin);
        if (tcb.State < TcpState.Established || tcb.InRecovery || r.InRtoRecovery || !tcb.HaveRtt || r.TlpEpisode
            || tcb.RxtShift > 0 || !tcb.SackEnabled || finOnly)
        {
            tcb.RexmtMode = TcpTimerKind.Retransmit;
            loop.ScheduleAfter(tcb.RexmtTimer, rto);
            return;
        }

        // RFC 8985 §7.2: PTO = 2*SRTT, + WCDelAckT when one segment is in flight (its ACK may be delayed), never later
        // than the RTO would fire; at least net.inet.tcp.rack.tlpminto.
        var pto = 2 * tcb.Srtt;
        if (flight <= (uint)tcb.Mss)
        {
            pto += MaxAckDelay;
        }

        pto = Math.Min(Math.Max(pto, TlpMinimum), rto);
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

        var r = State(tcb);
        if (kind != TcpTimerKind.TailLossProbe || tcb.SndUna == tcb.SndMax || r.TlpEpisode || tcb.InRecovery)
        {
            RetransmitTimeout(tcb);
            return;
        }

        SendProbe(tcb, r);

        // RFC 8985 §7.3: after a probe the RTO, not another PTO, guards the flight until the episode ends.
        ArmTimer(tcb, restart: true);
    }

    /// <summary>RFC 8985 §7.3 TLP_send_probe: new data if the receive window allows, else the highest unacknowledged segment again.</summary>
    private void SendProbe(TcpControlBlock tcb, RackState r)
    {
        var stats = tcb.Stack.Statistics;
        stats.rack_tlp_sent++;
        r.RetranDuringRecovery = 0; // a TLP (or RTO) ends what a DSACK could still undo
        r.DsackBytes = 0;
        var seg = SegmentSize(tcb);
        var before = tcb.SndMax;
        if (tcb.Unsent > 0 && (long)tcb.SndWnd - (tcb.SndMax - tcb.SndUna) >= Math.Min(seg, tcb.Unsent))
        {
            tcb.Flags |= TcbFlags.ForceData;
            Output(tcb);
            tcb.Flags &= ~TcbFlags.ForceData;
            if (tcb.SndMax != before && tcb.Map.Count > 0)
            {
                stats.rack_tlp_new++;
                tcb.Map.Last.Flags |= SentFlags.TlpProbe;
                StartEpisode(tcb, r, isRetrans: false, tcb.Map.Last.Start, tcb.Map.Last.End);
                return;
            }
        }

        // rack_find_high_nonack: the highest segment not yet SACKed. rack_timeout_tlp resends only its last MSS: a
        // larger (TSO) entry is split first (rack_clone_rsm at r_end - maxseg).
        for (var i = tcb.Map.Count - 1; i >= 0; i--)
        {
            if (tcb.Map[i].Is(SentFlags.Sacked))
            {
                continue;
            }

            if (tcb.Map[i].Length > seg)
            {
                tcb.Map.Split(i, tcb.Map[i].End - (uint)seg);
                i++;
            }

            ref var e = ref tcb.Map[i];
            stats.rack_tlp_retran++;
            stats.tcps_tlpresends++;
            stats.tcps_tlpresend_bytes += e.Length - (e.Is(SentFlags.Fin) ? 1 : 0);
            Retransmit(tcb, ref e);
            e.Flags = (e.Flags & ~(SentFlags.Lost | SentFlags.Resent)) | SentFlags.TlpProbe;
            StartEpisode(tcb, r, isRetrans: true, e.Start, e.End);
            return;
        }
    }

    private static void StartEpisode(TcpControlBlock tcb, RackState r, bool isRetrans, uint start, uint end)
    {
        r.TlpEpisode = true;
        r.TlpIsRetrans = isRetrans;
        r.TlpEndSeq = tcb.SndMax; // TLP.end_seq = SND.NXT
        r.TlpProbeKnown = true;
        r.TlpProbeStart = start;
        r.TlpProbeEnd = end;
    }

    internal override void OnRetransmitTimeout(TcpControlBlock tcb)
    {
        tcb.Stack.Statistics.rack_to_tot++;
        var r = State(tcb);
        r.TlpEpisode = false;
        r.InRtoRecovery = true;
        r.RetranDuringRecovery = 0;
        r.DsackBytes = 0;
    }
}
