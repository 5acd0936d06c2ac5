using Sluice.Stack.Time;

namespace Sluice.Stack.Tcp;

/// <summary>
/// The default stack (`freebsd`): duplicate-ACK fast retransmit and NewReno recovery (RFC 5681, RFC 6582), limited
/// transmit (RFC 3042), and SACK-based loss recovery (RFC 6675) when SACK was negotiated, paced by Proportional Rate
/// Reduction (RFC 6937, net.inet.tcp.do_prr); RTO with rexmit_slop.
/// </summary>
public sealed class FreeBsdFunctionBlock : TcpFunctionBlockBase
{
    private const int DupThresh = 3;

    /// <inheritdoc />
    public override string Name => "freebsd";

    internal override void OnDuplicateAck(TcpControlBlock tcb, int sackedBytes)
    {
        if (tcb.InRecovery)
        {
            if (tcb.SackEnabled)
            {
                MarkLostRfc6675(tcb);
                if (tcb.PrrActive && sackedBytes > 0)
                {
                    // tcp_input: a duplicate ACK in SACK recovery; one without new SACK information changes nothing.
                    PrrAck(tcb, sackedBytes);
                }
            }
            else
            {
                // RFC 6582 §3.2 step 4: inflate by one segment per duplicate ACK.
                tcb.Cwnd += tcb.Mss;
            }

            return;
        }

        tcb.DupAcks++;
        var enter = tcb.DupAcks >= DupThresh;
        if (!enter && tcb.SackEnabled && tcb.Map.Count > 0)
        {
            // RFC 6675 §5: IsLost(SND.UNA) also starts recovery.
            MarkLostRfc6675(tcb, markOnly: false);
            enter = tcb.Map[0].Is(SentFlags.Lost);
        }

        if (!enter)
        {
            return; // limited transmit happens in CongestionAllowance
        }

        // RFC 6582 §3.2 step 2: only one recovery per window.
        if (Seq.Leq(tcb.SndUna, tcb.SndRecover) && tcb.Has(TcbFlags.WasInRecovery))
        {
            return;
        }

        tcb.CongestionControl.CongestionSignal(tcb, CongestionSignal.Loss);
        tcb.Flags |= TcbFlags.FastRecovery | TcbFlags.WasInRecovery;
        tcb.SndRecover = tcb.SndMax;
        tcb.Map[0].Flags |= SentFlags.Lost;
        tcb.Map[0].Flags &= ~SentFlags.Resent;
        tcb.ForceOneRetransmit = true;
        if (tcb.SackEnabled)
        {
            tcb.Stack.Statistics.tcps_sack_recovery_episode++;
            MarkLostRfc6675(tcb);
            tcb.PrrActive = tcb.Stack.SysctlDoPrr.Value != 0;
            if (tcb.PrrActive)
            {
                // tcp_input (V_tcp_do_prr): prr_delivered starts at one segment ("Exclude Limited Transmit segments
                // here"), RecoverFS = snd_nxt - snd_una (RFC 6937 §3), and snd_cwnd = one segment: only the first
                // retransmission leaves now; each later ACK releases what tcp_do_prr_ack computes.
                tcb.PrrDelivered = SegmentSize(tcb);
                tcb.PrrOut = 0;
                tcb.RecoverFs = Math.Max(1, (int)(tcb.SndNxt - tcb.SndUna));
                tcb.Cwnd = SegmentSize(tcb); // tcp_maxseg: t_maxseg less the options every segment carries
            }
            else
            {
                tcb.Cwnd = tcb.Ssthresh;
            }
        }
        else
        {
            tcb.Cwnd = tcb.Ssthresh + (DupThresh * tcb.Mss);
        }
    }

    /// <summary>
    /// tcp_do_segment's bad-retransmit check (process_ACK and header prediction): after the first timeout
    /// (t_rxtshift == 1, TF_PREVVALID), an ACK whose TSecr predates the resend's TSval (t_badrxtwin), or without
    /// timestamps one arriving before t_badrxtwin, was for the original: cc_cong_signal(CC_RTO_ERR).
    /// </summary>
    internal override void OnAckAdvancing(TcpControlBlock tcb)
    {
        if (tcb.RxtShift != 1 || !tcb.PrevValid || tcb.BadRxtWin == 0)
        {
            return;
        }

        var spurious = tcb.InputHasTs
            ? tcb.InputTsEcr != 0 && (int)(tcb.InputTsEcr - tcb.BadRxtWin) < 0
            : (int)((uint)(tcb.Now / Nanos.PerMillisecond) - tcb.BadRxtWin) < 0;
        if (spurious)
        {
            RtoError(tcb);
        }
        else if (tcb.InputHasTs && tcb.InputTsEcr != 0)
        {
            // process_ACK times every ACK with a TSecr (tcp_xmit_timer zeroes t_rxtshift), so only the first new ACK
            // after the timeout is checked; Sluice's Karn sampling leaves the shift alone, so the undo state goes here.
            tcb.PrevValid = false;
        }
    }

    /// <summary>
    /// cc_cong_signal(CC_RTO_ERR): the timeout was unnecessary, so cwnd, ssthresh and snd_recover go back to
    /// snd_cwnd_prev, snd_ssthresh_prev and snd_recover_prev (fast recovery too, TF_WASFRECOVERY), and sending resumes
    /// at snd_max: what the timeout marked lost and has not been resent yet is not sent again.
    /// </summary>
    private static void RtoError(TcpControlBlock tcb)
    {
        tcb.Stack.Statistics.tcps_sndrexmitbad++;
        tcb.Cwnd = tcb.CwndPrev;
        tcb.Ssthresh = tcb.SsthreshPrev;
        tcb.SndRecover = tcb.RecoverPrev;
        if (tcb.WasFastRecoveryPrev)
        {
            tcb.Flags |= TcbFlags.FastRecovery;
        }

        tcb.SndNxt = tcb.SndMax;
        tcb.PrevValid = false;
        tcb.BadRxtWin = 0;
        for (var i = 0; i < tcb.Map.Count; i++)
        {
            ref var e = ref tcb.Map[i];
            if (e.Is(SentFlags.RtoRetransmit) && e.Is(SentFlags.Lost) && !e.Is(SentFlags.Resent))
            {
                e.Flags &= ~SentFlags.Lost;
            }
        }
    }

    internal override void OnNewAck(TcpControlBlock tcb, uint oldUna, int acked, int delivered)
    {
        if (tcb.InRecovery)
        {
            if (Seq.Geq(tcb.SndUna, tcb.SndRecover))
            {
                // cc_post_recovery: the PRR counters start again at the next recovery.
                tcb.PrrActive = false;
                tcb.PrrDelivered = 0;
                tcb.PrrOut = 0;
                tcb.Flags &= ~TcbFlags.FastRecovery;
                tcb.DupAcks = 0;
                tcb.CongestionControl.PostRecovery(tcb);
                return;
            }

            if (tcb.SackEnabled)
            {
                // tcp_input hands a partial ACK of a SACK recovery to tcp_prr_partialack / tcp_sack_partialack: they
                // only size cwnd and call tcp_output, which resends what tcp_sack_output finds — a hole below the
                // highest SACKed byte not yet retransmitted. Data above snd_fack, or sent after a hole that was
                // reordered rather than lost, is not resent (RFC 6675 §4 IsLost decides, not the ACK's edge).
                MarkLostRfc6675(tcb);
                if (tcb.PrrActive && tcb.InputHasSack)
                {
                    // tcp_input: a partial ACK carrying SACK blocks goes to tcp_do_prr_ack; delivered_data is what it
                    // acknowledged cumulatively plus what it newly SACKed.
                    PrrAck(tcb, delivered);
                }

                return;
            }

            // Partial ACK (RFC 6582 §3.2 step 5, tcp_newreno_partial_ack): the next segment is lost; deflate by what was acked.
            if (tcb.Map.Count > 0)
            {
                ref var first = ref tcb.Map[0];
                if (!first.Is(SentFlags.Sacked) && !first.Is(SentFlags.Resent))
                {
                    first.Flags |= SentFlags.Lost;
                    tcb.ForceOneRetransmit = true;
                }
            }

            tcb.Cwnd = Math.Max(tcb.Cwnd - acked + tcb.Mss, tcb.Mss);
            return;
        }

        tcb.DupAcks = 0;
        if (Seq.Gt(tcb.SndUna, tcb.SndRecover))
        {
            tcb.Flags &= ~TcbFlags.WasInRecovery;
        }

        tcb.CongestionControl.AckReceived(tcb, acked);
    }

    internal override int CongestionAllowance(TcpControlBlock tcb)
    {
        if (tcb.PrrActive && tcb.InRecovery)
        {
            // tcp_output in SACK recovery: cwin = snd_cwnd - (snd_nxt - snd_recover) - sack_bytes_rexmit.
            return (int)Math.Max(int.MinValue / 2, tcb.Cwnd - RecoveryOut(tcb));
        }

        var limited = !tcb.InRecovery && tcb.DupAcks is > 0 and < DupThresh ? tcb.DupAcks * tcb.Mss : 0;
        return tcb.Cwnd + limited - Pipe(tcb);
    }

    internal override void OnSent(TcpControlBlock tcb, int bytes, bool retransmission)
    {
        if (tcb.PrrActive && tcb.InRecovery)
        {
            tcb.PrrOut += bytes; // tcp_output: sackhint.prr_out counts every byte sent during recovery
        }
    }

    /// <summary>
    /// tcp_do_prr_ack (FreeBSD 14, RFC 6937 §3.1 with the RFC 6937bis choice of bound): sizes snd_cwnd so that this ACK
    /// releases sndcnt segments.
    /// </summary>
    /// <remarks>
    /// DeliveredData accumulates in prr_delivered. While pipe &gt;= ssthresh the proportional part is
    /// ceil(prr_delivered * ssthresh / RecoverFS) - prr_out, rounded up to whole segments (FreeBSD adds maxseg - 1
    /// before dividing). Below ssthresh it is min(ssthresh - pipe, limit): PRR-CRB, limit = prr_delivered - prr_out,
    /// when the ACK opened a new hole (SACK_NEWLOSS) or delivered nothing; PRR-SSRB, limit = max(prr_delivered -
    /// prr_out, DeliveredData) + MSS, otherwise; rounded down to whole segments. snd_cwnd becomes what recovery has in
    /// flight already (snd_nxt - snd_recover + sack_bytes_rexmit) plus sndcnt segments, at least one segment. pipe is
    /// RFC 6675's (tcp_compute_pipe; net.inet.tcp.sack.revised).
    /// </remarks>
    private static void PrrAck(TcpControlBlock tcb, int deliveredData)
    {
        var mss = SegmentSize(tcb);
        var pipe = Pipe(tcb);
        tcb.PrrDelivered += deliveredData;
        long sndcnt;
        if (pipe >= tcb.Ssthresh)
        {
            sndcnt = ((tcb.PrrDelivered * tcb.Ssthresh) + tcb.RecoverFs - 1) / tcb.RecoverFs - tcb.PrrOut + mss - 1;
        }
        else
        {
            var limit = tcb.SackNewLoss || deliveredData == 0
                ? tcb.PrrDelivered - tcb.PrrOut
                : Math.Max(tcb.PrrDelivered - tcb.PrrOut, deliveredData) + mss;
            sndcnt = Math.Min(tcb.Ssthresh - pipe, limit);
        }

        var segments = Math.Max(sndcnt, 0) / mss;
        tcb.Cwnd = (int)Math.Max(mss, RecoveryOut(tcb) + (segments * mss));
    }

    /// <summary>What recovery has put in flight: snd_nxt - snd_recover plus the retransmitted bytes still outstanding.</summary>
    private static long RecoveryOut(TcpControlBlock tcb)
    {
        long rexmit = 0;
        for (var i = 0; i < tcb.Map.Count; i++)
        {
            ref var e = ref tcb.Map[i];
            if (e.Is(SentFlags.Resent) && !e.Is(SentFlags.Sacked) && Seq.Lt(e.Start, tcb.SndRecover))
            {
                rexmit += e.Length;
            }
        }

        return rexmit + Math.Max(0, (int)(tcb.SndMax - tcb.SndRecover));
    }

    /// <summary>RFC 6675 §4 IsLost: a hole with DupThresh SACKed segments (or (DupThresh-1)*SMSS+1 bytes) above it.</summary>
    private static void MarkLostRfc6675(TcpControlBlock tcb, bool markOnly = true)
    {
        _ = markOnly;
        var sackedCount = 0;
        var sackedBytes = 0;
        for (var i = tcb.Map.Count - 1; i >= 0; i--)
        {
            ref var e = ref tcb.Map[i];
            if (e.Is(SentFlags.Sacked))
            {
                sackedCount++;
                sackedBytes += e.Length;
                continue;
            }

            if (!e.Is(SentFlags.Lost) && (sackedCount >= DupThresh || sackedBytes > (DupThresh - 1) * tcb.Mss))
            {
                e.Flags |= SentFlags.Lost;
                e.Flags &= ~SentFlags.Resent;
            }
        }
    }
}
