using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tcp;

/// <summary>
/// Socket buffer autotuning, as FreeBSD does it: the send buffer grows in tcp_output (tcp_sndbuf_autoscale; rack's own
/// rack_sndbuf_autoscale) and the receive buffer in tcp_input (tcp_autorcvbuf), while SB_AUTOSIZE is set on the buffer.
/// </summary>
/// <remarks>
/// Growing a ring may allocate (FreeBSD's sbreserve reserves memory the same way); it happens a bounded, logarithmic number
/// of times per connection (<see cref="ByteRing.Grow"/>), never per segment, and never once SO_SNDBUF/SO_RCVBUF was set.
/// </remarks>
public abstract partial class TcpFunctionBlockBase
{
    /// <summary>so_snd.sb_lowat as soreserve leaves it: MCLBYTES, at most sb_hiwat (Sluice has no SO_SNDLOWAT).</summary>
    private const uint SendLowWater = 2048;

    /// <summary>
    /// tcp_sndbuf_autoscale (tcp_output.c), run by every output pass: one step of net.inet.tcp.sendbuf_inc when the peer's
    /// window exceeds the buffer (with a 5/4 fudge), the buffer is 7/8 full, below net.inet.tcp.sendbuf_max, and the
    /// send window covers the data not yet sent.
    /// </summary>
    internal virtual void SendBufferAutoscale(TcpControlBlock tcb)
    {
        var stack = tcb.Stack;
        if (stack.SysctlSendBufAuto.Value == 0 || !tcb.SendAutoSize)
        {
            return;
        }

        // The arithmetic is FreeBSD's: unsigned, so a low-water mark above 7/8 of the buffer wraps and stops growth.
        var hiwat = (uint)tcb.SendBuffer.Capacity;
        var lowat = stack.SysctlSendBufAutoLowat.Value != 0 ? Math.Min(SendLowWater, hiwat) : 0u;
        var used = (uint)tcb.SendBuffer.Count;
        var sendwin = Math.Min(tcb.SndWnd, (uint)Math.Max(tcb.Cwnd, 0));
        var max = stack.SysctlSendBufMax.Value;
        if (tcb.SndWnd / 4 * 5 >= hiwat - lowat
            && used >= (hiwat / 8 * 7) - lowat
            && used < max
            && sendwin >= used - (tcb.SndNxt - tcb.SndUna))
        {
            ReserveSendBuffer(tcb, Math.Min(hiwat + stack.SysctlSendBufInc.Value, max));
        }
    }

    /// <summary>sbreserve_locked on so_snd for autotuning: refused above sb_max_adj, which ends autotuning (SB_AUTOSIZE off).</summary>
    internal static void ReserveSendBuffer(TcpControlBlock tcb, long size)
    {
        var limit = tcb.Stack.MaxSocketBufferReserve;
        if (size > limit)
        {
            tcb.SendAutoSize = false;
            return;
        }

        tcb.SendBuffer.Grow((int)size, (int)limit);
    }

    /// <summary>
    /// tcp_output: "Set receive buffer autosizing timestamp" — a segment with options starts the measurement of
    /// <see cref="ReceiveBufferAutoscale"/> if none is running.
    /// </summary>
    private static void StartReceiveMeasurement(TcpControlBlock tcb)
    {
        if (tcb.RfbufTs < 0 && tcb.RecvAutoSize)
        {
            tcb.RfbufTs = tcb.Now / Nanos.PerMillisecond;
        }
    }

    /// <summary>
    /// tcp_autorcvbuf (tcp_input.c), for a data segment taken in order: once more than half a smoothed RTT has passed since
    /// the measurement began, the receive buffer grows by half (up to net.inet.tcp.recvbuf_max) if more than 3/8 of it
    /// arrived meanwhile, and a new measurement starts with the next segment sent; otherwise the bytes are counted.
    /// </summary>
    internal static void ReceiveBufferAutoscale(TcpControlBlock tcb, int length)
    {
        var stack = tcb.Stack;
        var nowMs = tcb.Now / Nanos.PerMillisecond;
        var srtt = tcb.FunctionBlock is TcpFunctionBlockBase fb ? fb.AutorcvbufSrtt(tcb) : tcb.Srtt / Nanos.PerMillisecond;
        long newSize = 0;
        if (stack.SysctlRecvBufAuto.Value != 0 && tcb.RecvAutoSize && tcb.HaveRtt && tcb.RfbufTs >= 0
            && nowMs - tcb.RfbufTs > srtt / 2)
        {
            var hiwat = tcb.RecvBuffer.Capacity;
            var max = stack.SysctlRecvBufMax.Value;
            if (tcb.RfbufCnt > hiwat / 2 / 4 * 3 && hiwat < max)
            {
                newSize = Math.Min(hiwat + (hiwat / 2), max);
            }

            tcb.RfbufTs = -1;
            tcb.RfbufCnt = 0;
        }
        else
        {
            tcb.RfbufCnt += length;
        }

        if (newSize == 0)
        {
            return;
        }

        // sbreserve_locked: refused above sb_max_adj, and then autotuning gives up ("Give up when limit is reached").
        var limit = stack.MaxSocketBufferReserve;
        if (newSize > limit)
        {
            tcb.RecvAutoSize = false;
            return;
        }

        tcb.RecvBuffer.Grow((int)newSize, (int)limit);
    }

    /// <summary>
    /// tcp_autorcvbuf's <c>t_srtt &gt;&gt; TCP_RTT_SHIFT</c>, which it compares with elapsed ticks of 1 ms (hz = 1000): the
    /// default stack keeps t_srtt in ticks scaled by 2^TCP_RTT_SHIFT, so this is the sRTT in milliseconds.
    /// </summary>
    internal virtual long AutorcvbufSrtt(TcpControlBlock tcb) => tcb.Srtt / Nanos.PerMillisecond;

    /// <summary>
    /// Whether an in-order data segment runs <see cref="ReceiveBufferAutoscale"/>: for the freebsd stack only the header
    /// prediction fast path does (tcp_do_segment's "pure, in-sequence data packet"), judged on the segment as it arrived.
    /// </summary>
    /// <remarks>
    /// Header prediction: ESTABLISHED, SEG.SEQ = RCV.NXT, only ACK among SYN/FIN/RST/URG/ACK, SND.NXT = SND.MAX, a non-zero
    /// window equal to SND.WND, an empty reassembly queue, a timestamp not older than TS.Recent; then for data SEG.ACK =
    /// SND.UNA and the payload fits the receive buffer.
    /// </remarks>
    internal virtual bool AutoscalesReceiveBuffer(TcpControlBlock tcb, ref TcpSegment s, uint tiwin) =>
        tcb.State == TcpState.Established
        && s.Seq == tcb.RcvNxt
        && (s.Flags & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst | TcpFlags.Urg | TcpFlags.Ack)) == TcpFlags.Ack
        && tcb.SndNxt == tcb.SndMax
        && tiwin != 0 && tiwin == tcb.SndWnd
        && tcb.Reass.Count == 0
        && (!s.Options.HasTimestamps || Seq.Geq(s.Options.TsVal, tcb.TsRecent))
        && s.Ack == tcb.SndUna
        && s.Payload.Length > 0 && s.Payload.Length <= tcb.RecvBuffer.Free;
}
