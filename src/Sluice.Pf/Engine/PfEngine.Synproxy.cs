using System.Buffers.Binary;
using Sluice.Stack.Buffers;
using Sluice.Wire;

namespace Sluice.Pf.Engine;

public sealed partial class PfEngine
{
    private const byte Fin = 0x01, SynF = 0x02, RstF = 0x04, AckFlag = 0x10;
    private const ushort DefaultMss = 536; // tcp.mssdflt

    /// <summary>
    /// pf_create_state for <c>synproxy state</c>: pf answers the client's SYN itself with its own ISN and an MSS (the
    /// SYN's, or the default, bounded by the routes to both ends); the server hears nothing yet.
    /// </summary>
    private void SynproxyStart(PfState s, Packet packet, ref PfPacket pd)
    {
        s.Src.State = PfTcpState.ProxySrc;
        s.Src.SeqHi = (uint)_stack.Random.NextInt64(1, 1L << 32);
        s.Src.WScale = 0;
        var mss = SynMss(packet, ref pd);
        mss = CalcMss(s.Wire.Addr0, s.Wire.V6, mss);
        mss = CalcMss(s.Wire.Addr1, s.Wire.V6, mss);
        s.ProxyMss = mss;
        SynAckToClient(s);
    }

    /// <summary>
    /// pf_get_mss: the MSS option of a SYN, the default when the options carry none, and 0 for a SYN without options
    /// (FreeBSD's quirk: pf_calc_mss then announces its floor of 64).
    /// </summary>
    private static ushort SynMss(Packet packet, ref PfPacket pd)
    {
        if (pd.TcpHeaderLength <= 20)
        {
            return 0;
        }

        var opts = packet.Data[(pd.Offset + 20)..(pd.Offset + pd.TcpHeaderLength)];
        var mss = DefaultMss;
        var i = 0;
        while (opts.Length - i >= 4)
        {
            if (opts[i] is 0 or 1)
            {
                i++; // EOL is skipped like NOP, as pf_get_mss does
                continue;
            }

            if (opts[i] == 2)
            {
                mss = BinaryPrimitives.ReadUInt16BigEndian(opts[(i + 2)..]);
            }

            i += Math.Max(2, (int)opts[i + 1]);
        }

        return mss;
    }

    /// <summary>
    /// pf_calc_mss: the route's MTU less the headers, raised to tcp.mssdflt (also without a route), capped by the
    /// offer, at least 64.
    /// </summary>
    private ushort CalcMss(UInt128 addr, bool v6, ushort offer)
    {
        var mss = 0;
        if (v6)
        {
            var r = _stack.Routes6.Lookup(ToV6(addr));
            if (r is not null && _stack.InterfaceByIndex(r.InterfaceIndex) is { } ifp)
            {
                mss = ifp.Mtu - 40 - 20;
            }
        }
        else
        {
            var r = _stack.Routes4.Lookup(new IPv4Address((uint)addr));
            if (r is not null && _stack.InterfaceByIndex(r.InterfaceIndex) is { } ifp)
            {
                mss = ifp.Mtu - 20 - 20;
            }
        }

        mss = Math.Max(DefaultMss, mss);
        mss = Math.Min(mss, offer);
        return (ushort)Math.Max(mss, 64);
    }

    private void SynAckToClient(PfState s) =>
        SendTcp(s.Wire.V6, s.Wire.Addr1, s.Wire.Addr0, s.Wire.Port1, s.Wire.Port0, s.Src.SeqHi, s.Src.SeqLo + 1, SynF | AckFlag, 0, s.ProxyMss, generated: true);

    private void SynToServer(PfState s) =>
        SendTcp(s.Stack.V6, s.Stack.Addr0, s.Stack.Addr1, s.Stack.Port0, s.Stack.Port1, s.Dst.SeqHi, 0, SynF, 0, s.ProxyMss, generated: false);

    /// <summary>
    /// pf_synproxy on a state still in PROXY:SRC or PROXY:DST. Every packet it sees is consumed (counted as
    /// <c>synproxy</c>, or <c>src-limit</c> when the client's ACK is over the rule's max-src-conn/-rate): the client's
    /// handshake is completed by pf, then pf opens the connection to the server with the client's options and, when the
    /// server answers, acknowledges both sides and sets the sequence number offsets that translate the rest of the
    /// connection.
    /// </summary>
    /// <remarks>
    /// As in FreeBSD, pf keeps no timer of its own: a SYN to the server that is lost is sent again (with the same ISN)
    /// only when the client repeats its ACK or sends data, and the state is not refreshed by any of these packets, so
    /// it expires <c>tcp.first</c> after the client's SYN unless the server answers.
    /// </remarks>
    private PfReason Synproxy(PfState s, bool fromSrc, ref PfPacket pd)
    {
        var flags = pd.TcpFlags;
        if (s.Src.State == PfTcpState.ProxySrc)
        {
            if (!fromSrc)
            {
                return PfReason.Synproxy;
            }

            if ((flags & SynF) != 0)
            {
                if (pd.Seq == s.Src.SeqLo)
                {
                    SynAckToClient(s); // the client retransmitted its SYN
                }

                return PfReason.Synproxy;
            }

            if ((flags & (AckFlag | RstF | Fin)) != AckFlag || pd.Ack != s.Src.SeqHi + 1 || pd.Seq != s.Src.SeqLo + 1)
            {
                return PfReason.Synproxy;
            }

            // pf_synproxy counts the connection against max-src-conn and max-src-conn-rate when the client completes
            // its handshake with pf (pf_src_connlimit): over a limit the ACK is dropped and the state purged.
            if (s.SourceNode is not null && SourceConnLimit(s))
            {
                return PfReason.SrcLimit;
            }

            s.Src.State = PfTcpState.ProxyDst;
            s.Src.MaxWin = Math.Max((ushort)1, pd.Win);
            s.Dst.SeqHi = (uint)_stack.Random.NextInt64(1, 1L << 32);
            SynToServer(s);
            return PfReason.Synproxy;
        }

        if (fromSrc)
        {
            if ((flags & (SynF | AckFlag)) == AckFlag && pd.Ack == s.Src.SeqHi + 1 && pd.Seq == s.Src.SeqLo + 1)
            {
                SynToServer(s); // the client repeated its ACK (or sent data): ask the server again, same ISN
            }

            return PfReason.Synproxy;
        }

        if ((flags & (SynF | AckFlag)) != (SynF | AckFlag) || pd.Ack != s.Dst.SeqHi + 1)
        {
            return PfReason.Synproxy;
        }

        var serverIsn = pd.Seq;
        s.Dst.MaxWin = Math.Max((ushort)1, pd.Win);

        // ACK the server in the name of the client, and the client with the server's window.
        SendTcp(s.Stack.V6, s.Stack.Addr0, s.Stack.Addr1, s.Stack.Port0, s.Stack.Port1, s.Dst.SeqHi + 1, serverIsn + 1, AckFlag, s.Src.MaxWin, 0, generated: false);
        SendTcp(s.Wire.V6, s.Wire.Addr1, s.Wire.Addr0, s.Wire.Port1, s.Wire.Port0, s.Src.SeqHi + 1, s.Src.SeqLo + 1, AckFlag, s.Dst.MaxWin, 0, generated: true);

        // The client numbers from its ISN, the server sees pf's; the server numbers from its ISN, the client saw pf's.
        s.Src.SeqDiff = s.Dst.SeqHi - s.Src.SeqLo;
        s.Dst.SeqDiff = s.Src.SeqHi - serverIsn;
        s.Src.SeqLo++;
        s.Dst.SeqLo = serverIsn + 1;
        s.Src.SeqHi = s.Src.SeqLo + s.Dst.MaxWin;
        s.Dst.SeqHi = s.Dst.SeqLo + s.Src.MaxWin;
        s.Src.WScale = s.Dst.WScale = 0;
        s.Src.State = s.Dst.State = PfTcpState.Established; // timeout and expiry change with the next tracked packet
        return PfReason.Synproxy;
    }

    /// <summary>pf_send_tcp: a TCP segment pf makes itself, with an MSS option when <paramref name="mss"/> is set.</summary>
    private void SendTcp(bool v6, UInt128 src, UInt128 dst, ushort sport, ushort dport, uint seq, uint ack, byte flags, ushort win, ushort mss, bool generated)
    {
        var p = BuildTcp(v6, src, dst, sport, dport, seq, ack, flags, win, mss, 0);
        if (generated)
        {
            Emit(p, v6);
        }
        else if (v6)
        {
            _stack.OutputIPv6Raw(p);
        }
        else
        {
            _stack.OutputIPv4Raw(p);
        }
    }

    /// <summary>pf_build_tcp: an IPv4/IPv6 TCP segment in a pooled packet the caller owns (TTL 0 means the default).</summary>
    private Packet BuildTcp(bool v6, UInt128 src, UInt128 dst, ushort sport, ushort dport, uint seq, uint ack, byte flags, ushort win, ushort mss, byte ttl)
    {
        var hl = v6 ? 40 : 20;
        var tl = mss != 0 ? 24 : 20;
        var p = _stack.Pool.Rent(hl + tl);
        var d = p.Data;
        d.Clear();
        WriteIpHeader(d, v6, src, dst, PfPacket.Tcp, tl, ttl);
        var t = d[hl..];
        BinaryPrimitives.WriteUInt16BigEndian(t, sport);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], dport);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(t[8..], ack);
        t[12] = (byte)((tl / 4) << 4);
        t[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(t[14..], win);
        if (mss != 0)
        {
            t[20] = 2;
            t[21] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(t[22..], mss);
        }

        var sum = PseudoSum(d, v6, PfPacket.Tcp, tl);
        BinaryPrimitives.WriteUInt16BigEndian(t[16..], Checksum.Fold(Checksum.Add(t[..tl], sum)));
        return p;
    }
}
