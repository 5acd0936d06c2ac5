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

    /// <summary>pf_get_mss: the MSS option of a SYN, or the default.</summary>
    private static ushort SynMss(Packet packet, ref PfPacket pd)
    {
        var opts = packet.Data[(pd.Offset + 20)..(pd.Offset + pd.TcpHeaderLength)];
        var i = 0;
        while (i < opts.Length && opts[i] != 0)
        {
            if (opts[i] == 1)
            {
                i++;
                continue;
            }

            if (i + 1 >= opts.Length || opts[i + 1] < 2 || i + opts[i + 1] > opts.Length)
            {
                break;
            }

            if (opts[i] == 2 && opts[i + 1] == 4)
            {
                return BinaryPrimitives.ReadUInt16BigEndian(opts[(i + 2)..]);
            }

            i += opts[i + 1];
        }

        return DefaultMss;
    }

    /// <summary>pf_calc_mss: no more than the route's interface MTU allows, at least 64.</summary>
    private ushort CalcMss(UInt128 addr, bool v6, ushort offer)
    {
        int mtu;
        if (v6)
        {
            var r = _stack.Routes6.Lookup(ToV6(addr));
            mtu = r is null ? 1280 : (_stack.InterfaceByIndex(r.InterfaceIndex)?.Mtu ?? 1280);
            mtu -= 60;
        }
        else
        {
            var r = _stack.Routes4.Lookup(new IPv4Address((uint)addr));
            mtu = r is null ? 576 : (_stack.InterfaceByIndex(r.InterfaceIndex)?.Mtu ?? 576);
            mtu -= 40;
        }

        return (ushort)Math.Max(64, Math.Min(mtu, (int)offer));
    }

    private void SynAckToClient(PfState s) =>
        SendTcp(s.Wire.V6, s.Wire.Addr1, s.Wire.Addr0, s.Wire.Port1, s.Wire.Port0, s.Src.SeqHi, s.Src.SeqLo + 1, SynF | AckFlag, 0, s.ProxyMss, generated: true);

    private void SynToServer(PfState s) =>
        SendTcp(s.Stack.V6, s.Stack.Addr0, s.Stack.Addr1, s.Stack.Port0, s.Stack.Port1, s.Dst.SeqHi, 0, SynF, 0, s.ProxyMss, generated: false);

    /// <summary>
    /// pf_synproxy on a state still in PROXY:SRC or PROXY:DST. Every packet it sees is consumed (counted as
    /// <c>synproxy</c>): the client's handshake is completed by pf, then pf opens the connection to the server with the
    /// client's options and, when the server answers, acknowledges both sides and sets the sequence number offsets
    /// that translate the rest of the connection.
    /// </summary>
    private void Synproxy(PfState s, bool fromSrc, ref PfPacket pd)
    {
        var flags = pd.TcpFlags;
        if (s.Src.State == PfTcpState.ProxySrc)
        {
            if (!fromSrc)
            {
                return;
            }

            if ((flags & SynF) != 0)
            {
                if (pd.Seq == s.Src.SeqLo)
                {
                    SynAckToClient(s); // the client retransmitted its SYN
                }

                return;
            }

            if ((flags & (AckFlag | RstF | Fin)) != AckFlag || pd.Ack != s.Src.SeqHi + 1 || pd.Seq != s.Src.SeqLo + 1)
            {
                return;
            }

            s.Src.State = PfTcpState.ProxyDst;
            s.Src.MaxWin = Math.Max((ushort)1, pd.Win);
            s.Dst.SeqHi = (uint)_stack.Random.NextInt64(1, 1L << 32);
            s.Expire = Now;
            SynToServer(s);
            return;
        }

        if (fromSrc)
        {
            if ((flags & (SynF | AckFlag)) == AckFlag && pd.Ack == s.Src.SeqHi + 1 && pd.Seq == s.Src.SeqLo + 1)
            {
                SynToServer(s); // the client repeated its ACK: ask the server again
            }

            return;
        }

        if ((flags & (SynF | AckFlag)) != (SynF | AckFlag) || pd.Ack != s.Dst.SeqHi + 1)
        {
            return;
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
        s.Src.State = s.Dst.State = PfTcpState.Established;
        s.Expire = Now;
        SetTcpTimeout(s, ref s.Src, ref s.Dst);
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
