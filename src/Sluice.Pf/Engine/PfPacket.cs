using System.Buffers.Binary;

namespace Sluice.Pf.Engine;

/// <summary>
/// What pf learned about one packet (pf's <c>struct pf_pdesc</c>): family, addresses, ports, TCP/ICMP fields and
/// where the transport header starts. Parsed once per packet without allocation.
/// </summary>
internal struct PfPacket
{
    public const byte Tcp = 6, Udp = 17, Icmp = 1, Icmp6 = 58;

    public bool V6;
    public byte Proto;
    public UInt128 Src, Dst;
    public ushort Sport, Dport;
    public int Offset; // transport header offset
    public int Length; // total length of the IP packet
    public int TransportLength; // bytes from Offset to the end of the packet
    public bool Fragment; // any fragment
    public bool NonFirstFragment;
    public int FragmentOffset; // bytes
    public byte TcpFlags;
    public uint Seq, Ack;
    public ushort Win;
    public int TcpHeaderLength, PayloadLength;
    public byte IcmpType, IcmpCode;
    public ushort IcmpId;
    public bool IcmpError;
    public byte Ttl;
    public byte Tos;
    public bool TcpNorm; // a scrub rule with "reassemble tcp" matched (PFDESC_TCP_NORM)

    /// <summary>The family as pf's rules name it.</summary>
    public readonly Config.PfFamily Family => V6 ? Config.PfFamily.Inet6 : Config.PfFamily.Inet;

    /// <summary>ICMP query types that carry an id (echo, timestamp, info, address mask; ICMPv6 echo).</summary>
    public static bool IsIcmpQuery(bool v6, byte type) => v6 ? type is 128 or 129 : type is 0 or 8 or 13 or 14 or 15 or 16 or 17 or 18;

    /// <summary>ICMP errors that quote a packet.</summary>
    public static bool IsIcmpErrorType(bool v6, byte type) => v6 ? type is 1 or 2 or 3 or 4 : type is 3 or 4 or 5 or 11 or 12;

    /// <summary>Parses <paramref name="data"/> (starting at the IP header). Returns the drop reason or <see cref="PfReason.Match"/>.</summary>
    public static PfReason Parse(ReadOnlySpan<byte> data, bool v6, out PfPacket pd)
    {
        pd = default;
        pd.V6 = v6;
        if (!v6)
        {
            if (data.Length < 20 || (data[0] >> 4) != 4)
            {
                return PfReason.Short;
            }

            var hlen = (data[0] & 0x0f) * 4;
            var total = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
            if (hlen < 20 || total < hlen || total > data.Length)
            {
                return PfReason.Short;
            }

            pd.Tos = data[1];
            pd.Ttl = data[8];
            pd.Proto = data[9];
            pd.Src = BinaryPrimitives.ReadUInt32BigEndian(data[12..]);
            pd.Dst = BinaryPrimitives.ReadUInt32BigEndian(data[16..]);
            var frag = BinaryPrimitives.ReadUInt16BigEndian(data[6..]);
            pd.FragmentOffset = (frag & 0x1fff) * 8;
            pd.Fragment = (frag & 0x3fff) != 0;
            pd.NonFirstFragment = pd.FragmentOffset != 0;
            pd.Offset = hlen;
            pd.Length = total;
        }
        else
        {
            if (data.Length < 40 || (data[0] >> 4) != 6)
            {
                return PfReason.Short;
            }

            var total = 40 + BinaryPrimitives.ReadUInt16BigEndian(data[4..]);
            if (total > data.Length)
            {
                return PfReason.Short;
            }

            pd.Tos = (byte)((BinaryPrimitives.ReadUInt16BigEndian(data) >> 4) & 0xff);
            pd.Ttl = data[7];
            pd.Src = BinaryPrimitives.ReadUInt128BigEndian(data[8..]);
            pd.Dst = BinaryPrimitives.ReadUInt128BigEndian(data[24..]);
            pd.Length = total;
            var next = data[6];
            var off = 40;
            for (var hops = 0; hops < 8; hops++)
            {
                if (next is 0 or 43 or 60)
                {
                    if (off + 8 > total)
                    {
                        return PfReason.Short;
                    }

                    next = data[off];
                    off += (data[off + 1] + 1) * 8;
                    continue;
                }

                if (next == 44)
                {
                    if (off + 8 > total)
                    {
                        return PfReason.Short;
                    }

                    var fo = BinaryPrimitives.ReadUInt16BigEndian(data[(off + 2)..]);
                    pd.Fragment = true;
                    pd.FragmentOffset = fo & 0xfff8;
                    pd.NonFirstFragment = pd.FragmentOffset != 0;
                    next = data[off];
                    off += 8;
                    continue;
                }

                break;
            }

            if (off > total)
            {
                return PfReason.Short;
            }

            pd.Proto = next;
            pd.Offset = off;
        }

        pd.TransportLength = pd.Length - pd.Offset;
        if (pd.NonFirstFragment)
        {
            return PfReason.Match;
        }

        var t = data[pd.Offset..pd.Length];
        switch (pd.Proto)
        {
            case Tcp:
                {
                    if (t.Length < 20)
                    {
                        return pd.Fragment ? PfReason.Fragment : PfReason.Short;
                    }

                    var thl = (t[12] >> 4) * 4;
                    if (thl < 20 || thl > t.Length)
                    {
                        return PfReason.Short;
                    }

                    pd.Sport = BinaryPrimitives.ReadUInt16BigEndian(t);
                    pd.Dport = BinaryPrimitives.ReadUInt16BigEndian(t[2..]);
                    pd.Seq = BinaryPrimitives.ReadUInt32BigEndian(t[4..]);
                    pd.Ack = BinaryPrimitives.ReadUInt32BigEndian(t[8..]);
                    pd.TcpFlags = t[13];
                    pd.Win = BinaryPrimitives.ReadUInt16BigEndian(t[14..]);
                    pd.TcpHeaderLength = thl;
                    pd.PayloadLength = t.Length - thl;
                    break;
                }

            case Udp:
                if (t.Length < 8)
                {
                    return pd.Fragment ? PfReason.Fragment : PfReason.Short;
                }

                pd.Sport = BinaryPrimitives.ReadUInt16BigEndian(t);
                pd.Dport = BinaryPrimitives.ReadUInt16BigEndian(t[2..]);
                break;
            case Icmp or Icmp6:
                if ((pd.Proto == Icmp) == v6)
                {
                    break;
                }

                if (t.Length < 8)
                {
                    return pd.Fragment ? PfReason.Fragment : PfReason.Short;
                }

                pd.IcmpType = t[0];
                pd.IcmpCode = t[1];
                if (IsIcmpQuery(v6, pd.IcmpType))
                {
                    pd.IcmpId = BinaryPrimitives.ReadUInt16BigEndian(t[4..]);
                    pd.Sport = pd.Dport = pd.IcmpId;
                }
                else if (IsIcmpErrorType(v6, pd.IcmpType))
                {
                    pd.IcmpError = true;
                }

                break;
        }

        return PfReason.Match;
    }

    /// <summary>Reads an address of <paramref name="v6"/>'s family at <paramref name="offset"/>.</summary>
    public static UInt128 ReadAddr(ReadOnlySpan<byte> data, int offset, bool v6) =>
        v6 ? BinaryPrimitives.ReadUInt128BigEndian(data[offset..]) : BinaryPrimitives.ReadUInt32BigEndian(data[offset..]);

    /// <summary>Writes an address of <paramref name="v6"/>'s family at <paramref name="offset"/>.</summary>
    public static void WriteAddr(Span<byte> data, int offset, bool v6, UInt128 value)
    {
        if (v6)
        {
            BinaryPrimitives.WriteUInt128BigEndian(data[offset..], value);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(data[offset..], (uint)value);
        }
    }
}

/// <summary>Why pf dropped (or matched) a packet: pf's <c>PFRES_*</c>, the <c>pfctl -si</c> counters.</summary>
public enum PfReason : byte
{
    Match = 0,
    BadOffset = 1,
    Fragment = 2,
    Short = 3,
    Normalize = 4,
    Memory = 5,
    BadTimestamp = 6,
    Congestion = 7,
    IpOption = 8,
    ProtoChecksum = 9,
    StateMismatch = 10,
    StateInsert = 11,
    StateLimit = 12,
    SrcLimit = 13,
    Synproxy = 14,
    MapFailed = 15,
}
