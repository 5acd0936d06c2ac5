using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tcp;

public abstract partial class TcpFunctionBlockBase
{
    /// <summary>Header fields common to every segment of <paramref name="tcb"/>: ACK, window, timestamps.</summary>
    internal static OutSegment AckSegment(TcpControlBlock tcb)
    {
        var win = tcb.ReceiveWindow();
        var o = new OutSegment
        {
            Key = tcb.Key,
            Seq = tcb.SndMax,
            Ack = tcb.RcvNxt,
            Flags = TcpFlags.Ack,
            Window = win >> tcb.RcvScale,
            WindowScale = -1,
        };
        if (tcb.Has(TcbFlags.EcnSendEce))
        {
            o.Flags |= TcpFlags.Ece; // RFC 3168 §6.1.3: echo CE until the peer's CWR
        }

        if (tcb.TimestampsEnabled)
        {
            o.Timestamps = true;
            o.TsVal = tcb.TsNow;
            o.TsEcr = tcb.TsRecent;
            if (tcb.RxtShift == 1)
            {
                tcb.BadRxtWin = o.TsVal; // tcp_output: t_badrxtwin = the TSval the first timeout's resend carries
            }
        }

        if (!tcb.Has(TcbFlags.NoOpt))
        {
            StartReceiveMeasurement(tcb);
        }

        var adv = tcb.RcvNxt + ((win >> tcb.RcvScale) << tcb.RcvScale);
        if (Seq.Gt(adv, tcb.RcvAdv))
        {
            tcb.RcvAdv = adv;
        }

        tcb.LastAckSent = tcb.RcvNxt;
        return o;
    }

    /// <summary>Payload bytes per segment: the MSS less the options (tcp_output's "len > tp->t_maxseg - optlen").</summary>
    internal static int SegmentSize(TcpControlBlock tcb) => Math.Max(tcb.Mss - (tcb.TimestampsEnabled ? 12 : 0) - (tcb.SackEnabled && tcb.Reass.Count > 0 ? 12 : 0)
        - (tcb.Has(TcbFlags.Signature) && !tcb.Has(TcbFlags.NoOpt) ? 20 : 0), 1); // nop,nop,md5: 20 bytes wherever it lands

    /// <summary>RFC 6675 pipe: bytes believed in the network.</summary>
    internal static int Pipe(TcpControlBlock tcb)
    {
        var pipe = 0;
        for (var i = 0; i < tcb.Map.Count; i++)
        {
            ref var e = ref tcb.Map[i];
            if (!e.Is(SentFlags.Sacked) && (!e.Is(SentFlags.Lost) || e.Is(SentFlags.Resent)))
            {
                pipe += e.Length;
            }
        }

        return pipe;
    }

    /// <summary>Bytes congestion control lets this block send now.</summary>
    internal abstract int CongestionAllowance(TcpControlBlock tcb);

    /// <summary>Starts the retransmission (or probe) timer; <paramref name="restart"/> re-arms a running one.</summary>
    internal virtual void ArmTimer(TcpControlBlock tcb, bool restart)
    {
        if (!restart && tcb.RexmtTimer.IsScheduled)
        {
            return;
        }

        tcb.RexmtMode = TcpTimerKind.Retransmit;
        tcb.Stack.Net.Loop.ScheduleAfter(tcb.RexmtTimer, tcb.CurrentRto());
    }

    /// <summary>Hook: a segment of <paramref name="bytes"/> was sent (PRR counts it).</summary>
    internal virtual void OnSent(TcpControlBlock tcb, int bytes, bool retransmission)
    {
    }

    /// <inheritdoc />
    public void Output(TcpControlBlock tcb)
    {
        if (tcb.State is TcpState.Closed or TcpState.Listen or TcpState.TimeWait)
        {
            return;
        }

        var stack = tcb.Stack;
        var stats = stack.Statistics;
        var loop = stack.Net.Loop;
        var sent = false;
        for (var guard = 0; guard < 4096; guard++)
        {
            if (tcb.State is TcpState.SynSent or TcpState.SynReceived && tcb.SndNxt == tcb.Iss)
            {
                SendSyn(tcb);
                return;
            }

            if (tcb.State == TcpState.SynSent)
            {
                return;
            }

            if (tcb.State == TcpState.SynReceived)
            {
                if (tcb.Has(TcbFlags.AckNow))
                {
                    AckNow(tcb);
                }

                return;
            }

            // Retransmissions chosen by the block's loss detection.
            var idx = FirstLostSegment(tcb);
            if (idx >= 0)
            {
                var allowance = CongestionAllowance(tcb);
                if (tcb.ForceOneRetransmit || allowance > 0)
                {
                    // tcp_output resends at most t_maxseg at a time: a SACK retransmission never uses TSO (sack_rxmit),
                    // and after a timeout cwnd is one segment. An entry sent as a TSO super-segment is cut so that its
                    // rest stays lost and waits for the congestion window (rack: rack_clone_rsm, len capped at segsiz).
                    var segment = SegmentSize(tcb);
                    ref var lost = ref tcb.Map[idx];
                    if (lost.Length - (lost.Is(SentFlags.Fin) ? 1 : 0) > segment)
                    {
                        tcb.Map.Split(idx, lost.Start + (uint)segment);
                    }

                    ref var e = ref tcb.Map[idx];
                    tcb.ForceOneRetransmit = false;
                    Retransmit(tcb, ref e);
                    sent = true;
                    continue;
                }
            }

            var seg = SegmentSize(tcb);
            var unsent = tcb.Unsent;
            var flight = (int)(tcb.SndMax - tcb.SndUna);
            var wndRoom = (long)tcb.SndWnd - flight;
            var ccRoom = CongestionAllowance(tcb);
            var burst = Burst(tcb, seg);
            var len = (int)Math.Max(0, Math.Min(Math.Min(unsent, wndRoom), Math.Min(ccRoom, burst)));
            if (len > seg && len < unsent)
            {
                len -= len % seg; // TSO: whole segments, unless this is the end of the data
            }

            if (tcb.Has(TcbFlags.ForceData) && unsent > 0)
            {
                // Persist probe or TLP: one segment (one byte into a zero window) regardless of cwnd.
                len = (int)Math.Max(len, wndRoom > 0 ? Math.Min(Math.Min(wndRoom, seg), unsent) : 1);
            }

            SendBufferAutoscale(tcb);

            var finPending = tcb.FinQueued && !tcb.Has(TcbFlags.SentFin);
            var sendFin = finPending && len == unsent;
            var send = false;
            if (len > 0)
            {
                // tcp_output: full segments, or the rest of the buffer when idle/TCP_NODELAY (Nagle, RFC 896), or half the peer's largest window, or forced.
                send = len >= seg
                    || (len == unsent && (tcb.Has(TcbFlags.NoDelay) || flight == 0 || sendFin))
                    || len >= (long)tcb.MaxSndWnd / 2
                    || tcb.Has(TcbFlags.ForceData);
            }
            else if (finPending && unsent == 0)
            {
                send = true;
            }

            if (send)
            {
                tcb.Flags &= ~TcbFlags.ForceData;
                SendNew(tcb, len, sendFin);
                sent = true;
                continue;
            }

            if (unsent > 0 && flight == 0 && !tcb.RexmtTimer.IsScheduled && !tcb.PersistTimer.IsScheduled)
            {
                SetPersist(tcb);
            }

            // tcp_output: "send if we owe the peer an ACK ... or urgent data" (SND.UP beyond SND.UNA) — the latter when
            // this call has sent nothing else (one tcp_output call, one segment). FreeBSD does not call tcp_output for a
            // duplicate ACK, Sluice does: the same urgent-only segment is not sent twice in a row, or a peer that drops
            // it with an ACK (a closed window) would start a ping-pong.
            var urgentOnly = !sent && Seq.Gt(tcb.SndUp, tcb.SndUna)
                && !(tcb.UrgentOnlySent && tcb.UrgentOnlyUp == tcb.SndUp && tcb.UrgentOnlySeq == tcb.SndMax);
            if (tcb.Has(TcbFlags.AckNow) || urgentOnly)
            {
                if (urgentOnly)
                {
                    tcb.UrgentOnlySent = true;
                    tcb.UrgentOnlyUp = tcb.SndUp;
                    tcb.UrgentOnlySeq = tcb.SndMax;
                }

                AckNow(tcb, urgentOnly: urgentOnly && !tcb.Has(TcbFlags.AckNow) && !tcb.WindowUpdateOnly);
            }

            return;
        }

        _ = loop;
        _ = stats;
    }

    /// <summary>
    /// Most payload bytes one send may take: one segment, or with TSO on the outgoing link as many whole segments
    /// as fit in the link's largest super-segment (tcp_output's tp->t_tsomax less the headers).
    /// </summary>
    private static int Burst(TcpControlBlock tcb, int seg)
    {
        if (tcb.TsoMax < 0)
        {
            tcb.TsoMax = tcb.Stack.TsoFor(tcb.Key.RemoteAddress);
        }

        if (tcb.TsoMax == 0 || tcb.Has(TcbFlags.Signature))
        {
            return seg; // tcp_output: no TSO with TF_SIGNATURE, every segment needs its own digest
        }

        var room = tcb.TsoMax - (tcb.IsIPv6 ? 40 : 20) - TcpPacket.MaximumHeaderLength;
        return Math.Max(seg, room - (room % seg));
    }

    private static int FirstLostSegment(TcpControlBlock tcb)
    {
        for (var i = 0; i < tcb.Map.Count; i++)
        {
            ref var e = ref tcb.Map[i];
            if (e.Is(SentFlags.Lost) && !e.Is(SentFlags.Resent) && !e.Is(SentFlags.Sacked))
            {
                return i;
            }
        }

        return -1;
    }

    private void SendSyn(TcpControlBlock tcb)
    {
        var stack = tcb.Stack;
        var synAck = tcb.State == TcpState.SynReceived;
        var o = new OutSegment
        {
            Key = tcb.Key,
            Seq = tcb.Iss,
            Ack = synAck ? tcb.RcvNxt : 0,
            Flags = synAck ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Syn,
            Window = (uint)Math.Min(tcb.RecvBuffer.Free, 65535),
            WindowScale = -1,
        };
        if (!synAck)
        {
            // tcp_ecn_output_syn_sent: an ECN-setup SYN (ECE|CWR, RFC 3168 §6.1.1) with net.inet.tcp.ecn.enable=1,
            // given up after net.inet.tcp.ecn.maxretries retransmissions.
            if (stack.SysctlEcn.Value == 1 && (tcb.RxtShift == 0 || tcb.RxtShift <= stack.SysctlEcnMaxRetries.Value))
            {
                o.Flags |= TcpFlags.Ece | TcpFlags.Cwr;
            }
        }
        else if (tcb.Has(TcbFlags.EcnPermit))
        {
            o.Flags |= TcpFlags.Ece; // ECN-setup SYN-ACK
        }

        if (!tcb.Has(TcbFlags.NoOpt))
        {
            // A SYN-ACK comes from the syncache in FreeBSD, not tcp_output, and starts no measurement.
            if (!synAck)
            {
                StartReceiveMeasurement(tcb);
            }

            var mss = stack.MssFor(tcb.Key.RemoteAddress);
            if (tcb.UserMaxSeg > 0)
            {
                mss = Math.Min(mss, tcb.UserMaxSeg);
            }

            // tcp_output / syncache_respond: an encapsulated connection offers the MSS less the UDP tunneling overhead.
            o.Mss = (ushort)Math.Max(mss - stack.TunnelOverhead(tcb.UdpPort), 0);
            if (tcb.Has(TcbFlags.ReqScale))
            {
                o.WindowScale = tcb.RequestedRcvScale;
            }

            o.SackPermitted = synAck ? tcb.SackEnabled : stack.SysctlSack.Value != 0 && !tcb.Has(TcbFlags.NoSackOffer);
            if (tcb.Has(TcbFlags.ReqTstmp))
            {
                o.Timestamps = true;
                o.TsVal = tcb.TsNow;
                o.TsEcr = synAck ? tcb.TsRecent : 0;
            }

            if (synAck ? (tcb.FastOpen & FastOpenFlags.SendCookie) != 0 : (tcb.FastOpen & FastOpenFlags.Enabled) != 0 && tcb.RxtShift == 0)
            {
                // RFC 7413 §4.1: the client's cookie (empty: a cookie request) on its first SYN, the server's new
                // cookie on the SYN-ACK.
                o.FastOpen = true;
                o.FastOpenCookie = tcb.FastOpenCookie;
                o.FastOpenCookieLength = tcb.FastOpenCookieLength;
                if (!synAck && tcb.FastOpenCookieLength > 0)
                {
                    // tcp_output: data rides on a first SYN that carries a cookie, at most snd_wnd (one MSS from the
                    // cache) and what fits beside the options; never on a retransmitted SYN or a cookie request.
                    o.DataOffset = 0;
                    o.DataLength = Math.Max(0, Math.Min(Math.Min(tcb.SendBuffer.Count, (int)tcb.SndWnd), tcb.Mss - SynOptionLength(in o, tcb)));
                }
            }
        }

        if (synAck)
        {
            tcb.LastAckSent = tcb.RcvNxt;
            tcb.RcvAdv = tcb.RcvNxt + o.Window;
        }

        stack.Statistics.tcps_sndctrl++;
        if (tcb.RxtShift == 0)
        {
            tcb.SynSentAt = tcb.Now;
        }
        else if (synAck)
        {
            stack.Statistics.tcps_sc_retransmitted++;
        }

        if (o.DataLength > 0)
        {
            stack.Statistics.tcps_sndpack++;
            stack.Statistics.tcps_sndbyte += o.DataLength;
            tcb.SentPackets++;
            tcb.SentBytes += o.DataLength;
        }

        stack.Emit(in o, tcb);
        tcb.SndNxt = tcb.Iss + 1 + (uint)o.DataLength;
        if (Seq.Lt(tcb.SndMax, tcb.SndNxt))
        {
            tcb.SndMax = tcb.SndNxt;
        }

        if (!tcb.RexmtTimer.IsScheduled)
        {
            tcb.RexmtMode = TcpTimerKind.Retransmit;
            stack.Net.Loop.ScheduleAfter(tcb.RexmtTimer, tcb.CurrentRto(syn: true));
        }
    }

    /// <summary>Bytes of options a SYN carries, laid out as <see cref="TcpStack.Emit"/> writes them.</summary>
    private static int SynOptionLength(in OutSegment o, TcpControlBlock tcb)
    {
        Span<byte> opts = stackalloc byte[TcpPacket.MaximumOptionsLength];
        var w = new TcpOptionWriter(opts, alignLikeFreeBsd: true);
        TcpStack.WriteLeadingOptions(ref w, in o, tcb);
        return w.Finish(padWithEndOfList: true);
    }

    private void SendNew(TcpControlBlock tcb, int len, bool fin)
    {
        var stack = tcb.Stack;
        var stats = stack.Statistics;
        var o = AckSegment(tcb);
        o.Seq = tcb.SndMax;
        o.DataOffset = tcb.BufferOffset(tcb.SndMax);
        o.DataLength = len;
        if (len > 0 && len == tcb.Unsent)
        {
            o.Flags |= TcpFlags.Psh;
        }

        if (len > 0 && tcb.Has(TcbFlags.EcnPermit) && !(tcb.Has(TcbFlags.ForceData) && len == 1))
        {
            // tcp_ecn_output_established: new data is ECT(0) (RFC 3168 §6.1.2), not retransmissions or window probes;
            // CWR rides on the first new data after a window reduction (§6.1.2).
            o.Ecn = 2;
            stats.tcps_ecn_ect0++;
            if (tcb.Has(TcbFlags.EcnSendCwr))
            {
                o.Flags |= TcpFlags.Cwr;
                tcb.Flags &= ~TcbFlags.EcnSendCwr;
            }
        }

        if (fin)
        {
            o.Flags |= TcpFlags.Fin;
            tcb.Flags |= TcbFlags.SentFin;
            stats.tcps_sndctrl++;
        }

        if (len > 0)
        {
            stats.tcps_sndpack++;
            stats.tcps_sndbyte += len;
            tcb.SentPackets++;
            tcb.SentBytes += len;
        }

        ApplyUrgent(tcb, ref o);
        NotePathMtuState(tcb, len);
        var seqLen = len + (fin ? 1 : 0);
        tcb.Map.Add(tcb.SndMax, seqLen, tcb.Now, fin ? SentFlags.Fin : SentFlags.None);
        stats.tcps_segstimed++;
        tcb.SndMax += (uint)seqLen;
        tcb.SndNxt = tcb.SndMax;
        ClearAckFlags(tcb);
        stack.Emit(in o, tcb);
        OnSent(tcb, seqLen, retransmission: false);
        ArmTimer(tcb, restart: false);
    }

    /// <summary>Resends one send-map entry (its original boundaries, so SACK blocks keep lining up).</summary>
    internal void Retransmit(TcpControlBlock tcb, ref SentSegment e)
    {
        var stack = tcb.Stack;
        var stats = stack.Statistics;
        var fin = e.Is(SentFlags.Fin);
        var len = e.Length - (fin ? 1 : 0);
        var o = AckSegment(tcb);
        o.Seq = e.Start;
        o.DataOffset = tcb.BufferOffset(e.Start);
        o.DataLength = Math.Max(0, Math.Min(len, tcb.SendBuffer.Count - o.DataOffset));
        if (fin)
        {
            o.Flags |= TcpFlags.Fin;
        }

        // tcp_output: "if we're sending everything we've got, set PUSH" — retransmissions too.
        if (o.DataLength > 0 && o.DataOffset + o.DataLength == tcb.SendBuffer.Count)
        {
            o.Flags |= TcpFlags.Psh;
        }

        ApplyUrgent(tcb, ref o);
        NotePathMtuState(tcb, o.DataLength);
        e.Flags |= SentFlags.Resent | SentFlags.Retransmitted;
        e.SentAt = tcb.Now;
        if (e.Transmissions < 255)
        {
            e.Transmissions++;
        }

        stats.tcps_sndrexmitpack++;
        stats.tcps_sndrexmitbyte += o.DataLength;
        if (tcb.SackEnabled && tcb.InRecovery)
        {
            stats.tcps_sack_rexmits++;
            stats.tcps_sack_rexmit_bytes += o.DataLength;
        }

        tcb.RetransmittedPackets++;
        tcb.RetransmittedBytes += o.DataLength;
        ClearAckFlags(tcb);
        stack.Emit(in o, tcb);
        OnSent(tcb, e.Length, retransmission: true);
        ArmTimer(tcb, restart: false);
    }

    /// <summary>
    /// tcp_output's PLPMTUD bookkeeping: TF2_PLPMTU_PMTUD while net.inet.tcp.path_mtu_discovery is on and t_maxseg is
    /// above net.inet.tcp.minmss; TF2_PLPMTU_MAXSEGSNT when the data segment just sent was full-sized.
    /// </summary>
    private static void NotePathMtuState(TcpControlBlock tcb, int len)
    {
        var stack = tcb.Stack;
        tcb.PmtudEnabled = stack.SysctlPathMtuDiscovery.Value != 0 && tcb.Mss > stack.SysctlMinMss.Value;
        if (len > 0)
        {
            tcb.MaxSegSent = len >= SegmentSize(tcb);
        }
    }

    /// <summary>
    /// tcp_timer_rexmt's PLPMTUD black-hole detection (net.inet.tcp.pmtud_blackhole_detection): after the first
    /// timeout of full-sized segments in ESTABLISHED or FIN_WAIT_1, every second timeout lowers the MSS, first to
    /// net.inet.tcp.[v6]pmtud_blackhole_mss, then to net.inet.tcp.[v6]mssdflt; when that does not help either, the
    /// saved MSS comes back. Returns true when t_maxseg changed.
    /// </summary>
    private static bool PmtudBlackholeCheck(TcpControlBlock tcb)
    {
        var stack = tcb.Stack;
        var detect = stack.SysctlPmtudBlackholeDetect.Value;
        var ipv6 = tcb.IsIPv6;
        if (!(detect == 1 || (detect == 2 && !ipv6) || (detect == 3 && ipv6)) || tcb.State is not (TcpState.Established or TcpState.FinWait1))
        {
            return false;
        }

        var blackholeMss = (int)(ipv6 ? stack.SysctlV6PmtudBlackholeMss.Value : stack.SysctlPmtudBlackholeMss.Value);
        var defaultMss = (int)stack.DefaultMss(ipv6);
        if (tcb.RxtShift == 1)
        {
            // Up to two lower candidates, each given two retransmissions, and only if it really lowers the MSS.
            tcb.BlackholeEnter = 2;
            tcb.BlackholeExit = tcb.BlackholeEnter;
            if (tcb.Mss > blackholeMss)
            {
                tcb.BlackholeExit += 2;
            }

            if (tcb.Mss > defaultMss && blackholeMss > defaultMss)
            {
                tcb.BlackholeExit += 2;
            }
        }

        var before = tcb.Mss;
        if (tcb.PmtudEnabled && tcb.MaxSegSent && tcb.RxtShift >= tcb.BlackholeEnter && tcb.RxtShift < tcb.BlackholeExit
            && (tcb.RxtShift - tcb.BlackholeEnter) % 2 == 0)
        {
            if (!tcb.InBlackhole)
            {
                tcb.InBlackhole = true;
                tcb.PmtudSavedMss = tcb.Mss;
            }

            if (tcb.Mss > blackholeMss && blackholeMss > defaultMss)
            {
                tcb.Mss = blackholeMss;
                stack.Statistics.tcps_pmtud_blackhole_activated++;
            }
            else
            {
                // The default MSS, and no more path MTU discovery at that size.
                tcb.Mss = defaultMss;
                tcb.PmtudEnabled = false;
                stack.Statistics.tcps_pmtud_blackhole_activated_min_mss++;
            }
        }
        else if (tcb.InBlackhole && tcb.RxtShift >= tcb.BlackholeExit)
        {
            // Still no luck with the lower sizes: probably no black hole after all.
            tcb.PmtudEnabled = true;
            tcb.InBlackhole = false;
            tcb.Mss = tcb.PmtudSavedMss;
            stack.Statistics.tcps_pmtud_blackhole_failed++;
        }

        return tcb.Mss != before;
    }

    /// <summary>
    /// tcp_output: while SND.UP is beyond the segment's sequence number it carries URG and the offset of SND.UP (at most
    /// TCP_MAXWIN); otherwise SND.UP is dragged to SND.UNA so that it never drifts into the window on wraparound.
    /// </summary>
    internal static void ApplyUrgent(TcpControlBlock tcb, ref OutSegment o)
    {
        if (Seq.Gt(tcb.SndUp, o.Seq))
        {
            o.Flags |= TcpFlags.Urg;
            o.Urgent = (ushort)Math.Min(tcb.SndUp - o.Seq, 65535u);
        }
        else
        {
            tcb.SndUp = tcb.SndUna;
        }
    }

    private static void ClearAckFlags(TcpControlBlock tcb)
    {
        tcb.Flags &= ~(TcbFlags.AckNow | TcbFlags.DelAck);
        if (tcb.DelAckTimer.IsScheduled)
        {
            tcb.Stack.Net.Loop.Cancel(tcb.DelAckTimer);
        }
    }

    private static void SetPersist(TcpControlBlock tcb)
    {
        // tcp_setpersist: RTO-based, backed off, clamped to [5 s, 60 s].
        var baseRto = tcb.HaveRtt ? tcb.Srtt + (4 * tcb.RttVar) : tcb.Rto;
        var shift = Math.Min(tcb.PersistShift, 12);
        var t = Math.Clamp(baseRto * (1L << Math.Min(shift, 9)), 5 * Nanos.PerSecond, 60 * Nanos.PerSecond);
        tcb.Stack.Net.Loop.ScheduleAfter(tcb.PersistTimer, t);
        if (tcb.PersistShift < 12)
        {
            tcb.PersistShift++;
        }
    }

    // ---------------------------------------------------------------- timers

    /// <inheritdoc />
    public void TimerExpired(TcpControlBlock tcb, TcpTimerKind kind)
    {
        var stack = tcb.Stack;
        var stats = stack.Statistics;
        var loop = stack.Net.Loop;
        switch (kind)
        {
            case TcpTimerKind.Retransmit:
                RetransmitTimeout(tcb);
                break;
            case TcpTimerKind.Persist:
                stats.tcps_persisttimeo++;
                stats.tcps_sndprobe++;
                if (tcb.Unsent > 0 && tcb.SndUna == tcb.SndMax)
                {
                    tcb.Flags |= TcbFlags.ForceData;
                    Output(tcb);
                    tcb.Flags &= ~TcbFlags.ForceData;
                }

                break;
            case TcpTimerKind.Keepalive:
                KeepTimeout(tcb);
                break;
            case TcpTimerKind.TwoMsl:
                if (tcb.State == TcpState.FinWait2)
                {
                    stats.tcps_finwait2_drops++;
                }

                Close(tcb, Errno.None);
                break;
            case TcpTimerKind.DelayedAck:
                if (tcb.Has(TcbFlags.DelAck))
                {
                    stats.tcps_delack++;
                    tcb.Flags |= TcbFlags.AckNow;
                    Output(tcb);
                }

                break;
            default:
                OnBlockTimer(tcb, kind);
                break;
        }
    }

    /// <summary>Block-specific timers (TLP, RACK reordering).</summary>
    internal virtual void OnBlockTimer(TcpControlBlock tcb, TcpTimerKind kind) => RetransmitTimeout(tcb);

    /// <summary>tcp_timer_rexmt: back off, collapse cwnd, mark everything outstanding lost, resend.</summary>
    internal virtual void RetransmitTimeout(TcpControlBlock tcb)
    {
        var stack = tcb.Stack;
        var stats = stack.Statistics;
        if (tcb.State == TcpState.Closed || (tcb.SndUna == tcb.SndMax && tcb.State >= TcpState.Established))
        {
            return; // nothing outstanding: a stale timer
        }

        // A zero-window probe outstanding is persist, not loss: probe again without counting toward the drop.
        var probing = tcb.SndWnd == 0 && (int)(tcb.SndMax - tcb.SndUna) <= 1 && tcb.State >= TcpState.Established;
        if (!probing)
        {
            tcb.RxtShift++;
        }
        else
        {
            stats.tcps_sndprobe++;
            tcb.PersistShift = Math.Min(tcb.PersistShift + 1, 9);
        }

        var synState = tcb.State is TcpState.SynSent or TcpState.SynReceived;
        if (tcb.RxtShift > MaxRxtShift)
        {
            stats.tcps_timeoutdrop++;
            Drop(tcb, tcb.Socket?.SoftError is { } soft && soft != Errno.None ? soft : Errno.ETIMEDOUT);
            return;
        }

        stats.tcps_rexmttimeo++;
        if (synState)
        {
            if (tcb.State == TcpState.SynSent && tcb.RxtShift == 3 && stack.SysctlRexmitDropOptions.Value != 0)
            {
                // tcp_timer_rexmt: net.inet.tcp.rexmit_drop_options — the peer may drop SYNs with options.
                tcb.Flags &= ~(TcbFlags.ReqScale | TcbFlags.ReqTstmp);
                tcb.Flags |= TcbFlags.NoSackOffer;
            }

            tcb.SndNxt = tcb.Iss;
            Output(tcb);
            return;
        }

        if (tcb.RxtShift == 1 && !probing)
        {
            // tcp_timer_rexmt: keep what a spurious first timeout would give back (TF_PREVVALID, RFC 4015).
            tcb.CwndPrev = tcb.Cwnd;
            tcb.SsthreshPrev = tcb.Ssthresh;
            tcb.RecoverPrev = tcb.SndRecover;
            tcb.WasFastRecoveryPrev = tcb.InRecovery;
            tcb.PrevValid = true;

            // Without timestamps an ACK within half an SRTT of the timeout was already in flight; with them tcp_output
            // records the resend's TSval instead.
            tcb.BadRxtWin = tcb.TimestampsEnabled ? 0 : (uint)(tcb.Now / Nanos.PerMillisecond) + (uint)(tcb.Srtt / Nanos.PerMillisecond / 2);
            tcb.CongestionControl.CongestionSignal(tcb, CongestionSignal.Timeout);
        }
        else if (!probing)
        {
            tcb.PrevValid = false;
        }

        var resegment = !probing && PmtudBlackholeCheck(tcb);

        // tcp_timer_rexmt: snd_cwnd = tcp_maxseg(tp), t_maxseg less the options every segment carries (rack:
        // ctf_fixed_maxseg); with the option bytes on top, cwnd - pipe would let a second segment follow the first.
        tcb.Cwnd = SegmentSize(tcb);
        tcb.Flags &= ~TcbFlags.FastRecovery;
        tcb.DupAcks = 0;
        tcb.SndRecover = tcb.SndMax;
        for (var i = 0; i < tcb.Map.Count; i++)
        {
            ref var e = ref tcb.Map[i];
            if (!e.Is(SentFlags.Sacked))
            {
                e.Flags = (e.Flags | SentFlags.Lost | SentFlags.RtoRetransmit) & ~SentFlags.Resent;
            }
        }

        if (resegment)
        {
            tcb.Map.Resegment(SegmentSize(tcb));
        }

        OnRetransmitTimeout(tcb);
        tcb.ForceOneRetransmit = true;
        var before = tcb.RexmtTimer.IsScheduled;
        Output(tcb);
        if (!before && !tcb.RexmtTimer.IsScheduled && tcb.SndUna != tcb.SndMax)
        {
            ArmTimer(tcb, restart: true);
        }
    }

    /// <summary>Hook for an ACK that acknowledges new data, before its RTT sample is taken.</summary>
    internal virtual void OnAckAdvancing(TcpControlBlock tcb)
    {
    }

    /// <summary>Hook after an RTO marked everything lost.</summary>
    internal virtual void OnRetransmitTimeout(TcpControlBlock tcb)
    {
    }

    private void KeepTimeout(TcpControlBlock tcb)
    {
        var stack = tcb.Stack;
        var stats = stack.Statistics;
        var loop = stack.Net.Loop;
        if (tcb.State < TcpState.Established)
        {
            stats.tcps_keeptimeo++;
            Drop(tcb, Errno.ETIMEDOUT);
            return;
        }

        // tcp_timer_keep: probes with SO_KEEPALIVE or net.inet.tcp.always_keepalive, up to CLOSING.
        if (!tcb.KeepAliveEnabled || tcb.State > TcpState.Closing)
        {
            return;
        }

        var idle = tcb.Now - tcb.LastInput;
        if (idle < tcb.KeepIdle)
        {
            loop.ScheduleAfter(tcb.KeepTimer, tcb.KeepIdle - idle);
            return;
        }

        stats.tcps_keeptimeo++;
        if (tcb.KeepProbes >= tcb.KeepCnt)
        {
            stats.tcps_keepdrops++;
            Drop(tcb, Errno.ETIMEDOUT);
            return;
        }

        // tcp_keepalive: a segment one below snd_una, which the peer must ACK.
        stats.tcps_keepprobe++;
        tcb.KeepProbes++;
        var o = AckSegment(tcb);
        o.Seq = tcb.SndUna - 1;
        stack.Emit(in o, tcb);
        loop.ScheduleAfter(tcb.KeepTimer, tcb.KeepIntvl);
    }
}
