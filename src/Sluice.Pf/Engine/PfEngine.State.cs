using System.Buffers.Binary;
using Sluice.Stack.Buffers;

namespace Sluice.Pf.Engine;

public sealed partial class PfEngine
{
    private const int MaxAckWindow = 65535 + 1500;

    private static bool SeqGt(uint a, uint b) => (int)(a - b) > 0;

    private static bool SeqGeq(uint a, uint b) => (int)(a - b) >= 0;

    private static bool SeqLt(uint a, uint b) => (int)(a - b) < 0;

    /// <summary>The window-scale shift of a SYN's options, or -1 (pf_get_wscale).</summary>
    private static int WindowScale(Packet packet, ref PfPacket pd)
    {
        var t = packet.Data[pd.Offset..pd.Length];
        var opts = t[20..pd.TcpHeaderLength];
        var i = 0;
        while (i < opts.Length)
        {
            var kind = opts[i];
            if (kind == 0)
            {
                break;
            }

            if (kind == 1)
            {
                i++;
                continue;
            }

            if (i + 1 >= opts.Length || opts[i + 1] < 2 || i + opts[i + 1] > opts.Length)
            {
                break;
            }

            if (kind == 3 && opts[i + 1] == 3)
            {
                return Math.Min((int)opts[i + 2], 14);
            }

            i += opts[i + 1];
        }

        return -1;
    }

    private static void ModulateSeq(Packet packet, ref PfPacket pd, uint diff)
    {
        packet.MakeWritable();
        var t = packet.Data[pd.Offset..];
        var old = pd.Seq;
        var now = old + diff;
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], now);
        var c = BinaryPrimitives.ReadUInt16BigEndian(t[16..]);
        c = PfRewrite.Fixup(c, (ushort)(old >> 16), (ushort)(now >> 16));
        c = PfRewrite.Fixup(c, (ushort)old, (ushort)now);
        BinaryPrimitives.WriteUInt16BigEndian(t[16..], c);
        pd.Seq = now;
    }

    private static void UnmodulateAck(Packet packet, ref PfPacket pd, uint diff)
    {
        packet.MakeWritable();
        var t = packet.Data[pd.Offset..];
        var old = pd.Ack;
        var now = old - diff;
        BinaryPrimitives.WriteUInt32BigEndian(t[8..], now);
        var c = BinaryPrimitives.ReadUInt16BigEndian(t[16..]);
        c = PfRewrite.Fixup(c, (ushort)(old >> 16), (ushort)(now >> 16));
        c = PfRewrite.Fixup(c, (ushort)old, (ushort)now);
        BinaryPrimitives.WriteUInt16BigEndian(t[16..], c);
        pd.Ack = now;
    }

    /// <summary>pf_test_state_tcp with pf_tcp_track_full (or sloppy tracking).</summary>
    private bool TestStateTcp(Packet packet, bool inbound, ref PfPacket pd, out PfState? s, out Config.PfAction action, out PfReason reason)
    {
        action = Config.PfAction.Pass;
        reason = PfReason.Match;
        var key = PfStateKey.ForPacket(pd.V6, pd.Proto, pd.Src, pd.Sport, pd.Dst, pd.Dport, inbound);
        s = FindState(key, inbound);
        if (s is null)
        {
            return false;
        }

        var fromSrc = s.Inbound == inbound;
        ref var src = ref fromSrc ? ref s.Src : ref s.Dst;
        ref var dst = ref fromSrc ? ref s.Dst : ref s.Src;
        var flags = pd.TcpFlags;
        const byte Syn = 0x02, AckF = 0x10;
        if (src.State >= PfTcpState.ProxySrc || dst.State >= PfTcpState.ProxySrc || s.Src.State >= PfTcpState.ProxySrc)
        {
            // pf_synproxy: pf consumes every packet until both handshakes are done (PF_SYNPROXY_DROP).
            reason = Synproxy(s, fromSrc, ref pd);
            action = Config.PfAction.Block;
            return true;
        }

        // A new SYN on a closed connection: the old state is dead (pf unlinks it and drops this packet).
        if ((flags & (Syn | AckF)) == Syn && dst.State >= PfTcpState.FinWait2 && src.State >= PfTcpState.FinWait2)
        {
            RemoveState(s);
            s = null;
            return false;
        }

        // Undo modulation of the peer's ISN in this side's ACK before checking it.
        if (dst.SeqDiff != 0 && (flags & AckF) != 0)
        {
            UnmodulateAck(packet, ref pd, dst.SeqDiff);
        }

        if (s.Sloppy)
        {
            TrackSloppy(s, ref src, ref dst, flags);
        }
        else if (!TrackFull(packet, s, ref src, ref dst, ref pd, flags, out reason))
        {
            action = Config.PfAction.Block;
            return true;
        }

        if (reason != PfReason.Match)
        {
            action = Config.PfAction.Block;
            return true;
        }

        if (src.SeqDiff != 0)
        {
            ModulateSeq(packet, ref pd, src.SeqDiff);
        }

        Touch(s, fromSrc, pd.Length);
        StateTranslate(packet, s, inbound, ref pd);
        return true;
    }

    private static void SetTcpTimeout(PfState s, ref PfStatePeer src, ref PfStatePeer dst)
    {
        if (src.State >= PfTcpState.FinWait2 && dst.State >= PfTcpState.FinWait2)
        {
            s.Timeout = 5; // tcp.closed
        }
        else if (src.State >= PfTcpState.Closing && dst.State >= PfTcpState.Closing)
        {
            s.Timeout = 4; // tcp.finwait
        }
        else if (src.State < PfTcpState.Established || dst.State < PfTcpState.Established)
        {
            s.Timeout = 1; // tcp.opening
        }
        else if (src.State >= PfTcpState.Closing || dst.State >= PfTcpState.Closing)
        {
            s.Timeout = 3; // tcp.closing
        }
        else
        {
            s.Timeout = 2; // tcp.established
        }
    }

    private bool TrackFull(Packet packet, PfState s, ref PfStatePeer src, ref PfStatePeer dst, ref PfPacket pd, byte flags, out PfReason reason)
    {
        const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, AckF = 0x10;
        reason = PfReason.Match;
        if (((s.Actions.Flags & PfRuleActions.ScrubTcp) != 0 || dst.Scrub) && !src.Scrub)
        {
            NormalizeTcpInit(packet, ref pd, ref src); // the responder's first segment
        }

        var seq = pd.Seq; // tracked in the sender's own (unmodulated) sequence space
        var ack = pd.Ack;
        var win = pd.Win;
        int sws = 0, dws = 0;
        if ((src.WScale & 0x80) != 0 && (dst.WScale & 0x80) != 0)
        {
            sws = src.WScale & 0x0f;
            dws = dst.WScale & 0x0f;
        }

        uint end;
        if (src.SeqLo == 0)
        {
            // First packet from this side (the responder's SYN-ACK).
            end = seq + (uint)pd.PayloadLength;
            if ((flags & Syn) != 0)
            {
                end++;
                var ws = WindowScale(packet, ref pd);
                if ((dst.WScale & 0x80) != 0 && ws >= 0)
                {
                    src.WScale = (byte)(0x80 | ws);
                    sws = ws;
                    dws = dst.WScale & 0x0f;
                }
                else
                {
                    dst.WScale = 0;
                    sws = dws = 0;
                }
            }

            if ((flags & Fin) != 0)
            {
                end++;
            }

            src.SeqLo = seq;
            if (src.State < PfTcpState.SynSent)
            {
                src.State = PfTcpState.SynSent;
            }

            var w = (uint)Math.Max(1, dst.MaxWin << dws);
            if (src.SeqHi == 1 || SeqGeq(end + w, src.SeqHi))
            {
                src.SeqHi = end + w;
            }

            if (win > src.MaxWin)
            {
                src.MaxWin = win;
            }
        }
        else
        {
            end = seq + (uint)pd.PayloadLength;
            if ((flags & Syn) != 0)
            {
                end++;
            }

            if ((flags & Fin) != 0)
            {
                end++;
            }
        }

        if ((flags & AckF) == 0)
        {
            ack = dst.SeqLo; // let it pass through the ack skew check
        }
        else if (((flags & (AckF | Rst)) == (AckF | Rst) && ack == 0) || dst.State < PfTcpState.SynSent)
        {
            ack = dst.SeqLo;
        }

        if (seq == end)
        {
            // Ease sequencing restrictions on no-data packets.
            seq = src.SeqLo;
            end = seq;
        }

        var ackskew = (int)(dst.SeqLo - ack);
        var maxWinDst = (uint)(dst.MaxWin << dws);
        if (SeqGeq(src.SeqHi, end)
            && SeqGeq(seq, src.SeqLo - maxWinDst)
            && ackskew >= -MaxAckWindow && ackskew <= (MaxAckWindow << sws))
        {
            if ((src.Scrub || dst.Scrub) && !NormalizeTcpStateful(packet, ref pd, s, ref src, ref dst))
            {
                reason = PfReason.BadTimestamp;
                return false;
            }

            if (src.MaxWin < win)
            {
                src.MaxWin = win;
            }

            if (SeqGt(end, src.SeqLo))
            {
                src.SeqLo = end;
            }

            if ((flags & AckF) != 0 && SeqGeq(ack + ((uint)win << sws), dst.SeqHi))
            {
                dst.SeqHi = ack + (uint)Math.Max(win << sws, 1);
            }

            if ((flags & Syn) != 0 && src.State < PfTcpState.SynSent)
            {
                src.State = PfTcpState.SynSent;
            }

            if ((flags & Fin) != 0 && src.State < PfTcpState.Closing)
            {
                src.State = PfTcpState.Closing;
            }

            if ((flags & AckF) != 0)
            {
                if (dst.State == PfTcpState.SynSent)
                {
                    dst.State = PfTcpState.Established;
                    if (src.State == PfTcpState.Established && s.SourceNode is not null && SourceConnLimit(s))
                    {
                        reason = PfReason.SrcLimit;
                        return false;
                    }
                }
                else if (dst.State == PfTcpState.Closing)
                {
                    dst.State = PfTcpState.FinWait2;
                }
            }

            if ((flags & Rst) != 0)
            {
                src.State = dst.State = PfTcpState.TimeWait;
            }

            SetTcpTimeout(s, ref src, ref dst);
            return true;
        }

        if ((dst.State < PfTcpState.SynSent || dst.State >= PfTcpState.FinWait2 || src.State >= PfTcpState.FinWait2)
            && SeqGeq(src.SeqHi + MaxAckWindow, end)
            && SeqGeq(seq, src.SeqLo - MaxAckWindow))
        {
            // Loose: one side not yet seen, or closing down; pf accepts and widens the window.
            if (src.MaxWin < win)
            {
                src.MaxWin = win;
            }

            if (SeqGt(end, src.SeqLo))
            {
                src.SeqLo = end;
            }

            if ((flags & AckF) != 0 && SeqGeq(ack + ((uint)win << sws), dst.SeqHi))
            {
                dst.SeqHi = ack + (uint)Math.Max(win << sws, 1);
            }

            if ((flags & Fin) != 0 && src.State < PfTcpState.Closing)
            {
                src.State = PfTcpState.Closing;
            }

            if ((flags & Rst) != 0)
            {
                src.State = dst.State = PfTcpState.TimeWait;
            }

            SetTcpTimeout(s, ref src, ref dst);
            return true;
        }

        // Out of window: a bad or spoofed segment.
        reason = PfReason.StateMismatch;
        return false;
    }

    private static void TrackSloppy(PfState s, ref PfStatePeer src, ref PfStatePeer dst, byte flags)
    {
        const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, AckF = 0x10;
        if ((flags & Syn) != 0 && src.State < PfTcpState.SynSent)
        {
            src.State = PfTcpState.SynSent;
        }

        if ((flags & Fin) != 0 && src.State < PfTcpState.Closing)
        {
            src.State = PfTcpState.Closing;
        }

        if ((flags & AckF) != 0)
        {
            if (dst.State == PfTcpState.SynSent)
            {
                dst.State = PfTcpState.Established;
            }
            else if (dst.State == PfTcpState.Closing)
            {
                dst.State = PfTcpState.FinWait2;
            }
            else if (src.State == PfTcpState.SynSent && dst.State < PfTcpState.SynSent)
            {
                // Only one side of the handshake is visible (asymmetric routing).
                src.State = dst.State = PfTcpState.Established;
            }
        }

        if ((flags & Rst) != 0)
        {
            src.State = dst.State = PfTcpState.TimeWait;
        }

        SetTcpTimeout(s, ref src, ref dst);
    }

    /// <summary>pf_src_connlimit: counts an established connection; over a limit the source is overloaded.</summary>
    private bool SourceConnLimit(PfState s)
    {
        var sn = s.SourceNode!;
        var opts = s.Rule!.Ast.StateOptions;
        sn.Connections++;
        s.TcpEstablished = true;
        var nowSec = Now / Second;
        if (sn.ThresholdSeconds != 0 || sn.ThresholdLimit != 0)
        {
            var diff = nowSec - sn.ThresholdLast;
            if (sn.ThresholdSeconds == 0 || diff >= sn.ThresholdSeconds)
            {
                sn.ThresholdCount = 0;
            }
            else
            {
                sn.ThresholdCount -= (uint)(sn.ThresholdCount * diff / sn.ThresholdSeconds);
            }

            sn.ThresholdCount += 1000;
            sn.ThresholdLast = nowSec;
        }

        var limit = false;
        if (opts.MaxSrcConn != 0 && sn.Connections > opts.MaxSrcConn)
        {
            LimitCounters[(int)PfLimitCounter.SrcConn]++;
            limit = true;
        }

        if (opts.MaxSrcConnRate.Limit != 0 && sn.ThresholdCount > sn.ThresholdLimit)
        {
            LimitCounters[(int)PfLimitCounter.SrcConnRate]++;
            limit = true;
        }

        if (!limit)
        {
            return false;
        }

        if (opts.OverloadTable is { } table)
        {
            LimitCounters[(int)PfLimitCounter.OverloadTable]++;
            Overload(table, sn.Address, sn.V6, opts.Flush || opts.FlushGlobal ? (opts.FlushGlobal ? null : s.Rule) : s.Rule, flush: opts.Flush || opts.FlushGlobal, s);
        }

        s.Purged = true;
        s.Src.State = s.Dst.State = PfTcpState.Closed;
        sn.Connections--;
        s.TcpEstablished = false;
        return true;
    }

    private void Overload(string tableName, UInt128 address, bool v6, PfRuleC? onlyRule, bool flush, PfState current)
    {
        if (!Instance.Tables.TryGetValue(tableName, out var table))
        {
            table = new PfTable(tableName, persist: false, isConst: false);
            Instance.Tables[tableName] = table;
        }

        var entry = new Config.PfTableEntry(false, new Config.PfAddr(Config.PfAddrKind.AddrMask,
            new Config.PfIp(v6 ? Config.PfFamily.Inet6 : Config.PfFamily.Inet, address), v6 ? 128 : 32));
        if (!table.Entries.Contains(entry))
        {
            table.Entries.Add(entry);
            Instance.TablesChanged();
        }

        if (!flush)
        {
            return;
        }

        LimitCounters[(int)PfLimitCounter.OverloadFlush]++; // once per flush (pf_src_connlimit)
        for (var i = _states.Count - 1; i >= 0; i--)
        {
            if (i >= _states.Count)
            {
                continue;
            }

            var st = _states[i];
            if (st == current || st.Wire.V6 != v6)
            {
                continue;
            }

            var from = st.Inbound ? st.Wire.Addr0 : st.Stack.Addr1;
            if (from == address && (onlyRule is null || st.Rule == onlyRule))
            {
                RemoveState(st);
            }
        }
    }

    /// <summary>pf_test_state_icmp: echo states by id; errors matched to the state of the quoted packet.</summary>
    private bool TestStateIcmp(Packet packet, bool inbound, ref PfPacket pd, out PfState? s, out Config.PfAction action, out PfReason reason)
    {
        action = Config.PfAction.Pass;
        reason = PfReason.Match;
        s = null;
        if (!pd.IcmpError)
        {
            if (!PfPacket.IsIcmpQuery(pd.V6, pd.IcmpType))
            {
                return false;
            }

            var key = PfStateKey.ForPacket(pd.V6, pd.Proto, pd.Src, pd.Sport, pd.Dst, pd.Dport, inbound);
            s = FindState(key, inbound);
            if (s is null)
            {
                return false;
            }

            s.Timeout = 10; // icmp.error (pf's PFTM_ICMP_ERROR_REPLY)
            Touch(s, s.Inbound == inbound, pd.Length);
            StateTranslate(packet, s, inbound, ref pd);
            return true;
        }

        // The quoted packet travelled the other way: look it up with source and destination swapped.
        var data = packet.Data;
        var qoff = pd.Offset + 8;
        if (!ParseQuoted(data, pd.V6, qoff, pd.Length, out var q))
        {
            return false;
        }

        var qkey = PfStateKey.ForPacket(pd.V6, q.Proto, q.Src, q.Sport, q.Dst, q.Dport, !inbound);
        s = FindState(qkey, inbound);
        if (s is null)
        {
            return false;
        }

        Touch(s, s.Inbound == inbound, pd.Length);
        if (!s.Wire.Equals(s.Stack))
        {
            var nk = inbound ? s.Stack : s.Wire;
            // Index of the quoted source in the key: 1 inbound, 0 outbound.
            var qsrc = inbound ? nk.Addr1 : nk.Addr0;
            var qsport = inbound ? nk.Port1 : nk.Port0;
            var qdst = inbound ? nk.Addr0 : nk.Addr1;
            var qdport = inbound ? nk.Port0 : nk.Port1;
            packet.MakeWritable();
            data = packet.Data;
            var changed = false;
            if (q.Src != qsrc || q.Sport != qsport)
            {
                RewriteQuoted(data, ref q, source: true, qsrc, qsport);
                if (pd.Dst != qsrc)
                {
                    RewriteOuterAddr(data, ref pd, source: false, qsrc);
                }

                changed = true;
            }

            if (q.Dst != qdst || q.Dport != qdport)
            {
                RewriteQuoted(data, ref q, source: false, qdst, qdport);
                if (pd.Src != qdst)
                {
                    RewriteOuterAddr(data, ref pd, source: true, qdst);
                }

                changed = true;
            }

            if (changed)
            {
                if (!pd.V6)
                {
                    PfRewrite.RecomputeIPv4Header(data[q.Offset..]);
                }

                PfRewrite.RecomputeIcmp(data, pd);
            }
        }

        return true;
    }

    private struct Quoted
    {
        public int Offset, TransportOffset, End;
        public byte Proto;
        public UInt128 Src, Dst;
        public ushort Sport, Dport;
        public bool Query;
    }

    private static bool ParseQuoted(ReadOnlySpan<byte> d, bool v6, int off, int end, out Quoted q)
    {
        q = default;
        q.Offset = off;
        q.End = end;
        if (!v6)
        {
            if (off + 20 > end || (d[off] >> 4) != 4)
            {
                return false;
            }

            var hl = (d[off] & 0xf) * 4;
            q.Proto = d[off + 9];
            q.Src = BinaryPrimitives.ReadUInt32BigEndian(d[(off + 12)..]);
            q.Dst = BinaryPrimitives.ReadUInt32BigEndian(d[(off + 16)..]);
            q.TransportOffset = off + hl;
        }
        else
        {
            if (off + 40 > end || (d[off] >> 4) != 6)
            {
                return false;
            }

            q.Proto = d[off + 6];
            q.Src = BinaryPrimitives.ReadUInt128BigEndian(d[(off + 8)..]);
            q.Dst = BinaryPrimitives.ReadUInt128BigEndian(d[(off + 24)..]);
            q.TransportOffset = off + 40;
        }

        var t = q.TransportOffset;
        if (t + 8 > end)
        {
            return false;
        }

        switch (q.Proto)
        {
            case PfPacket.Tcp or PfPacket.Udp:
                q.Sport = BinaryPrimitives.ReadUInt16BigEndian(d[t..]);
                q.Dport = BinaryPrimitives.ReadUInt16BigEndian(d[(t + 2)..]);
                return true;
            case PfPacket.Icmp or PfPacket.Icmp6:
                if (!PfPacket.IsIcmpQuery(v6, d[t]))
                {
                    return false;
                }

                q.Query = true;
                q.Sport = q.Dport = BinaryPrimitives.ReadUInt16BigEndian(d[(t + 4)..]);
                return true;
            default:
                q.Sport = q.Dport = 0;
                return true;
        }
    }

    /// <summary>Rewrites an address/port of the quoted packet and its transport checksum when quoted.</summary>
    private static void RewriteQuoted(Span<byte> d, ref Quoted q, bool source, UInt128 addr, ushort port)
    {
        var v6 = (d[q.Offset] >> 4) == 6;
        var aoff = q.Offset + (v6 ? (source ? 8 : 24) : (source ? 12 : 16));
        var old = source ? q.Src : q.Dst;
        PfPacket.WriteAddr(d, aoff, v6, addr);
        var t = q.TransportOffset;
        var co = q.Proto switch { PfPacket.Tcp => 16, PfPacket.Udp => 6, PfPacket.Icmp or PfPacket.Icmp6 => 2, _ => -1 };
        var haveCk = co >= 0 && t + co + 2 <= q.End;
        var udp = q.Proto == PfPacket.Udp && !v6;
        if (haveCk && old != addr && !(q.Proto == PfPacket.Icmp && !v6))
        {
            var c = BinaryPrimitives.ReadUInt16BigEndian(d[(t + co)..]);
            BinaryPrimitives.WriteUInt16BigEndian(d[(t + co)..], PfRewrite.FixupAddr(c, old, addr, v6, udp));
        }

        var oldPort = source ? q.Sport : q.Dport;
        if (oldPort != port)
        {
            var po = q.Query ? 4 : source ? 0 : 2;
            var cur = BinaryPrimitives.ReadUInt16BigEndian(d[(t + po)..]);
            BinaryPrimitives.WriteUInt16BigEndian(d[(t + po)..], port);
            if (haveCk)
            {
                var c = BinaryPrimitives.ReadUInt16BigEndian(d[(t + co)..]);
                BinaryPrimitives.WriteUInt16BigEndian(d[(t + co)..], PfRewrite.Fixup(c, cur, port, udp));
            }
        }

        if (source)
        {
            q.Src = addr;
            q.Sport = port;
        }
        else
        {
            q.Dst = addr;
            q.Dport = port;
        }

        if (q.Query)
        {
            q.Sport = q.Dport = port;
        }
    }

    private static void RewriteOuterAddr(Span<byte> d, ref PfPacket pd, bool source, UInt128 addr)
    {
        var off = pd.V6 ? (source ? 8 : 24) : (source ? 12 : 16);
        var old = source ? pd.Src : pd.Dst;
        PfPacket.WriteAddr(d, off, pd.V6, addr);
        if (!pd.V6)
        {
            var c = BinaryPrimitives.ReadUInt16BigEndian(d[10..]);
            BinaryPrimitives.WriteUInt16BigEndian(d[10..], PfRewrite.FixupAddr(c, old, addr, false));
        }

        if (source)
        {
            pd.Src = addr;
        }
        else
        {
            pd.Dst = addr;
        }
    }
}
