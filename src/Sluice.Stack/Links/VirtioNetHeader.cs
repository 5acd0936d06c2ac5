using System.Buffers.Binary;
using Sluice.Stack.Buffers;
using Sluice.Wire;

namespace Sluice.Stack.Links;

/// <summary>
/// struct virtio_net_hdr (virtio 1.x §5.1.6, Linux include/uapi/linux/virtio_net.h), the header in front of every
/// frame on a TAP descriptor opened with IFF_VNET_HDR. Fields are little-endian (TUNSETVNETLE is implied on
/// little-endian hosts and set explicitly otherwise).
/// </summary>
/// <remarks>
/// <code>
///  0      1      2          4          6            8             10            12
/// +------+------+----------+----------+------------+-------------+-------------+
/// |flags |gso   | hdr_len  | gso_size | csum_start | csum_offset | num_buffers |
/// |      |type  |          |          |            |             | (v1 only)   |
/// +------+------+----------+----------+------------+-------------+-------------+
/// </code>
/// </remarks>
internal readonly record struct VirtioNetHeader(byte Flags, byte GsoType, ushort HeaderLength, ushort GsoSize, ushort ChecksumStart, ushort ChecksumOffset)
{
    /// <summary>Bytes of the legacy header; 12 with num_buffers (virtio 1.0, mergeable receive buffers).</summary>
    public const int Length = 10;

    /// <summary>Header length Sluice asks for (TUNSETVNETHDRSZ): the virtio 1.0 layout.</summary>
    public const int LengthV1 = 12;

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum from csum_start to the end still has to be folded in at csum_start + csum_offset.</summary>
    public const byte NeedsChecksum = 1;

    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the checksum was verified.</summary>
    public const byte DataValid = 2;

    public const byte GsoNone = 0;
    public const byte GsoTcpV4 = 1;
    public const byte GsoUdp = 3;
    public const byte GsoTcpV6 = 4;
    public const byte GsoEcn = 0x80;

    private static class Field
    {
        public const int Flags = 0, GsoType = 1, HeaderLength = 2, GsoSize = 4, ChecksumStart = 6, ChecksumOffset = 8;
    }

    /// <summary>True for a TCP segmentation-offload super-frame.</summary>
    public bool IsTcpGso => (GsoType & ~GsoEcn) is GsoTcpV4 or GsoTcpV6;

    /// <summary>Reads a header; <paramref name="bytes"/> must hold at least <see cref="Length"/> bytes.</summary>
    public static VirtioNetHeader Read(ReadOnlySpan<byte> bytes) => new(
        bytes[Field.Flags],
        bytes[Field.GsoType],
        BinaryPrimitives.ReadUInt16LittleEndian(bytes[Field.HeaderLength..]),
        BinaryPrimitives.ReadUInt16LittleEndian(bytes[Field.GsoSize..]),
        BinaryPrimitives.ReadUInt16LittleEndian(bytes[Field.ChecksumStart..]),
        BinaryPrimitives.ReadUInt16LittleEndian(bytes[Field.ChecksumOffset..]));

    /// <summary>Writes the header into <paramref name="bytes"/> (zeroing num_buffers when there is room for it).</summary>
    public void Write(Span<byte> bytes)
    {
        bytes[Field.Flags] = Flags;
        bytes[Field.GsoType] = GsoType;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[Field.HeaderLength..], HeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[Field.GsoSize..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[Field.ChecksumStart..], ChecksumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[Field.ChecksumOffset..], ChecksumOffset);
        bytes[Length..].Clear();
    }

    /// <summary>
    /// Applies a received header to <paramref name="packet"/> (an Ethernet frame): a NEEDS_CSUM checksum is completed
    /// in place (so that the frame is valid when forwarded) and marked verified; DATA_VALID marks it verified. A GSO
    /// super-frame stays whole: TCP input takes segments up to 64 KiB.
    /// </summary>
    /// <returns>False when the header points outside the frame (the frame must be dropped).</returns>
    public bool ApplyTo(Packet packet)
    {
        if ((Flags & NeedsChecksum) != 0)
        {
            var data = packet.Data;
            var field = ChecksumStart + ChecksumOffset;
            if (ChecksumStart >= data.Length || field + 2 > data.Length)
            {
                return false;
            }

            // The field holds the pseudo-header sum (not complemented); the sum over csum_start..end includes it.
            var sum = Checksum.Add(data[ChecksumStart..]);
            BinaryPrimitives.WriteUInt16BigEndian(data[field..], Checksum.Fold(sum));
            packet.Flags |= PacketFlags.ChecksumVerified;
        }
        else if ((Flags & DataValid) != 0)
        {
            packet.Flags |= PacketFlags.ChecksumVerified;
        }

        return true;
    }

    /// <summary>
    /// The header for transmitting <paramref name="frame"/>: all zero for an ordinary frame (checksums complete);
    /// for a TCP super-segment (<see cref="Packet.GsoSize"/> set) a TCPV4/TCPV6 GSO header whose checksum field is
    /// rewritten to the pseudo-header sum with NEEDS_CSUM, so that Linux cuts it into segments of GsoSize payload bytes.
    /// </summary>
    public static VirtioNetHeader ForTransmit(Packet frame)
    {
        if (frame.GsoSize == 0)
        {
            return default;
        }

        var data = frame.Data;
        if (!EthernetFrame.TryCreate(data, out var eth))
        {
            return default;
        }

        var l3 = data.Length - eth.Payload.Length;
        var payload = data[l3..];
        int l4;
        byte gsoType;
        uint pseudo;
        if (eth.EtherType == EtherType.IPv4 && IPv4Packet.TryCreate(payload, out var ip4) && ip4.Protocol == IPProtocol.Tcp)
        {
            l4 = l3 + ip4.HeaderLength;
            gsoType = GsoTcpV4;
            pseudo = Checksum.PseudoHeaderV4(ip4.Source, ip4.Destination, IPProtocol.Tcp, ip4.TotalLength - ip4.HeaderLength);
        }
        else if (eth.EtherType == EtherType.IPv6 && IPv6Packet.TryCreate(payload, out var ip6) && ip6.NextHeader == IPProtocol.Tcp)
        {
            l4 = l3 + IPv6Packet.HeaderLength;
            gsoType = GsoTcpV6;
            pseudo = Checksum.PseudoHeaderV6(ip6.Source, ip6.Destination, IPProtocol.Tcp, ip6.PayloadLength);
        }
        else
        {
            return default;
        }

        if (l4 + TcpPacket.MinimumHeaderLength > data.Length)
        {
            return default;
        }

        var tcpHeaderLength = (data[l4 + 12] >> 4) * 4;
        BinaryPrimitives.WriteUInt16BigEndian(data[(l4 + 16)..], (ushort)~Checksum.Fold(pseudo));
        return new VirtioNetHeader(NeedsChecksum, gsoType, (ushort)(l4 + tcpHeaderLength), frame.GsoSize, (ushort)l4, 16);
    }
}
