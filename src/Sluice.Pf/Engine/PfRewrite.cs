using System.Buffers.Binary;

namespace Sluice.Pf.Engine;

/// <summary>Address and port rewriting with RFC 1624 incremental checksum updates (pf_change_ap, pf_cksum_fixup).</summary>
internal static class PfRewrite
{
    /// <summary>RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').</summary>
    public static ushort Fixup(ushort cksum, ushort old, ushort now, bool udp = false)
    {
        if (udp && cksum == 0)
        {
            return 0;
        }

        var sum = (uint)(ushort)~cksum + (ushort)~old + now;
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        var r = (ushort)~sum;
        return udp && r == 0 ? (ushort)0xffff : r;
    }

    /// <summary>Fixes <paramref name="cksum"/> for an address change (2 words for IPv4, 8 for IPv6).</summary>
    public static ushort FixupAddr(ushort cksum, UInt128 old, UInt128 now, bool v6, bool udp = false)
    {
        if (udp && cksum == 0)
        {
            return 0;
        }

        var words = v6 ? 8 : 2;
        var sum = (uint)(ushort)~cksum;
        for (var i = 0; i < words; i++)
        {
            sum += (ushort)~(ushort)(old >> (16 * i));
            sum += (ushort)(now >> (16 * i));
        }

        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        var r = (ushort)~sum;
        return udp && r == 0 ? (ushort)0xffff : r;
    }

    private static int ChecksumOffset(in PfPacket pd) => pd.Proto switch
    {
        PfPacket.Tcp => 16,
        PfPacket.Udp => 6,
        PfPacket.Icmp or PfPacket.Icmp6 => 2,
        _ => -1,
    };

    private static void FixTransport(Span<byte> d, in PfPacket pd, UInt128 old, UInt128 now)
    {
        if (pd.NonFirstFragment)
        {
            return;
        }

        // ICMPv4 has no pseudo-header; TCP, UDP and ICMPv6 do.
        if (pd.Proto == PfPacket.Icmp && !pd.V6)
        {
            return;
        }

        var co = ChecksumOffset(pd);
        if (co < 0 || pd.Offset + co + 2 > pd.Length)
        {
            return;
        }

        var at = d[(pd.Offset + co)..];
        var c = BinaryPrimitives.ReadUInt16BigEndian(at);
        BinaryPrimitives.WriteUInt16BigEndian(at, FixupAddr(c, old, now, pd.V6, udp: pd.Proto == PfPacket.Udp && !pd.V6));
    }

    private static void ChangeAddress(Span<byte> d, ref PfPacket pd, int offset, UInt128 old, UInt128 now)
    {
        PfPacket.WriteAddr(d, offset, pd.V6, now);
        if (!pd.V6)
        {
            var c = BinaryPrimitives.ReadUInt16BigEndian(d[10..]);
            BinaryPrimitives.WriteUInt16BigEndian(d[10..], FixupAddr(c, old, now, false));
        }

        FixTransport(d, pd, old, now);
    }

    private static void ChangePort(Span<byte> d, ref PfPacket pd, bool source, ushort old, ushort now)
    {
        if (pd.NonFirstFragment || old == now)
        {
            return;
        }

        var co = ChecksumOffset(pd);
        int po;
        if (pd.Proto is PfPacket.Tcp or PfPacket.Udp)
        {
            po = source ? 0 : 2;
        }
        else if (pd.Proto is PfPacket.Icmp or PfPacket.Icmp6 && PfPacket.IsIcmpQuery(pd.V6, pd.IcmpType))
        {
            po = 4;
        }
        else
        {
            return;
        }

        var t = d[pd.Offset..];
        var cur = BinaryPrimitives.ReadUInt16BigEndian(t[po..]);
        if (cur == now)
        {
            return;
        }

        BinaryPrimitives.WriteUInt16BigEndian(t[po..], now);
        var c = BinaryPrimitives.ReadUInt16BigEndian(t[co..]);
        BinaryPrimitives.WriteUInt16BigEndian(t[co..], Fixup(c, cur, now, udp: pd.Proto == PfPacket.Udp && !pd.V6));
    }

    /// <summary>Rewrites the source address and port (or ICMP id).</summary>
    public static void ChangeSource(Span<byte> d, ref PfPacket pd, UInt128 addr, ushort port)
    {
        if (pd.Src != addr)
        {
            ChangeAddress(d, ref pd, pd.V6 ? 8 : 12, pd.Src, addr);
            pd.Src = addr;
        }

        if (pd.Sport != port)
        {
            ChangePort(d, ref pd, true, pd.Sport, port);
            pd.Sport = port;
            if (pd.Proto is PfPacket.Icmp or PfPacket.Icmp6)
            {
                pd.Dport = port;
                pd.IcmpId = port;
            }
        }
    }

    /// <summary>Rewrites the destination address and port (or ICMP id).</summary>
    public static void ChangeDestination(Span<byte> d, ref PfPacket pd, UInt128 addr, ushort port)
    {
        if (pd.Dst != addr)
        {
            ChangeAddress(d, ref pd, pd.V6 ? 24 : 16, pd.Dst, addr);
            pd.Dst = addr;
        }

        if (pd.Dport != port)
        {
            ChangePort(d, ref pd, false, pd.Dport, port);
            pd.Dport = port;
            if (pd.Proto is PfPacket.Icmp or PfPacket.Icmp6)
            {
                pd.Sport = port;
                pd.IcmpId = port;
            }
        }
    }

    /// <summary>Recomputes the ICMP (v4) or ICMPv6 checksum of the whole message.</summary>
    public static void RecomputeIcmp(Span<byte> d, in PfPacket pd)
    {
        var msg = d[pd.Offset..pd.Length];
        msg[2] = 0;
        msg[3] = 0;
        uint sum = 0;
        if (pd.V6)
        {
            sum = Sluice.Wire.Checksum.Add(d.Slice(8, 32));
            sum += (uint)msg.Length;
            sum += PfPacket.Icmp6;
        }

        sum = Sluice.Wire.Checksum.Add(msg, sum);
        BinaryPrimitives.WriteUInt16BigEndian(msg[2..], Sluice.Wire.Checksum.Fold(sum));
    }

    /// <summary>Recomputes an IPv4 header checksum.</summary>
    public static void RecomputeIPv4Header(Span<byte> ip)
    {
        var hlen = (ip[0] & 0x0f) * 4;
        ip[10] = 0;
        ip[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Sluice.Wire.Checksum.Fold(Sluice.Wire.Checksum.Add(ip[..hlen])));
    }
}
