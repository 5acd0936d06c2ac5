using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tcp;

public abstract partial class TcpFunctionBlockBase
{
    void ITcpFunctionBlock.SegmentInput(TcpControlBlock tcb, ref TcpSegment s) => SegmentInput(tcb, ref s);

    /// <summary>
    /// tcp_twcheck (tcp_timewait.c): a segment for a connection in TIME_WAIT. Returns true when the TIME_WAIT
    /// connection was closed and the segment must be looked up again (a new SYN for a listener).
    /// </summary>
    internal static bool TimeWaitCheck(TcpControlBlock tcb, ref TcpSegment s)
    {
        var stack = tcb.Stack;

        // A RST is dropped: RFC 1337 (TIME-WAIT assassination hazards), Stevens vol. 2 p. 964.
        if (s.Has(TcpFlags.Rst))
        {
            return false;
        }

        // A new connection request (SYN without ACK) above the old sequence space ends TIME_WAIT and starts over.
        if ((s.Flags & (TcpFlags.Syn | TcpFlags.Ack)) == TcpFlags.Syn && Seq.Gt(s.Seq, tcb.RcvNxt))
        {
            Close(tcb, Errno.None);
            return true;
        }

        // tcp_twcheck: a segment with another UDP encapsulation than the connection's is answered with RST.
        if (tcb.UdpPort != s.Port)
        {
            stack.RespondReset(tcb.Key, ref s, tcb);
            stack.Statistics.tcps_tw_resets++;
            return false;
        }

        if (!s.Has(TcpFlags.Ack))
        {
            return false;
        }

        // RFC 7323 §3.2: with timestamps negotiated, a segment without one is dropped unless tolerated.
        if (tcb.TimestampsEnabled && !s.Options.HasTimestamps && stack.SysctlTolerateMissingTs.Value == 0)
        {
            return false;
        }

        var tlen = (uint)s.Payload.Length;

        // A duplicate FIN restarts 2MSL.
        if (s.Has(TcpFlags.Fin))
        {
            var end = s.Seq + tlen + (s.Has(TcpFlags.Syn) ? 1u : 0u);
            if (end + 1 == tcb.RcvNxt)
            {
                stack.Net.Loop.ScheduleAfter(tcb.TwoMslTimer, 2 * stack.SysctlMsl.Value * Nanos.PerMillisecond);
            }
        }

        // Acknowledge the segment unless it is a pure duplicate ACK (tcp_twrespond).
        if (s.Flags != TcpFlags.Ack || tlen != 0
            || s.Seq != tcb.RcvNxt || s.Ack != tcb.SndNxt)
        {
            AckNow(tcb, fromOutput: false);
        }

        return false;
    }

    /// <summary>tcp_do_segment: RFC 9293 §3.10.7 for a connection past LISTEN.</summary>
    internal void SegmentInput(TcpControlBlock tcb, ref TcpSegment s)
    {
        var stack = tcb.Stack;
        var stats = stack.Statistics;
        var now = tcb.Now;
        tcb.LastInput = now;
        tcb.KeepProbes = 0;

        if (tcb.State == TcpState.SynSent)
        {
            SynSentInput(tcb, ref s);
            return;
        }

        if (tcb.State == TcpState.Closed)
        {
            return;
        }

        var tiwin = s.Has(TcpFlags.Syn) ? s.Window : s.Window << tcb.SndScale;

        // tcp_do_segment: once timestamps are negotiated, a segment without one is dropped unless it is a RST or
        // net.inet.tcp.tolerate_missing_ts is set (RFC 7323 §3.2 allows either).
        if (tcb.TimestampsEnabled && !s.Options.HasTimestamps && !s.Has(TcpFlags.Rst) && stack.SysctlTolerateMissingTs.Value == 0)
        {
            return;
        }

        // RFC 7323 §5.3: PAWS.
        if (tcb.TimestampsEnabled && s.Options.HasTimestamps && !s.Has(TcpFlags.Rst) && tcb.TsRecent != 0 && Seq.Lt(s.Options.TsVal, tcb.TsRecent))
        {
            if (now - tcb.TsRecentAge > 24L * 24 * 3600 * Nanos.PerSecond)
            {
                tcb.TsRecent = 0;
            }
            else
            {
                stats.tcps_pawsdrop++;
                stats.tcps_rcvduppack++;
                AckNow(tcb);
                return;
            }
        }

        var rcvWnd = (uint)Math.Max(tcb.RecvBuffer.Free, 0);

        // Judged on the segment as it arrived, before ACK processing moves SND.UNA and SND.WND (header prediction).
        var autoscaleReceive = AutoscalesReceiveBuffer(tcb, ref s, tiwin);

        // RFC 5961 §3.2: RST must match rcv_nxt exactly; in-window RSTs get a challenge ACK.
        if (s.Has(TcpFlags.Rst))
        {
            var inWindow = Seq.Geq(s.Seq, tcb.RcvNxt) && Seq.Lt(s.Seq, tcb.RcvNxt + Math.Max(rcvWnd, 1));
            // net.inet.tcp.insecure_rst: any in-window RST resets (RFC 793) instead of RFC 5961's exact match.
            // No exception for SYN-RECEIVED: tcp_do_segment and syncache_chkrst both challenge an inexact RST.
            if (s.Seq == tcb.RcvNxt || (inWindow && stack.SysctlInsecureRst.Value != 0))
            {
                var error = tcb.State switch
                {
                    TcpState.SynReceived => Errno.ECONNREFUSED,
                    TcpState.CloseWait => Errno.EPIPE,
                    _ => Errno.ECONNRESET,
                };
                if (tcb.State == TcpState.TimeWait)
                {
                    error = Errno.None;
                }

                stats.tcps_drops++;
                Close(tcb, error);
                return;
            }

            if (inWindow)
            {
                stats.tcps_badrst++;
                ChallengeAck(tcb);
            }

            return;
        }

        // RFC 5961 §4.2: a SYN on a synchronised connection gets a challenge ACK.
        if (s.Has(TcpFlags.Syn) && tcb.State == TcpState.SynReceived && s.Seq == tcb.Irs && s.Has(TcpFlags.Ack))
        {
            // Simultaneous open: the peer's SYN-ACK repeats its SYN; drop the SYN and process the rest (tcp_input trims it).
            s.Flags &= ~TcpFlags.Syn;
            s.Seq++;
        }

        if (s.Has(TcpFlags.Syn))
        {
            if (tcb.State == TcpState.SynReceived && s.Seq == tcb.Irs)
            {
                // Retransmitted SYN: resend the SYN-ACK (syncache_add for an existing entry).
                stats.tcps_sc_dupsyn++;
                tcb.SndNxt = tcb.Iss;
                Output(tcb);
                return;
            }

            if (tcb.State == TcpState.TimeWait && Seq.Gt(s.Seq, tcb.RcvNxt))
            {
                // A new incarnation (RFC 9293 §3.10.7.4 note / tcp_twcheck): let the listener take it.
                Close(tcb, Errno.None);
                return;
            }

            ChallengeAck(tcb);
            return;
        }

        if (!s.Has(TcpFlags.Ack))
        {
            return;
        }

        if (tcb.Has(TcbFlags.EcnPermit))
        {
            EcnInput(tcb, ref s);
        }

        if (tcb.State == TcpState.TimeWait)
        {
            // Only a retransmitted FIN is answered; it restarts 2MSL.
            if (s.Has(TcpFlags.Fin))
            {
                AckNow(tcb);
                stack.Net.Loop.ScheduleAfter(tcb.TwoMslTimer, 2 * stack.SysctlMsl.Value * Nanos.PerMillisecond);
            }

            return;
        }

        // Trim data before rcv_nxt (duplicates).
        var payload = s.Payload;
        var fin = s.Has(TcpFlags.Fin);
        var seq = s.Seq;
        var todrop = (int)(tcb.RcvNxt - seq);
        if (todrop > 0)
        {
            var dropped = Math.Min(todrop, payload.Length);
            if (todrop > payload.Length || (todrop == payload.Length && !fin))
            {
                stats.tcps_rcvduppack++;
                stats.tcps_rcvdupbyte += payload.Length;
                if (todrop > payload.Length)
                {
                    fin = false;
                }

                payload = default;
                tcb.Flags |= TcbFlags.AckNow;
            }
            else
            {
                stats.tcps_rcvpartduppack++;
                stats.tcps_rcvpartdupbyte += todrop;
            }

            // tcp_do_segment: the dropped duplicate range is reported as a D-SACK block (RFC 2883 §4.1.1) and
            // acknowledged at once, as the next in-sequence segment would clear it.
            if (dropped > 0 && tcb.SackEnabled)
            {
                tcb.ReportDuplicate(seq, seq + (uint)dropped);
                tcb.Flags |= TcbFlags.AckNow;
            }

            if (todrop <= payload.Length && !(todrop == payload.Length && !fin))
            {
                payload = payload[todrop..];
            }

            seq = tcb.RcvNxt;

            // tcp_do_segment: the urgent pointer is relative to the first byte kept.
            s.Urgent = s.Urgent > todrop ? (ushort)(s.Urgent - todrop) : (ushort)0;
        }

        // Data after the application closed: RST (tcp_input "rcvafterclose").
        if (tcb.Socket is { IsFullyClosed: true } && tcb.State > TcpState.CloseWait && payload.Length > 0)
        {
            stats.tcps_rcvafterclose++;
            Drop(tcb, Errno.ECONNABORTED);
            return;
        }

        // Trim data beyond the window.
        todrop = (int)(seq + (uint)payload.Length - (tcb.RcvNxt + rcvWnd));
        if (todrop > 0)
        {
            stats.tcps_rcvpackafterwin++;
            if (todrop >= payload.Length)
            {
                if (rcvWnd == 0 && seq == tcb.RcvNxt)
                {
                    stats.tcps_rcvwinprobe++;
                    tcb.Flags |= TcbFlags.AckNow;
                    payload = default;
                    fin = false;
                }
                else
                {
                    stats.tcps_rcvbyteafterwin += payload.Length;
                    AckNow(tcb);
                    return;
                }
            }
            else
            {
                stats.tcps_rcvbyteafterwin += todrop;
                payload = payload[..^todrop];
                fin = false;
            }
        }

        // RFC 7323 §4.3: remember the peer's timestamp.
        if (s.Options.HasTimestamps && Seq.Leq(seq, tcb.LastAckSent) && Seq.Leq(tcb.LastAckSent, seq + (uint)payload.Length + (fin ? 1u : 0u)))
        {
            tcb.TsRecentAge = now;
            tcb.TsRecent = s.Options.TsVal;
        }

        // ---- ACK processing (RFC 9293 §3.10.7.4 fifth) ----
        var ack = s.Ack;
        var handshake = tcb.State == TcpState.SynReceived;
        if (handshake)
        {
            if (Seq.Gt(ack, tcb.SndUna) && Seq.Leq(ack, tcb.SndMax))
            {
                Established(tcb);

                // tcp_reass(tp, NULL, ...): data held since the SYN becomes readable.
                if (tcb.Reass.Count > 0 && tcb.Reass.Start(0) == tcb.RcvNxt)
                {
                    var end = tcb.Reass.Advance(tcb.RcvNxt);
                    var gained = (int)(end - tcb.RcvNxt);
                    tcb.RecvBuffer.Extend(gained);
                    tcb.RcvNxt = end;
                    tcb.ReceivedBytes += gained;
                    stats.tcps_rcvpack++;
                    stats.tcps_rcvbyte += gained;
                    tcb.Socket?.OnReadable();
                }

                tcb.SndWnd = tiwin;
                tcb.MaxSndWnd = Math.Max(tcb.MaxSndWnd, tiwin);
                tcb.SndWl1 = seq - 1;
                tcb.SndWl2 = ack;
                tcb.Socket?.OnEstablished();
                if (tcb.State == TcpState.Closed)
                {
                    return;
                }
            }
            else
            {
                stack.RespondReset(tcb.Key, ref s, tcb);
                return;
            }
        }

        if (Seq.Gt(ack, tcb.SndMax))
        {
            stats.tcps_rcvacktoomuch++;
            AckNow(tcb);
            return;
        }

        // RFC 5961 §5.2: ACKs too old to be credible get a challenge ACK.
        if (Seq.Lt(ack, tcb.SndUna - Math.Max(tcb.MaxSndWnd, 1)))
        {
            ChallengeAck(tcb);
            return;
        }

        tcb.InputAck = ack;
        tcb.InputHasTs = s.Options.HasTimestamps && tcb.TimestampsEnabled;
        tcb.InputTsEcr = s.Options.TsEcr;
        var deliveredBefore = tcb.DeliveredBytes;
        if (Seq.Gt(ack, tcb.SndUna))
        {
            // Cumulatively acknowledged segments are delivered before the SACK blocks of the same ACK (RACK ordering).
            OnAckAdvancing(tcb);
            SampleRtt(tcb, ack, handshake, ref s);
            for (var i = 0; i < tcb.Map.Count; i++)
            {
                ref var e = ref tcb.Map[i];
                if (Seq.Gt(e.End, ack))
                {
                    break;
                }

                if (!e.Is(SentFlags.Sacked))
                {
                    e.Flags |= SentFlags.Sacked;
                    OnSegmentDelivered(tcb, ref e, now);
                    tcb.DeliveredBytes += e.Length;
                }
            }
        }

        tcb.SackNewLoss = false;
        tcb.InputHasSack = s.Options.SackCount > 0 && tcb.SackEnabled;
        var sacked = tcb.InputHasSack ? ProcessSack(tcb, ref s.Options, ack) : 0;
        if (Seq.Leq(ack, tcb.SndUna))
        {
            var pureDup = payload.Length == 0 && !fin && tiwin == tcb.SndWnd && ack == tcb.SndUna && tcb.SndMax != tcb.SndUna;
            if (pureDup || (sacked > 0 && ack == tcb.SndUna))
            {
                stats.tcps_rcvdupack++;
                OnDuplicateAck(tcb, sacked);
            }
        }
        else
        {
            var acked = (int)(ack - tcb.SndUna);
            stats.tcps_rcvackpack++;
            stats.tcps_rcvackbyte += acked;

            var ourFinAcked = tcb.Has(TcbFlags.SentFin) && ack == tcb.SndMax;
            var dataEnd = tcb.SndBufSeq + (uint)tcb.SendBuffer.Count;
            var consumed = (int)(Seq.Min(ack, dataEnd) - tcb.SndBufSeq);
            if (consumed > 0)
            {
                tcb.SendBuffer.Consume(consumed);
                tcb.SndBufSeq += (uint)consumed;
            }

            tcb.Map.AckTo(ack);
            var oldUna = tcb.SndUna;
            tcb.SndUna = ack;
            if (Seq.Lt(tcb.SndNxt, ack))
            {
                tcb.SndNxt = ack;
            }

            tcb.ForceOneRetransmit = false;
            OnNewAck(tcb, oldUna, acked, (int)(tcb.DeliveredBytes - deliveredBefore));

            var loop = stack.Net.Loop;
            if (tcb.SndUna == tcb.SndMax)
            {
                loop.Cancel(tcb.RexmtTimer);
                tcb.RxtShift = 0;
            }
            else
            {
                ArmTimer(tcb, restart: true);
            }

            if (consumed > 0)
            {
                tcb.Socket?.OnWritable();
            }

            if (ourFinAcked)
            {
                switch (tcb.State)
                {
                    case TcpState.FinWait1:
                        tcb.State = TcpState.FinWait2;
                        if (tcb.Socket is null or { IsFullyClosed: true })
                        {
                            loop.ScheduleAfter(tcb.TwoMslTimer, stack.SysctlFinWait2Timeout.Value * Nanos.PerMillisecond);
                        }

                        break;
                    case TcpState.Closing:
                        EnterTimeWait(tcb);
                        return;
                    case TcpState.LastAck:
                        Close(tcb, Errno.None);
                        return;
                }
            }
        }

        if (sacked > 0 || Seq.Gt(ack, tcb.SndUna) || true)
        {
            AfterAck(tcb, (int)(tcb.DeliveredBytes - deliveredBefore));
        }

        // Window update (RFC 9293 §3.10.7.4: SND.WL1/WL2 rule).
        if (Seq.Lt(tcb.SndWl1, seq) || (tcb.SndWl1 == seq && (Seq.Lt(tcb.SndWl2, ack) || (tcb.SndWl2 == ack && tiwin > tcb.SndWnd))))
        {
            if (tcb.SndWl2 == ack && tiwin > tcb.SndWnd)
            {
                stats.tcps_rcvwinupd++;
            }

            tcb.SndWnd = tiwin;
            tcb.SndWl1 = seq;
            tcb.SndWl2 = ack;
            tcb.MaxSndWnd = Math.Max(tcb.MaxSndWnd, tiwin);
            if (tiwin > 0)
            {
                stack.Net.Loop.Cancel(tcb.PersistTimer);
                tcb.PersistShift = 0;
            }
        }

        // ---- Urgent data (RFC 9293 §3.10.7.4 sixth) ----
        UrgentInput(tcb, seq, payload, s.Urgent);

        // ---- Data (RFC 9293 §3.10.7.4 seventh) ----
        if ((payload.Length > 0 || fin) && tcb.State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.SynReceived
            || (fin && tcb.State is TcpState.CloseWait or TcpState.Closing or TcpState.LastAck))
        {
            ReceiveData(tcb, seq, payload, fin, autoscaleReceive);
            if (tcb.State == TcpState.Closed)
            {
                return;
            }
        }

        Output(tcb);
    }

    private static void ReceiveData(TcpControlBlock tcb, uint seq, ReadOnlySpan<byte> payload, bool fin, bool autoscaleReceive)
    {
        var stack = tcb.Stack;
        var stats = stack.Statistics;
        var readable = false;
        if (tcb.Has(TcbFlags.RcvdFin) || tcb.State is TcpState.CloseWait or TcpState.Closing or TcpState.LastAck)
        {
            // Already past the peer's FIN: only a retransmitted FIN, which needs an ACK.
            tcb.Flags |= TcbFlags.AckNow;
            return;
        }

        if (payload.Length > 0)
        {
            tcb.ReceivedPackets++;
            if (seq == tcb.RcvNxt && tcb.Reass.Count == 0)
            {
                if (autoscaleReceive)
                {
                    ReceiveBufferAutoscale(tcb, payload.Length);
                }

                tcb.RecvBuffer.Write(payload);
                tcb.RcvNxt += (uint)payload.Length;
                tcb.ReceivedBytes += payload.Length;
                stats.tcps_rcvpack++;
                stats.tcps_rcvbyte += payload.Length;
                readable = true;
                if (stack.SysctlDelayedAck.Value != 0 && !tcb.Has(TcbFlags.DelAck) && !fin)
                {
                    tcb.Flags |= TcbFlags.DelAck;
                    if (!tcb.DelAckTimer.IsScheduled)
                    {
                        stack.Net.Loop.ScheduleAfter(tcb.DelAckTimer, stack.SysctlDelAckTime.Value * Nanos.PerMillisecond);
                    }
                }
                else
                {
                    tcb.Flags |= TcbFlags.AckNow;
                }
            }
            else
            {
                var offset = (int)(seq - tcb.RcvNxt);

                // tcp_reass: data already held out of order is a duplicate; its first overlap is reported as D-SACK
                // (RFC 2883 §4.2).
                var segEnd = seq + (uint)payload.Length;
                for (var i = 0; i < tcb.Reass.Count; i++)
                {
                    var overlapStart = Seq.Max(seq, tcb.Reass.Start(i));
                    var overlapEnd = Seq.Min(segEnd, tcb.Reass.End(i));
                    if (Seq.Lt(overlapStart, overlapEnd))
                    {
                        tcb.ReportDuplicate(overlapStart, overlapEnd);
                        break;
                    }
                }

                if (offset > 0 && !tcb.Reass.Add(seq, segEnd))
                {
                    tcb.Flags |= TcbFlags.AckNow;
                    return;
                }

                tcb.RecvBuffer.WriteAt(tcb.RecvBuffer.Count + offset, payload);
                if (offset == 0)
                {
                    var end = tcb.Reass.Advance(seq + (uint)payload.Length);
                    var gained = (int)(end - tcb.RcvNxt);
                    tcb.RecvBuffer.Extend(gained);
                    tcb.RcvNxt = end;
                    tcb.ReceivedBytes += gained;
                    stats.tcps_rcvpack++;
                    stats.tcps_rcvbyte += gained;
                    readable = true;
                }
                else
                {
                    stats.tcps_rcvoopack++;
                    stats.tcps_rcvoobyte += payload.Length;
                    tcb.OutOfOrderPackets++;
                }

                // RFC 5681 §4.2: out-of-order data and hole fills are acknowledged at once.
                tcb.Flags |= TcbFlags.AckNow;
            }
        }

        PullOutOfBand(tcb);

        if (fin)
        {
            // tcp_do_segment: a FIN is acknowledged at once, in order or not (an out-of-order one goes to tcp_reass).
            tcb.Flags |= TcbFlags.AckNow;
            tcb.RemoteFinPending = true;
            tcb.RemoteFinSeq = seq + (uint)payload.Length;
        }

        if (tcb.RemoteFinPending && tcb.RemoteFinSeq == tcb.RcvNxt && tcb.Reass.Count == 0)
        {
            tcb.RemoteFinPending = false;
            tcb.Flags |= TcbFlags.RcvdFin | TcbFlags.AckNow;
            tcb.RcvNxt++;
            switch (tcb.State)
            {
                case TcpState.SynReceived:
                case TcpState.Established:
                    tcb.State = TcpState.CloseWait;
                    break;
                case TcpState.FinWait1:
                    tcb.State = TcpState.Closing;
                    break;
                case TcpState.FinWait2:
                    EnterTimeWait(tcb);
                    break;
            }

            readable = true;
        }

        if (readable)
        {
            tcb.Socket?.OnReadable();
        }
    }

    /// <summary>
    /// tcp_do_segment's URG processing: a pointer that advances RCV.UP marks the stream (so_oobmark, SBS_RCVATMARK) and
    /// tells the socket (sohasoutofband); unless SO_OOBINLINE, the urgent byte — the one before the pointer, BSD's
    /// reading of RFC 9293 §3.8.5 (RFC 6093 §2) — is taken out of the stream when this segment carries it
    /// (tcp_pulloutofband). Without URG, RCV.UP follows RCV.NXT.
    /// </summary>
    private static void UrgentInput(TcpControlBlock tcb, uint seq, ReadOnlySpan<byte> payload, ushort urgent)
    {
        if (urgent == 0 || tcb.Has(TcbFlags.RcvdFin) || tcb.State is TcpState.CloseWait or TcpState.Closing or TcpState.LastAck or TcpState.TimeWait)
        {
            if (Seq.Gt(tcb.RcvNxt, tcb.RcvUp))
            {
                tcb.RcvUp = tcb.RcvNxt;
            }

            return;
        }

        // "If we receive and accept random urgent pointers, we'll crash in soreceive": a pointer beyond sb_max is ignored.
        if (urgent + (long)tcb.RecvBuffer.Count > tcb.Stack.SysctlMaxSockBuf.Value)
        {
            return;
        }

        var up = seq + urgent;
        if (Seq.Gt(up, tcb.RcvUp))
        {
            tcb.RcvUp = up;
            tcb.OutOfBandMark = tcb.RecvBuffer.Count + (int)(tcb.RcvUp - tcb.RcvNxt) - 1;
            if (tcb.OutOfBandMark == 0)
            {
                tcb.AtMark = true;
            }

            tcb.OutOfBand &= ~(OutOfBandFlags.HaveData | OutOfBandFlags.HadData);
            tcb.Socket?.OnUrgent();
        }

        if (urgent <= payload.Length && !tcb.OutOfBandInline)
        {
            tcb.OutOfBandByte = payload[urgent - 1];
            tcb.OutOfBand |= OutOfBandFlags.HaveData;
            tcb.OutOfBandPullPending = true;
            tcb.OutOfBandPullSeq = seq + urgent - 1;
        }
    }

    /// <summary>Removes the urgent byte from the receive buffer once the data up to it is in sequence.</summary>
    private static void PullOutOfBand(TcpControlBlock tcb)
    {
        if (!tcb.OutOfBandPullPending || !Seq.Lt(tcb.OutOfBandPullSeq, tcb.RcvNxt))
        {
            return;
        }

        tcb.OutOfBandPullPending = false;
        var offset = tcb.RecvBuffer.Count - (int)(tcb.RcvNxt - tcb.OutOfBandPullSeq);
        if (offset < 0)
        {
            return;
        }

        var beyond = tcb.Reass.Count > 0 ? (int)(tcb.Reass.End(tcb.Reass.Count - 1) - tcb.RcvNxt) : 0;
        tcb.RecvBuffer.RemoveAt(offset, Math.Max(beyond, 0));
    }

    private static void EnterTimeWait(TcpControlBlock tcb)
    {
        var loop = tcb.Stack.Net.Loop;
        tcb.State = TcpState.TimeWait;
        loop.Cancel(tcb.RexmtTimer);
        loop.Cancel(tcb.PersistTimer);
        loop.Cancel(tcb.KeepTimer);
        tcb.Flags |= TcbFlags.AckNow;
        tcb.Stack.Emit(AckSegment(tcb), tcb);
        tcb.Flags &= ~(TcbFlags.AckNow | TcbFlags.DelAck);
        loop.Cancel(tcb.DelAckTimer);
        loop.ScheduleAfter(tcb.TwoMslTimer, 2 * tcb.Stack.SysctlMsl.Value * Nanos.PerMillisecond);
        tcb.Socket?.OnTimeWait();
    }

    private void SynSentInput(TcpControlBlock tcb, ref TcpSegment s)
    {
        var stack = tcb.Stack;
        if (s.Has(TcpFlags.Ack) && (Seq.Leq(s.Ack, tcb.Iss) || Seq.Gt(s.Ack, tcb.SndMax)))
        {
            stack.RespondReset(tcb.Key, ref s, tcb);
            return;
        }

        if (s.Has(TcpFlags.Rst))
        {
            if (s.Has(TcpFlags.Ack))
            {
                stack.Statistics.tcps_conndrops++;
                Close(tcb, Errno.ECONNREFUSED);
            }

            return;
        }

        if (!s.Has(TcpFlags.Syn))
        {
            return;
        }

        if ((tcb.FastOpen & FastOpenFlags.Enabled) != 0)
        {
            // tcp_do_segment (SYN_SENT): the peer's cookie updates the client cache (with its MSS, TCP_MSS/TCP6_MSS
            // when it sent none); a SYN without one disables TFO on the path.
            if (s.HasFastOpen)
            {
                stack.FastOpen.UpdateCache(tcb, s.Options.Mss != 0 ? s.Options.Mss : (ushort)(tcb.IsIPv6 ? 1220 : 536), s.FastOpenCookie);
            }
            else
            {
                stack.FastOpen.DisablePath(tcb);
            }
        }

        tcb.Irs = s.Seq;
        tcb.RcvNxt = s.Seq + 1;
        tcb.RcvAdv = tcb.RcvUp = tcb.RcvNxt;
        NegotiateOptions(tcb, ref s);
        tcb.SndWnd = s.Window;
        tcb.MaxSndWnd = s.Window;
        var ecnFlags = s.Flags & (TcpFlags.Ece | TcpFlags.Cwr);
        if (stack.SysctlEcn.Value != 0 && (s.Has(TcpFlags.Ack) ? ecnFlags == TcpFlags.Ece : ecnFlags == (TcpFlags.Ece | TcpFlags.Cwr)))
        {
            // RFC 3168 §6.1.1: an ECN-setup SYN-ACK (tcp_ecn_input_syn_sent), or an ECN-setup SYN crossing ours
            // (tcp_ecn_input_parallel_syn).
            tcb.Flags |= TcbFlags.EcnPermit;
        }

        if (s.Has(TcpFlags.Ack))
        {
            if (tcb.RxtShift == 0 && tcb.SynSentAt >= 0)
            {
                tcb.RttSample(tcb.Now - tcb.SynSentAt);
                stack.Statistics.tcps_rttupdated++;
            }

            tcb.SndUna = s.Ack;
            tcb.SndWl1 = s.Seq;
            tcb.SndWl2 = s.Ack;

            // RFC 7413 §4.2.2: data sent with the SYN is acknowledged by the SYN-ACK, or what it does not cover is
            // sent again at once (tcp_do_segment: snd_nxt = th_ack).
            var synDataAcked = Math.Min((int)(s.Ack - (tcb.Iss + 1)), tcb.SendBuffer.Count);
            if (synDataAcked > 0)
            {
                tcb.SendBuffer.Consume(synDataAcked);
                tcb.SndBufSeq += (uint)synDataAcked;
                stack.Statistics.tcps_rcvackpack++;
                stack.Statistics.tcps_rcvackbyte += synDataAcked;
            }

            if (Seq.Lt(s.Ack, tcb.SndMax))
            {
                tcb.SndNxt = tcb.SndMax = s.Ack;
            }

            stack.Net.Loop.Cancel(tcb.RexmtTimer);
            tcb.RxtShift = 0;
            Established(tcb);
            tcb.Flags |= TcbFlags.AckNow;
            tcb.Socket?.OnEstablished();
            if (synDataAcked > 0)
            {
                tcb.Socket?.OnWritable();
            }
            Output(tcb);
            return;
        }

        // Simultaneous open (RFC 9293 §3.5, Figure 8): SYN-RECEIVED, resend our SYN with an ACK. Data on the SYN is
        // held like out-of-order data (tcp_do_segment queues it with tcp_reass until ESTABLISHED) and not yet
        // acknowledged.
        var synData = s.Payload;
        if (synData.Length > 0)
        {
            var len = Math.Min(synData.Length, Math.Max(tcb.RecvBuffer.Free, 0));
            if (len > 0 && tcb.Reass.Add(tcb.RcvNxt, tcb.RcvNxt + (uint)len))
            {
                tcb.RecvBuffer.WriteAt(tcb.RecvBuffer.Count, synData[..len]);
            }
        }

        tcb.State = TcpState.SynReceived;
        tcb.SndWl1 = s.Seq;
        tcb.SndNxt = tcb.Iss;
        Output(tcb);
    }

    /// <summary>tcp_ecn_input_segment: CE marks are echoed until CWR (RFC 3168 §6.1.3); ECE halves the window once per window of data (§6.1.2).</summary>
    private static void EcnInput(TcpControlBlock tcb, ref TcpSegment s)
    {
        var stats = tcb.Stack.Statistics;
        if (s.Has(TcpFlags.Cwr))
        {
            tcb.Flags &= ~TcbFlags.EcnSendEce;
        }

        if (s.IpEcn == 3)
        {
            stats.tcps_ecn_ce++;
            tcb.Flags |= TcbFlags.EcnSendEce;
        }
        else if (s.IpEcn == 2)
        {
            stats.tcps_ecn_ect0++;
        }

        if (s.Has(TcpFlags.Ece) && !s.Has(TcpFlags.Syn) && tcb.State >= TcpState.Established && Seq.Geq(s.Ack, tcb.EcnRecover) && !tcb.InRecovery)
        {
            stats.tcps_ecn_rcwnd++;
            tcb.EcnRecover = tcb.SndMax;
            tcb.CongestionControl.CongestionSignal(tcb, CongestionSignal.Ecn);
            tcb.Flags |= TcbFlags.EcnSendCwr;
        }
    }

    /// <summary>RFC 5961 §7: challenge ACKs, rate limited (net.inet.tcp.ack_war_cnt: 5 per 1000 ms).</summary>
    private static void ChallengeAck(TcpControlBlock tcb)
    {
        var now = tcb.Now;
        if (now - tcb.LastChallengeAck >= Nanos.PerSecond)
        {
            tcb.LastChallengeAck = now;
            tcb.ChallengeAcksThisSecond = 0;
        }

        if (tcb.ChallengeAcksThisSecond >= 5)
        {
            return;
        }

        tcb.ChallengeAcksThisSecond++;
        tcb.Stack.Statistics.tcps_challenge_ack++;
        AckNow(tcb, fromOutput: false); // tcp_respond, not tcp_output
    }

    private static void AckNow(TcpControlBlock tcb, bool fromOutput = true, bool urgentOnly = false)
    {
        var stats = tcb.Stack.Statistics;
        if (tcb.WindowUpdateOnly)
        {
            stats.tcps_sndwinup++;
            tcb.WindowUpdateOnly = false;
        }
        else if (urgentOnly)
        {
            stats.tcps_sndurg++; // tcp_output: sent for the urgent pointer alone
        }
        else
        {
            stats.tcps_sndacks++;
        }

        var o = AckSegment(tcb);
        if (fromOutput && tcb.Has(TcbFlags.SentFin) && tcb.State is TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck
            && tcb.SndUna != tcb.SndMax && tcb.Unsent <= 0)
        {
            // tcp_output: tcp_outflags keep FIN set in these states while it is unacknowledged, and with snd_nxt at
            // snd_max it steps back one ("snd_nxt--"): an ACK sent then repeats the FIN.
            o.Flags |= TcpFlags.Fin;
            o.Seq = tcb.SndMax - 1;
        }

        if (fromOutput)
        {
            ApplyUrgent(tcb, ref o);
        }

        tcb.Stack.Emit(in o, tcb);
        tcb.Flags &= ~(TcbFlags.AckNow | TcbFlags.DelAck);
        tcb.Stack.Net.Loop.Cancel(tcb.DelAckTimer);
    }

    private static void SampleRtt(TcpControlBlock tcb, uint ack, bool handshake, ref TcpSegment s)
    {
        // Karn: only segments sent once; the newest one the ACK covers.
        long sentAt = -1;
        for (var i = 0; i < tcb.Map.Count; i++)
        {
            ref var e = ref tcb.Map[i];
            if (Seq.Gt(e.End, ack))
            {
                break;
            }

            if (e.Transmissions == 1 && !e.Is(SentFlags.Sacked))
            {
                sentAt = Math.Max(sentAt, e.SentAt);
            }
        }

        if (sentAt >= 0)
        {
            tcb.Stack.Statistics.tcps_rttupdated++;
            tcb.RttSample(tcb.Now - sentAt);
        }
        else if (handshake && tcb.InputHasTs && tcb.InputTsEcr != 0)
        {
            // tcp_do_segment: the ACK completing a passive open (SYN_RECEIVED, from the syncache) goes through
            // process_ACK, which times it from to_tsecr (tcp_ts_getticks() - to_tsecr, ts_offset removed): the echo of
            // the SYN-ACK's TSval, so the server has an RTT before any data. Without timestamps nothing times it.
            var rtt = (long)(tcb.TsNow - tcb.InputTsEcr) * Nanos.PerMillisecond;
            if (rtt >= 0)
            {
                tcb.Stack.Statistics.tcps_rttupdated++;
                tcb.RttSample(rtt);
            }
        }
    }

    /// <summary>Marks segments covered by the SACK blocks; returns newly SACKed bytes (tcp_sack_doack).</summary>
    private int ProcessSack(TcpControlBlock tcb, ref TcpSegmentOptions o, uint ack)
    {
        var stats = tcb.Stack.Statistics;
        stats.tcps_sack_rcv_blocks++;
        var newly = 0;
        var now = tcb.Now;
        var fack = Seq.Gt(tcb.SackHigh, tcb.SndUna) ? tcb.SackHigh : tcb.SndUna; // snd_fack before this ACK
        for (var b = 0; b < o.SackCount; b++)
        {
            var (left, right) = o.Sack(b);

            // RFC 2883 §4 (tcp_sack_doack, tcp_record_dsack): a first block below the ACK or inside the second one
            // reports a duplicate, not new data.
            if (b == 0 && Seq.Lt(left, right)
                && (Seq.Leq(right, ack) || (o.SackCount > 1 && Seq.Geq(left, o.Sack1L) && Seq.Leq(right, o.Sack1R))))
            {
                var tlp = OnDsack(tcb, left, right, ack);
                stats.tcps_dsack_count++;
                if (tlp)
                {
                    stats.tcps_dsack_tlp_bytes += right - left;
                }
                else
                {
                    stats.tcps_dsack_bytes += right - left;
                }

                continue;
            }
            // RFC 2018 / tcp_sack_doack: ignore blocks outside (snd_una, snd_max] or inverted.
            if (!Seq.Lt(left, right) || Seq.Leq(right, tcb.SndUna) || Seq.Gt(right, tcb.SndMax) || Seq.Lt(left, tcb.SndUna))
            {
                continue;
            }

            if (Seq.Gt(left, fack))
            {
                tcb.SackNewLoss = true; // tcp_sack_doack: a block above snd_fack opens a new hole (SACK_NEWLOSS)
            }

            for (var i = 0; i < tcb.Map.Count; i++)
            {
                ref var e = ref tcb.Map[i];
                if (Seq.Geq(e.Start, right))
                {
                    break;
                }

                if (!e.Is(SentFlags.Sacked) && Seq.Geq(e.Start, left) && Seq.Leq(e.End, right))
                {
                    e.Flags |= SentFlags.Sacked;
                    newly += e.Length;
                    tcb.DeliveredBytes += e.Length;
                    if (Seq.Gt(e.End, tcb.SackHigh))
                    {
                        tcb.SackHigh = e.End;
                    }

                    OnSegmentDelivered(tcb, ref e, now);
                }
            }
        }

        return newly;
    }

    // ---------------------------------------------------------------- hooks

    /// <summary>A segment was cumulatively ACKed or SACKed (RACK's update step).</summary>
    internal virtual void OnSegmentDelivered(TcpControlBlock tcb, ref SentSegment segment, long now)
    {
    }

    /// <summary>The ACK carried a D-SACK block [<paramref name="start"/>, <paramref name="end"/>); true when it reports a tail loss probe.</summary>
    internal virtual bool OnDsack(TcpControlBlock tcb, uint start, uint end, uint ack) => false;

    /// <summary>A duplicate ACK arrived (with <paramref name="sackedBytes"/> newly SACKed).</summary>
    internal abstract void OnDuplicateAck(TcpControlBlock tcb, int sackedBytes);

    /// <summary>snd_una advanced by <paramref name="acked"/> (from <paramref name="oldUna"/>).</summary>
    internal abstract void OnNewAck(TcpControlBlock tcb, uint oldUna, int acked, int delivered);

    /// <summary>Called after every acceptable ACK (loss detection point for RACK).</summary>
    internal virtual void AfterAck(TcpControlBlock tcb, int delivered)
    {
    }
}
