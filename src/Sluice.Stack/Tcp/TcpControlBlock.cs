using Sluice.Stack.Sockets;
using Sluice.Stack.Time;

namespace Sluice.Stack.Tcp;

/// <summary>
/// The TCP control block (struct tcpcb) shared by every function block: sequence space, windows, options,
/// timers, RTT estimator, congestion state, the send map (SACK scoreboard) and the socket buffers.
/// </summary>
/// <remarks>
/// Lives on the event loop. The function block that owns the connection (<see cref="FunctionBlock"/>) drives it;
/// switching blocks hands the same control block over (tfb_tcp_fb_init / tfb_tcp_fb_fini).
/// Sequence fields follow RFC 9293 names.
/// </remarks>
public sealed class TcpControlBlock : ITimerHandler
{
    internal readonly TcpStack Stack;
    internal TcpSocket? Socket;
    internal TcbFlags Flags;
    internal TcpConnectionKey Key;

    // Send sequence space.
    internal uint Iss, SndUna, SndNxt, SndMax, SndWl1, SndWl2, SndRecover, SndBufSeq;
    internal uint SndWnd, MaxSndWnd;

    // Receive sequence space.
    internal uint Irs, RcvNxt, RcvAdv, LastAckSent;

    internal int PeerMss, UserMaxSeg;

    /// <summary>IP_TOS / IPV6_TCLASS (DSCP bits used; TCP owns the ECN field) and IP_TTL / IPV6_UNICAST_HOPS (-1: the default).</summary>
    internal byte IpTos;
    internal int IpTtl = -1;

    /// <summary>t_port: the peer's UDP port when the connection runs TCP over UDP (TCP_REMOTE_UDP_ENCAPS_PORT), 0 for plain TCP.</summary>
    internal ushort UdpPort;

    // PLPMTUD black-hole detection (tcp_timer_rexmt): t_flags2 TF2_PLPMTU_*, t_blackhole_enter/exit, t_pmtud_saved_maxseg.
    internal bool PmtudEnabled, MaxSegSent, InBlackhole;
    internal int BlackholeEnter, BlackholeExit, PmtudSavedMss;

    /// <summary>Largest IP packet the outgoing link segments itself (TSO); 0 none, -1 not looked up yet.</summary>
    internal int TsoMax = -1;
    internal int SndScale, RcvScale, RequestedRcvScale;
    internal uint TsRecent, TsOffset;
    internal long TsRecentAge;

    // RTT (RFC 6298), nanoseconds.
    internal long Srtt, RttVar, MinRtt = long.MaxValue, LatestRtt;
    internal bool HaveRtt;
    internal int RxtShift;
    /// <summary>
    /// Start of the current challenge-ACK window (tcp_challenge_ack_check's t_challenge_ack_end less the window); one
    /// window before virtual time 0 so that the first challenge ACK opens a window whenever the connection began.
    /// </summary>
    internal long LastChallengeAck = -Nanos.PerSecond;
    internal int ChallengeAcksThisSecond;

    // Congestion.
    internal int Cwnd, Ssthresh;
    internal long BytesAcked;
    internal int DupAcks;
    internal bool ForceOneRetransmit;
    internal long DeliveredBytes;

    /// <summary>
    /// When the SYN or SYN-ACK was first sent (ns), for its RTT sample (tcp_output's t_rtttime for the SYN); -1 when none
    /// is timed. Virtual time starts at 0, so 0 is a real send time and cannot mean "unset" as t_rtttime's 0 does.
    /// </summary>
    internal long SynSentAt = -1;
    internal uint SackHigh;

    /// <summary>The ACK being processed carried SACK blocks (TOF_SACK).</summary>
    internal bool InputHasSack;

    /// <summary>The ACK being processed opened a new hole above snd_fack (tcp_sack_doack's SACK_NEWLOSS).</summary>
    internal bool SackNewLoss;

    /// <summary>snd_max when ECN last reduced the window: one reduction per window of data (RFC 3168 §6.1.2).</summary>
    internal uint EcnRecover;

    // PRR (RFC 6937).
    internal long PrrDelivered, PrrOut, RecoverFs;

    /// <summary>The `freebsd` block's current SACK recovery is paced by PRR (net.inet.tcp.do_prr was set at its start).</summary>
    internal bool PrrActive;

    internal readonly ByteRing SendBuffer;
    internal readonly ByteRing RecvBuffer;

    /// <summary>
    /// SB_AUTOSIZE on so_snd and so_rcv: autotuning may grow the buffer. Cleared by SO_SNDBUF/SO_RCVBUF (sbsetopt) and
    /// by an sbreserve that fails (above sb_max_adj).
    /// </summary>
    internal bool SendAutoSize = true, RecvAutoSize = true;

    /// <summary>
    /// rfbuf_ts (the millisecond clock when the measurement began) and rfbuf_cnt (bytes received in order since then):
    /// tcp_autorcvbuf's measurement. -1 when none is running: FreeBSD's 0 for that works because tcp_ts_getticks (uptime
    /// in ms) is never 0 once TCP runs, but virtual time starts at 0.
    /// </summary>
    internal long RfbufTs = -1;
    internal int RfbufCnt;
    internal readonly ReassemblyRanges Reass = new();
    internal readonly SendMap Map = new();
    internal bool FinQueued, RemoteFinPending;
    internal uint RemoteFinSeq;

    internal readonly Timer RexmtTimer, PersistTimer, KeepTimer, TwoMslTimer, DelAckTimer;
    internal TcpTimerKind RexmtMode;
    internal int PersistShift, KeepProbes;
    /// <summary>t_rcvtime: when the last segment arrived (ns); tcp_newtcpcb starts it at the control block's creation.</summary>
    internal long LastInput;

    internal long KeepIdle, KeepIntvl, KeepInit;
    internal int KeepCnt;
    internal object? FunctionBlockState;

    // Per-connection counters (tcp_info).
    internal long RetransmittedPackets, RetransmittedBytes, SentPackets, SentBytes, ReceivedPackets, ReceivedBytes, OutOfOrderPackets;

    /// <summary>RFC 2883 D-SACK: a duplicate range to report once, as the first SACK block of the next segment sent.</summary>
    internal bool DsackPending;

    /// <summary>The ACK about to be sent is a window update after the application read (tcps_sndwinup, not tcps_sndacks).</summary>
    internal bool WindowUpdateOnly;

    internal uint DsackStart, DsackEnd;

    /// <summary>TCP Fast Open (RFC 7413): TF_FASTOPEN and its per-connection state, and the client's or server's cookie.</summary>
    internal FastOpenFlags FastOpen;
    internal byte[]? FastOpenCookie;
    internal int FastOpenCookieLength;

    // Urgent data (RFC 9293 §3.8.5, RFC 6093) as BSD keeps it: snd_up and rcv_up point just past the urgent byte;
    // t_oobflags, t_iobc (the byte pulled out of the stream), so_oobmark and SBS_RCVATMARK of the socket.
    internal uint SndUp, RcvUp;
    internal OutOfBandFlags OutOfBand;
    internal byte OutOfBandByte;
    internal int OutOfBandMark;
    internal bool AtMark, OutOfBandInline;

    /// <summary>The last segment sent for the urgent pointer alone (SND.UP and SEG.SEQ), not repeated while unchanged.</summary>
    internal bool UrgentOnlySent;
    internal uint UrgentOnlyUp, UrgentOnlySeq;

    /// <summary>The urgent byte at <see cref="OutOfBandPullSeq"/> still has to leave the stream once it is in sequence.</summary>
    internal bool OutOfBandPullPending;
    internal uint OutOfBandPullSeq;

    // The ACK being processed, for the block's hooks: its acknowledgment number and timestamp echo (TSecr).
    internal uint InputAck, InputTsEcr;
    internal bool InputHasTs;

    // tcp_timer_rexmt's state kept to undo a spurious timeout: snd_cwnd_prev, snd_ssthresh_prev, snd_recover_prev,
    // TF_PREVVALID and TF_WASFRECOVERY.
    internal int CwndPrev, SsthreshPrev;
    internal uint RecoverPrev;
    internal bool PrevValid, WasFastRecoveryPrev;

    /// <summary>
    /// t_badrxtwin (ms ticks): with timestamps, the TSval of the latest segment sent after the first timeout (tcp_output);
    /// without, the tick half an SRTT after that timeout (tcp_timer_rexmt). Zero when unset.
    /// </summary>
    internal uint BadRxtWin;

    /// <summary>The TSval this connection sent at <paramref name="time"/> (ns): what the peer echoes for a segment sent then.</summary>
    internal uint TsValAt(long time) => (uint)(time / Nanos.PerMillisecond) + TsOffset;

    /// <summary>tcp_update_dsack_list: records the duplicate range [start,end) unless one is already waiting.</summary>
    internal void ReportDuplicate(uint start, uint end)
    {
        if (!SackEnabled || DsackPending || !Seq.Lt(start, end))
        {
            return;
        }

        DsackPending = true;
        DsackStart = start;
        DsackEnd = end;
    }

    internal TcpControlBlock(TcpStack stack, ITcpFunctionBlock fb, ICongestionControl cc, bool ipv6)
    {
        Stack = stack;
        FunctionBlock = fb;
        CongestionControl = cc;
        IsIPv6 = ipv6;
        SendBuffer = new ByteRing((int)stack.SysctlSendSpace.Value);
        RecvBuffer = new ByteRing((int)stack.SysctlRecvSpace.Value);
        RexmtTimer = new Timer(this);
        PersistTimer = new Timer(this);
        KeepTimer = new Timer(this);
        TwoMslTimer = new Timer(this);
        DelAckTimer = new Timer(this);
        Mss = (int)stack.DefaultMss(ipv6);
        Rto = stack.SysctlRexmitInitial.Value * Nanos.PerMillisecond;
        KeepIdle = stack.SysctlKeepIdle.Value * Nanos.PerMillisecond;
        KeepIntvl = stack.SysctlKeepIntvl.Value * Nanos.PerMillisecond;
        KeepInit = stack.SysctlKeepInit.Value * Nanos.PerMillisecond;
        KeepCnt = (int)stack.SysctlKeepCnt.Value;
        LastInput = stack.Net.Loop.Now;
        Ssthresh = int.MaxValue / 2;
        if (stack.SysctlDelayedAck.Value == 0)
        {
            // Delayed ACK disabled: every segment is acknowledged at once.
        }
    }

    /// <summary>Keepalive probes are sent: SO_KEEPALIVE, or net.inet.tcp.always_keepalive (FreeBSD's default).</summary>
    internal bool KeepAliveEnabled => Has(TcbFlags.KeepAlive) || Stack.SysctlAlwaysKeepalive.Value != 0;

    /// <summary>The connection's state.</summary>
    public TcpState State { get; internal set; }

    /// <summary>The function block (TCP stack) driving this connection.</summary>
    public ITcpFunctionBlock FunctionBlock { get; internal set; }

    /// <summary>The congestion-control module of this connection.</summary>
    public ICongestionControl CongestionControl { get; internal set; }

    /// <summary>True for IPv6.</summary>
    public bool IsIPv6 { get; }

    /// <summary>Local endpoint.</summary>
    public InetEndpoint LocalEndpoint => new(Key.LocalAddress, Key.LocalPort);

    /// <summary>Foreign endpoint.</summary>
    public InetEndpoint RemoteEndpoint => new(Key.RemoteAddress, Key.RemotePort);

    /// <summary>Effective maximum segment size (t_maxseg): payload bytes per segment.</summary>
    public int Mss { get; internal set; }

    /// <summary>Current retransmission timeout base in ns (before backoff).</summary>
    public long Rto { get; internal set; }

    /// <summary>Congestion window in bytes.</summary>
    public int CongestionWindow => Cwnd;

    /// <summary>Slow-start threshold in bytes.</summary>
    public int SlowStartThreshold => Ssthresh;

    /// <summary>Smoothed RTT in ns (0 before the first sample).</summary>
    public long SmoothedRtt => Srtt;

    /// <summary>Send window scale shift in use (0 when not negotiated).</summary>
    public int SendScale => SndScale;

    /// <summary>Receive window scale shift in use (0 when not negotiated).</summary>
    public int ReceiveScale => RcvScale;

    /// <summary>True when timestamps (RFC 7323) were negotiated.</summary>
    public bool TimestampsEnabled => (Flags & TcbFlags.RcvdTstmp) != 0 && (Flags & TcbFlags.ReqTstmp) != 0;

    /// <summary>True when SACK (RFC 2018) was negotiated.</summary>
    public bool SackEnabled => (Flags & TcbFlags.SackPermit) != 0;

    /// <summary>True while in loss recovery.</summary>
    public bool InRecovery => (Flags & TcbFlags.FastRecovery) != 0;

    /// <summary>Bytes queued in the send buffer (sent and unsent).</summary>
    public int SendQueued => SendBuffer.Count;

    /// <summary>Bytes readable in the receive buffer.</summary>
    public int ReceiveQueued => RecvBuffer.Count;

    internal long Now => Stack.Net.Loop.Now;

    /// <summary>The largest window the peer can be offered (TCP_MAXWIN &lt;&lt; snd_scale).</summary>
    internal int MaxWindow => (int)Math.Min(int.MaxValue / 2, 65535L << SndScale);

    /// <summary>Bytes of unsent data in the send buffer beyond snd_nxt.</summary>
    internal int Unsent => SendBuffer.Count - (int)(SndMax - SndBufSeq);

    /// <summary>Whether a byte of sequence space is data in the send buffer.</summary>
    internal int BufferOffset(uint seq) => (int)(seq - SndBufSeq);

    internal bool Has(TcbFlags f) => (Flags & f) != 0;

    /// <summary>The current RTO with backoff applied, clamped to FreeBSD's range.</summary>
    internal long CurrentRto(bool syn = false)
    {
        var shift = Math.Min(RxtShift, 12);
        if (syn)
        {
            // tcp_timer_rexmt (SYN-SENT/SYN-RECEIVED) and syncache_timeout: rexmit_initial at first, then
            // rexmit_initial * tcp_backoff[shift] through TCPT_RANGESET (+ rexmit_slop, within [rexmit_min, 64 s]).
            var initial = Stack.SysctlRexmitInitial.Value * Nanos.PerMillisecond;
            if (shift == 0)
            {
                return initial;
            }

            var slop = Stack.SysctlRexmitSlop.Value * Nanos.PerMillisecond;
            return Math.Clamp((initial * Backoff[shift]) + slop, Stack.SysctlRexmitMin.Value * Nanos.PerMillisecond, 64 * Nanos.PerSecond);
        }

        return Math.Min(Rto * Backoff[shift], 64 * Nanos.PerSecond);
    }

    private static readonly int[] Backoff = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 512, 512, 512];

    /// <summary>RFC 6298 §2: updates SRTT, RTTVAR and RTO from a sample in ns.</summary>
    internal void RttSample(long rtt)
    {
        rtt = Math.Max(rtt, 1);
        LatestRtt = rtt;
        MinRtt = Math.Min(MinRtt, rtt);
        if (!HaveRtt)
        {
            Srtt = rtt;
            RttVar = rtt / 2;
            HaveRtt = true;
        }
        else
        {
            RttVar = ((3 * RttVar) + Math.Abs(Srtt - rtt)) / 4;
            Srtt = ((7 * Srtt) + rtt) / 8;
        }

        // TCPT_RANGESET: value (+ slop for the default stack), at least max(rexmit_min, rtt + 2 ticks), at most 64 s.
        var min = Math.Max(Stack.SysctlRexmitMin.Value * Nanos.PerMillisecond, rtt + (2 * Nanos.PerMillisecond));
        var slop = FunctionBlock.UsesRexmitSlop ? Stack.SysctlRexmitSlop.Value * Nanos.PerMillisecond : 0;
        Rto = Math.Clamp(Srtt + Math.Max(4 * RttVar, Nanos.PerMillisecond) + slop, min, 64 * Nanos.PerSecond);
        RxtShift = 0;
    }

    /// <summary>Timestamp clock (ms) for TSval.</summary>
    internal uint TsNow => (uint)(Now / Nanos.PerMillisecond) + TsOffset;

    /// <summary>Receive window we can offer: free space in the receive buffer, never shrinking below what was advertised.</summary>
    internal uint ReceiveWindow()
    {
        var free = RecvBuffer.Free;
        var win = (long)Math.Max(0, free);
        var advertised = (long)(int)(RcvAdv - RcvNxt);
        win = Math.Max(win, Math.Max(advertised, 0));
        return (uint)Math.Min(win, 65535L << RcvScale);
    }

    void ITimerHandler.OnTimer(Timer timer)
    {
        TcpTimerKind kind;
        if (ReferenceEquals(timer, RexmtTimer))
        {
            kind = RexmtMode;
        }
        else if (ReferenceEquals(timer, PersistTimer))
        {
            kind = TcpTimerKind.Persist;
        }
        else if (ReferenceEquals(timer, KeepTimer))
        {
            kind = TcpTimerKind.Keepalive;
        }
        else if (ReferenceEquals(timer, TwoMslTimer))
        {
            kind = TcpTimerKind.TwoMsl;
        }
        else
        {
            kind = TcpTimerKind.DelayedAck;
        }

        FunctionBlock.TimerExpired(this, kind);
    }

    internal void CancelTimers()
    {
        var loop = Stack.Net.Loop;
        loop.Cancel(RexmtTimer);
        loop.Cancel(PersistTimer);
        loop.Cancel(KeepTimer);
        loop.Cancel(TwoMslTimer);
        loop.Cancel(DelAckTimer);
    }

    /// <inheritdoc />
    public override string ToString() => $"{LocalEndpoint} {RemoteEndpoint} {TcpStateNames.Of(State)}";
}
