using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tcp;

/// <summary>
/// A TCP stack in FreeBSD's sense (struct tcp_function_block): a named set of per-connection hooks — segment input,
/// output, timers, and hand-off when a connection switches to or from it.
/// </summary>
/// <remarks>Called on the event loop. Per-connection state lives in the <see cref="TcpControlBlock"/>.</remarks>
public interface ITcpFunctionBlock
{
    /// <summary>The name listed by net.inet.tcp.functions_available (tfb_tcp_block_name).</summary>
    string Name { get; }

    /// <summary>
    /// True when the RTO includes net.inet.tcp.rexmit_slop: the default stack's TCPT_RANGESET does, and so does rack's
    /// RACK_TCPT_RANGESET with r_ctl.timer_slop (rack_init takes it from tcp_rexmit_slop; TCP_RACK_TIMER_SLOP changes it).
    /// </summary>
    bool UsesRexmitSlop { get; }

    /// <summary>Takes over a connection (tfb_tcp_fb_init).</summary>
    void Init(TcpControlBlock tcb);

    /// <summary>Releases a connection to another block (tfb_tcp_fb_fini).</summary>
    void Fini(TcpControlBlock tcb);

    /// <summary>Whether <paramref name="tcb"/> may switch to this block now (tfb_tcp_handoff_ok).</summary>
    bool HandoffOk(TcpControlBlock tcb);

    /// <summary>Sends what the windows allow (tfb_tcp_output).</summary>
    void Output(TcpControlBlock tcb);

    /// <summary>A connection timer fired (tfb_tcp_timer_activate's callbacks).</summary>
    void TimerExpired(TcpControlBlock tcb, TcpTimerKind kind);

    /// <summary>Active open: sends the SYN.</summary>
    void Connect(TcpControlBlock tcb);

    /// <summary>The application closed its sending side (tcp_usrclosed).</summary>
    void UserClose(TcpControlBlock tcb);

    /// <summary>The application read data: a window update may be due (tcp_usr_rcvd).</summary>
    void UserReceived(TcpControlBlock tcb);

    /// <summary>Drops the connection, sending RST when synchronised (tcp_drop).</summary>
    void Drop(TcpControlBlock tcb, Errno error);

    /// <summary>The path MTU went down; segments are resized.</summary>
    void MtuReduced(TcpControlBlock tcb);

    internal void SegmentInput(TcpControlBlock tcb, ref TcpSegment segment);

    internal void PassiveOpen(TcpControlBlock tcb, ref TcpSegment syn);

    internal void CookieOpen(TcpControlBlock tcb, uint iss, uint irs, int mss, int windowScale, bool sack, ref TcpSegment ack);
}

/// <summary>
/// The RFC 9293 machine shared by Sluice's function blocks (tcp_input.c/tcp_output.c/tcp_timer.c). Loss detection,
/// recovery and timer choice are the virtual hooks that make a block what it is.
/// </summary>
public abstract partial class TcpFunctionBlockBase : ITcpFunctionBlock
{
    private const int MaxRxtShift = 12;

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public virtual bool UsesRexmitSlop => true;

    /// <inheritdoc />
    public virtual void Init(TcpControlBlock tcb)
    {
    }

    /// <inheritdoc />
    public virtual void Fini(TcpControlBlock tcb)
    {
        tcb.Stack.Net.Loop.Cancel(tcb.RexmtTimer);
        tcb.FunctionBlockState = null;
    }

    /// <inheritdoc />
    public virtual bool HandoffOk(TcpControlBlock tcb) =>
        tcb.State is TcpState.Closed or TcpState.SynSent or TcpState.SynReceived || (tcb.State == TcpState.Established && tcb.SndUna == tcb.SndMax);

    // ---------------------------------------------------------------- opens

    /// <inheritdoc />
    public void Connect(TcpControlBlock tcb)
    {
        var stack = tcb.Stack;
        stack.Statistics.tcps_connattempt++;
        tcb.Iss = stack.NewIss();
        tcb.SndUna = tcb.SndNxt = tcb.SndMax = tcb.SndRecover = tcb.SndUp = tcb.Iss;
        tcb.SndBufSeq = tcb.Iss + 1;
        tcb.State = TcpState.SynSent;
        RequestOptions(tcb);
        tcb.Mss = Math.Max(LocalMss(tcb), 64);
        if ((tcb.FastOpen & FastOpenFlags.ImpliedConnect) != 0)
        {
            stack.FastOpen.ClientConnect(tcb); // tcp_usr_send's implied connect on a TFO socket
        }

        stack.Net.Loop.ScheduleAfter(tcb.KeepTimer, tcb.KeepInit);
        Output(tcb);
    }

    /// <summary>tcp_mss_update's local bound: the route's MSS less net.inet.tcp.udp_tunneling_overhead when the connection is encapsulated.</summary>
    internal static int LocalMss(TcpControlBlock tcb) => tcb.Stack.MssFor(tcb.Key.RemoteAddress) - tcb.Stack.TunnelOverhead(tcb.UdpPort);

    private static void RequestOptions(TcpControlBlock tcb)
    {
        var stack = tcb.Stack;
        if (tcb.Has(TcbFlags.NoOpt))
        {
            return;
        }

        var rfc1323 = stack.SysctlRfc1323.Value;
        if (rfc1323 is 1 or 2)
        {
            tcb.Flags |= TcbFlags.ReqScale;
            tcb.RequestedRcvScale = stack.WindowScaleToRequest();
        }

        if (rfc1323 is 1 or 3)
        {
            tcb.Flags |= TcbFlags.ReqTstmp;
            tcb.TsOffset = stack.NewTsOffset();
        }
    }

    void ITcpFunctionBlock.PassiveOpen(TcpControlBlock tcb, ref TcpSegment syn)
    {
        var stack = tcb.Stack;
        tcb.Iss = stack.NewIss();
        tcb.SndUna = tcb.SndNxt = tcb.SndMax = tcb.SndRecover = tcb.SndUp = tcb.Iss;
        tcb.SndBufSeq = tcb.Iss + 1;
        tcb.Irs = syn.Seq;
        tcb.RcvNxt = syn.Seq + 1;
        tcb.RcvAdv = tcb.RcvUp = tcb.RcvNxt;
        RequestOptions(tcb);
        NegotiateOptions(tcb, ref syn);
        if ((syn.Flags & (TcpFlags.Ece | TcpFlags.Cwr)) == (TcpFlags.Ece | TcpFlags.Cwr) && stack.SysctlEcn.Value != 0)
        {
            tcb.Flags |= TcbFlags.EcnPermit; // RFC 3168 §6.1.1, tcp_ecn_syncache_add: an ECN-setup SYN
        }

        tcb.SndWnd = syn.Window;
        tcb.MaxSndWnd = tcb.SndWnd;
        tcb.SndWl1 = syn.Seq;
        tcb.SndWl2 = tcb.Iss;
        tcb.State = TcpState.SynReceived;
        if ((tcb.FastOpen & FastOpenFlags.Accepted) != 0 && syn.Payload.Length > 0)
        {
            // RFC 7413 §4.2.2, syncache_tfo_expand: a valid cookie lets the SYN's data in; the SYN-ACK acknowledges it.
            var len = Math.Min(syn.Payload.Length, Math.Max(tcb.RecvBuffer.Free, 0));
            tcb.RecvBuffer.Write(syn.Payload[..len]);
            tcb.RcvNxt += (uint)len;
            tcb.RcvAdv = tcb.RcvNxt;
            tcb.ReceivedPackets++;
            tcb.ReceivedBytes += len;
            stack.Statistics.tcps_rcvpack++;
            stack.Statistics.tcps_rcvbyte += len;
        }

        stack.Net.Loop.ScheduleAfter(tcb.KeepTimer, tcb.KeepInit);
        Output(tcb);
    }

    void ITcpFunctionBlock.CookieOpen(TcpControlBlock tcb, uint iss, uint irs, int mss, int windowScale, bool sack, ref TcpSegment ack)
    {
        var stack = tcb.Stack;
        tcb.Iss = iss;
        tcb.SndUna = tcb.SndUp = iss;
        tcb.SndNxt = tcb.SndMax = tcb.SndRecover = iss + 1;
        tcb.SndBufSeq = iss + 1;
        tcb.Irs = irs;
        tcb.RcvNxt = irs + 1;
        tcb.RcvAdv = tcb.RcvUp = tcb.RcvNxt;
        tcb.PeerMss = mss;
        tcb.Mss = Math.Max(Math.Min(LocalMss(tcb), mss), 64);
        if (windowScale >= 0)
        {
            tcb.Flags |= TcbFlags.ReqScale | TcbFlags.RcvdScale;
            tcb.RcvScale = windowScale;
            tcb.SndScale = 0; // the peer's shift is not in the cookie: assume none (conservative)
        }

        if (sack)
        {
            tcb.Flags |= TcbFlags.SackPermit;
        }

        SizeBuffers(tcb);
        tcb.SndWl1 = irs;
        tcb.SndWl2 = iss;
        tcb.State = TcpState.SynReceived;
        SegmentInput(tcb, ref ack);
    }

    private static void NegotiateOptions(TcpControlBlock tcb, ref TcpSegment syn)
    {
        var stack = tcb.Stack;
        ref var o = ref syn.Options;
        if (o.WindowScale >= 0 && tcb.Has(TcbFlags.ReqScale))
        {
            tcb.Flags |= TcbFlags.RcvdScale;
            tcb.SndScale = o.WindowScale;
            tcb.RcvScale = tcb.RequestedRcvScale;
        }
        else
        {
            tcb.Flags &= ~TcbFlags.ReqScale;
            tcb.SndScale = tcb.RcvScale = 0;
        }

        if (o.HasTimestamps && tcb.Has(TcbFlags.ReqTstmp))
        {
            tcb.Flags |= TcbFlags.RcvdTstmp;
            tcb.TsRecent = o.TsVal;
            tcb.TsRecentAge = tcb.Now;
        }
        else
        {
            tcb.Flags &= ~TcbFlags.ReqTstmp;
        }

        if (o.SackPermitted && stack.SysctlSack.Value != 0 && !tcb.Has(TcbFlags.NoOpt))
        {
            tcb.Flags |= TcbFlags.SackPermit;
        }

        tcb.PeerMss = o.Mss != 0 ? o.Mss : (int)stack.DefaultMss(tcb.IsIPv6);
        var local = LocalMss(tcb);
        if (tcb.UserMaxSeg > 0)
        {
            local = Math.Min(local, tcb.UserMaxSeg);
        }

        tcb.Mss = Math.Max(Math.Min(local, tcb.PeerMss), 64);
        SizeBuffers(tcb);
    }

    /// <summary>
    /// tcp_mss (tcp_input.c): the socket buffers become whole multiples of the MSS (never shrinking, at most sb_max);
    /// a send buffer smaller than the MSS lowers the MSS.
    /// </summary>
    private static void SizeBuffers(TcpControlBlock tcb)
    {
        var sbMax = (int)Math.Min(tcb.Stack.SysctlMaxSockBuf.Value, int.MaxValue);
        var mss = tcb.Mss;
        var snd = tcb.SendBuffer.Capacity;
        if (snd < mss)
        {
            mss = snd;
        }
        else
        {
            var size = (int)Math.Min((snd + (long)mss - 1) / mss * mss, sbMax);
            if (size > snd)
            {
                tcb.SendBuffer.Resize(size);
            }
        }

        tcb.Mss = Math.Max(mss, 64);
        var rcv = tcb.RecvBuffer.Capacity;
        if (rcv > mss)
        {
            var size = (int)Math.Min((rcv + (long)mss - 1) / mss * mss, sbMax);
            if (size > rcv)
            {
                tcb.RecvBuffer.Resize(size);
            }
        }
    }

    private static void Established(TcpControlBlock tcb)
    {
        var stack = tcb.Stack;
        tcb.State = TcpState.Established;
        tcb.EcnRecover = tcb.SndUna;
        stack.Statistics.tcps_connects++;
        var iw = (int)stack.SysctlInitCwndSegments.Value;
        tcb.Cwnd = iw > 0 ? Math.Min(iw * tcb.Mss, Math.Max(2 * tcb.Mss, 14600)) : tcb.Mss;
        tcb.CongestionControl.ConnectionInit(tcb);
        var loop = stack.Net.Loop;
        loop.Cancel(tcb.KeepTimer);
        if (tcb.KeepAliveEnabled)
        {
            loop.ScheduleAfter(tcb.KeepTimer, tcb.KeepIdle);
        }
    }

    // ---------------------------------------------------------------- close and drop

    /// <inheritdoc />
    public void Drop(TcpControlBlock tcb, Errno error)
    {
        var stack = tcb.Stack;
        if (tcb.State is >= TcpState.SynReceived and not TcpState.TimeWait)
        {
            SendReset(tcb);
            stack.Statistics.tcps_drops++;
        }
        else
        {
            stack.Statistics.tcps_conndrops++;
        }

        Close(tcb, error);
    }

    /// <summary>tcp_close: the connection is gone; the socket learns <paramref name="error"/> (None for an orderly end).</summary>
    protected static void Close(TcpControlBlock tcb, Errno error)
    {
        if (tcb.State == TcpState.Closed && tcb.Socket is null)
        {
            return;
        }

        var stack = tcb.Stack;
        tcb.State = TcpState.Closed;
        tcb.CancelTimers();
        stack.RemoveConnection(tcb);
        stack.Statistics.tcps_closed++;
        var socket = tcb.Socket;
        tcb.Socket = null;
        socket?.OnConnectionClosed(error);
    }

    /// <summary>tcp_twclose: a connection in TIME_WAIT is removed without a segment (net.inet.tcp.drop).</summary>
    internal static void CloseTimeWait(TcpControlBlock tcb) => Close(tcb, Errno.None);

    private static void SendReset(TcpControlBlock tcb)
    {
        var o = new OutSegment
        {
            Key = tcb.Key,
            Seq = tcb.SndMax,
            Ack = tcb.RcvNxt,
            Flags = TcpFlags.Rst | TcpFlags.Ack,
            WindowScale = -1,
            Signature = tcb.Has(TcbFlags.Signature),
        };
        tcb.Stack.Statistics.tcps_sndctrl++;
        tcb.Stack.Emit(in o, tcb);
    }

    /// <inheritdoc />
    public void UserClose(TcpControlBlock tcb)
    {
        switch (tcb.State)
        {
            case TcpState.Closed:
            case TcpState.Listen:
            case TcpState.SynSent:
                Close(tcb, Errno.None);
                return;
            case TcpState.SynReceived:
            case TcpState.Established:
                tcb.State = TcpState.FinWait1;
                break;
            case TcpState.CloseWait:
                tcb.State = TcpState.LastAck;
                break;
            default:
                return;
        }

        tcb.FinQueued = true;
        Output(tcb);
    }

    /// <inheritdoc />
    public void UserReceived(TcpControlBlock tcb)
    {
        if (tcb.State is TcpState.Closed or TcpState.Listen or TcpState.SynSent or TcpState.SynReceived)
        {
            return;
        }

        // tcp_output's window-update rule: advertise when the window grows by two segments or half the buffer.
        var advertised = (long)(int)(tcb.RcvAdv - tcb.RcvNxt);
        var now = Math.Min(tcb.RecvBuffer.Free, 65535L << tcb.RcvScale);
        var growth = now - Math.Max(advertised, 0);
        if (growth >= 2 * tcb.Mss || 2 * growth >= tcb.RecvBuffer.Capacity)
        {
            // tcp_output counts each segment once: an ACK forced by TF_ACKNOW as tcps_sndacks, a pure window update
            // as tcps_sndwinup (and a data segment carrying it as tcps_sndpack).
            tcb.WindowUpdateOnly = !tcb.Has(TcbFlags.AckNow);
            tcb.Flags |= TcbFlags.AckNow;
            Output(tcb);
            tcb.WindowUpdateOnly = false;
        }
    }

    /// <inheritdoc />
    public virtual void MtuReduced(TcpControlBlock tcb)
    {
        // tcp_mtudisc: resend from snd_una in segments of the new size (snd_nxt = snd_una), now.
        if (tcb.State < TcpState.Established || tcb.SndUna == tcb.SndMax)
        {
            Output(tcb);
            return;
        }

        tcb.Stack.Statistics.tcps_mturesent++;
        for (var i = 0; i < tcb.Map.Count; i++)
        {
            ref var e = ref tcb.Map[i];
            if (!e.Is(SentFlags.Sacked))
            {
                e.Flags = (e.Flags | SentFlags.Lost) & ~SentFlags.Resent;
            }
        }

        tcb.Map.Resegment(SegmentSize(tcb));
        tcb.ForceOneRetransmit = true;
        Output(tcb);
    }
}
