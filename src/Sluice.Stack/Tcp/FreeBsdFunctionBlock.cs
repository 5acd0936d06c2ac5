namespace Sluice.Stack.Tcp;

/// <summary>
/// The default stack (`freebsd`): duplicate-ACK fast retransmit and NewReno recovery (RFC 5681, RFC 6582), limited
/// transmit (RFC 3042), and SACK-based loss recovery (RFC 6675) when SACK was negotiated; RTO with rexmit_slop.
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
            tcb.Cwnd = tcb.Ssthresh;
            MarkLostRfc6675(tcb);
        }
        else
        {
            tcb.Cwnd = tcb.Ssthresh + (DupThresh * tcb.Mss);
        }
    }

    internal override void OnNewAck(TcpControlBlock tcb, uint oldUna, int acked, int delivered)
    {
        if (tcb.InRecovery)
        {
            if (Seq.Geq(tcb.SndUna, tcb.SndRecover))
            {
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
        var limited = !tcb.InRecovery && tcb.DupAcks is > 0 and < DupThresh ? tcb.DupAcks * tcb.Mss : 0;
        return tcb.Cwnd + limited - Pipe(tcb);
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
