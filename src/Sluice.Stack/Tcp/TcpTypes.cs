using System.Runtime.CompilerServices;
using Sluice.Stack.Sockets;
using Sluice.Wire;

namespace Sluice.Stack.Tcp;

/// <summary>Connection states with FreeBSD's numbering (sys/netinet/tcp_fsm.h).</summary>
public enum TcpState
{
    Closed = 0,
    Listen = 1,
    SynSent = 2,
    SynReceived = 3,
    Established = 4,
    CloseWait = 5,
    FinWait1 = 6,
    Closing = 7,
    LastAck = 8,
    FinWait2 = 9,
    TimeWait = 10,
}

/// <summary>netstat's names for <see cref="TcpState"/> (tcpstates[] in tcp_fsm.h).</summary>
public static class TcpStateNames
{
    /// <summary>The upper-case name netstat prints.</summary>
    public static string Of(TcpState state) => state switch
    {
        TcpState.Closed => "CLOSED",
        TcpState.Listen => "LISTEN",
        TcpState.SynSent => "SYN_SENT",
        TcpState.SynReceived => "SYN_RCVD",
        TcpState.Established => "ESTABLISHED",
        TcpState.CloseWait => "CLOSE_WAIT",
        TcpState.FinWait1 => "FIN_WAIT_1",
        TcpState.Closing => "CLOSING",
        TcpState.LastAck => "LAST_ACK",
        TcpState.FinWait2 => "FIN_WAIT_2",
        TcpState.TimeWait => "TIME_WAIT",
        _ => "UNKNOWN",
    };
}

/// <summary>Modular 32-bit sequence-number comparisons (RFC 9293 §3.4).</summary>
internal static class Seq
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Lt(uint a, uint b) => (int)(a - b) < 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Leq(uint a, uint b) => (int)(a - b) <= 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Gt(uint a, uint b) => (int)(a - b) > 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Geq(uint a, uint b) => (int)(a - b) >= 0;

    public static uint Max(uint a, uint b) => Gt(a, b) ? a : b;

    public static uint Min(uint a, uint b) => Lt(a, b) ? a : b;
}

/// <summary>TCP control block flags (t_flags in tcp_var.h, the subset Sluice uses).</summary>
[Flags]
internal enum TcbFlags : uint
{
    None = 0,
    AckNow = 1 << 0,
    DelAck = 1 << 1,
    NoDelay = 1 << 2,
    NoOpt = 1 << 3,
    SentFin = 1 << 4,
    ReqScale = 1 << 5,
    RcvdScale = 1 << 6,
    ReqTstmp = 1 << 7,
    RcvdTstmp = 1 << 8,
    SackPermit = 1 << 9,
    NeedSyn = 1 << 10,
    NeedFin = 1 << 11,
    FastRecovery = 1 << 12,
    WasInRecovery = 1 << 13,
    KeepAlive = 1 << 14,
    ForceData = 1 << 15,
    Challenge = 1 << 16,
    RcvdFin = 1 << 17,
    /// <summary>Our SYN offers no SACK (net.inet.tcp.rexmit_drop_options dropped it).</summary>
    NoSackOffer = 1 << 18,
    /// <summary>ECN negotiated (TF2_ECN_PERMIT, RFC 3168 §6.1.1).</summary>
    EcnPermit = 1 << 19,
    /// <summary>Echo congestion with ECE until the peer sends CWR (TF2_ECN_SND_ECE).</summary>
    EcnSendEce = 1 << 20,
    /// <summary>Set CWR on the next new data segment (TF2_ECN_SND_CWR).</summary>
    EcnSendCwr = 1 << 21,
    /// <summary>TCP_MD5SIG: sign every segment and demand signed ones (TF_SIGNATURE, RFC 2385).</summary>
    Signature = 1 << 22,
}

/// <summary>t_oobflags: whether the urgent byte pulled out of the stream is waiting (TCPOOB_HAVEDATA) or was read (TCPOOB_HADDATA).</summary>
[Flags]
internal enum OutOfBandFlags : byte
{
    None = 0,
    HaveData = 1,
    HadData = 2,
}

/// <summary>The per-connection timers (FreeBSD's TT_REXMT, TT_PERSIST, TT_KEEP, TT_2MSL, TT_DELACK).</summary>
public enum TcpTimerKind
{
    /// <summary>Retransmission timeout (also SYN retransmission).</summary>
    Retransmit,
    /// <summary>Zero-window probe.</summary>
    Persist,
    /// <summary>Keepalive and connection-establishment timeout.</summary>
    Keepalive,
    /// <summary>TIME_WAIT and FIN_WAIT_2 timeout.</summary>
    TwoMsl,
    /// <summary>Delayed ACK.</summary>
    DelayedAck,
    /// <summary>RACK tail loss probe (PTO).</summary>
    TailLossProbe,
    /// <summary>RACK reordering timer.</summary>
    RackReorder,
}

/// <summary>Connection lookup key: local and foreign endpoint.</summary>
internal readonly record struct TcpConnectionKey(InetAddress LocalAddress, ushort LocalPort, InetAddress RemoteAddress, ushort RemotePort);

/// <summary>Options carried by one received segment.</summary>
internal struct TcpSegmentOptions
{
    public ushort Mss;
    public int WindowScale; // -1 absent
    public bool SackPermitted;
    public bool HasTimestamps;
    public uint TsVal;
    public uint TsEcr;
    public int SackCount;
    public uint Sack0L, Sack0R, Sack1L, Sack1R, Sack2L, Sack2R, Sack3L, Sack3R;

    public readonly (uint Left, uint Right) Sack(int i) => i switch
    {
        0 => (Sack0L, Sack0R),
        1 => (Sack1L, Sack1R),
        2 => (Sack2L, Sack2R),
        _ => (Sack3L, Sack3R),
    };

    public void AddSack(uint l, uint r)
    {
        switch (SackCount)
        {
            case 0: Sack0L = l; Sack0R = r; break;
            case 1: Sack1L = l; Sack1R = r; break;
            case 2: Sack2L = l; Sack2R = r; break;
            case 3: Sack3L = l; Sack3R = r; break;
            default: return;
        }

        SackCount++;
    }

    /// <summary>Parses the options area; false when it is malformed (the segment is still processed without options, as FreeBSD's tcp_dooptions stops at a bad length).</summary>
    public static bool Parse(ReadOnlySpan<byte> area, bool syn, out TcpSegmentOptions o)
    {
        o = default;
        o.WindowScale = -1;
        var reader = new TcpOptionReader(area);
        while (reader.TryReadNext(out var opt))
        {
            switch (opt.Kind)
            {
                case TcpOptionKind.Mss when syn:
                    o.Mss = opt.Mss;
                    break;
                case TcpOptionKind.WindowScale when syn:
                    o.WindowScale = Math.Min((int)opt.WindowScale, 14);
                    break;
                case TcpOptionKind.SackPermitted when syn:
                    o.SackPermitted = true;
                    break;
                case TcpOptionKind.Timestamps:
                    o.HasTimestamps = true;
                    o.TsVal = opt.TimestampValue;
                    o.TsEcr = opt.TimestampEchoReply;
                    break;
                case TcpOptionKind.Sack when !syn:
                    for (var i = 0; i < opt.SackBlockCount; i++)
                    {
                        var (l, r) = opt.GetSackBlock(i);
                        o.AddSack(l, r);
                    }

                    break;
            }
        }

        return !reader.IsMalformed;
    }
}

/// <summary>A received segment as the function blocks see it.</summary>
internal ref struct TcpSegment
{
    public uint Seq;
    public uint Ack;
    public TcpFlags Flags;
    public uint Window; // unscaled
    public ReadOnlySpan<byte> Payload;
    public TcpSegmentOptions Options;
    public byte IpEcn; // the IP header's ECN field (RFC 3168 §5)
    public bool HasFastOpen; // a TCP Fast Open option (RFC 7413) on a SYN
    public ReadOnlySpan<byte> FastOpenCookie; // its cookie (empty: a cookie request)
    public ushort Urgent; // the urgent pointer of a segment with URG (0 without)
    public ushort Port; // UDP source port of a TCP-over-UDP segment (m_pkthdr.tcp_tun_port); 0 for plain TCP

    public readonly bool Has(TcpFlags f) => (Flags & f) != 0;

    /// <summary>SEG.LEN: payload plus SYN and FIN.</summary>
    public readonly int Length => Payload.Length + (Has(TcpFlags.Syn) ? 1 : 0) + (Has(TcpFlags.Fin) ? 1 : 0);
}
