using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>A read/write view over a UDP datagram (RFC 768).</summary>
/// <remarks><see cref="TryCreate"/> checks that the length field is at least 8 and fits the buffer.</remarks>
public readonly ref struct UdpPacket
{
    //  0      7 8     15 16    23 24    31
    // +--------+--------+--------+--------+
    // |     Source      |   Destination   |
    // |      Port       |      Port       |
    // +--------+--------+--------+--------+
    // |                 |                 |
    // |     Length      |    Checksum     |
    // +--------+--------+--------+--------+
    // |          data octets ...
    // +---------------- ...
    private static class Field
    {
        public const int SourcePort = 0;
        public const int DestinationPort = 2;
        public const int Length = 4;
        public const int Checksum = 6;
    }

    /// <summary>Length of the UDP header.</summary>
    public const int HeaderLength = 8;

    private readonly Span<byte> _buffer;

    private UdpPacket(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view when the buffer holds at least 8 bytes and 8 &lt;= length field &lt;= buffer length.</summary>
    public static bool TryCreate(Span<byte> buffer, out UdpPacket packet)
    {
        packet = default;
        if (buffer.Length < HeaderLength)
        {
            return false;
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(buffer[Field.Length..]);
        if (length < HeaderLength || length > buffer.Length)
        {
            return false;
        }

        packet = new UdpPacket(buffer);
        return true;
    }

    /// <summary>Creates a view without validation; for emission.</summary>
    public static UdpPacket CreateUnchecked(Span<byte> buffer) => new(buffer);

    /// <summary>Source port.</summary>
    public ushort SourcePort
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.SourcePort..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.SourcePort..], value);
    }

    /// <summary>Destination port.</summary>
    public ushort DestinationPort
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.DestinationPort..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.DestinationPort..], value);
    }

    /// <summary>Length of header and data.</summary>
    public ushort Length
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.Length..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.Length..], value);
    }

    /// <summary>Checksum as stored (0 means none over IPv4).</summary>
    public ushort Checksum
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.Checksum..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.Checksum..], value);
    }

    /// <summary>Header and data, per the length field.</summary>
    public Span<byte> Datagram => _buffer[..Length];

    /// <summary>The data, per the length field.</summary>
    public Span<byte> Payload => _buffer[HeaderLength..Length];

    /// <summary>True when the checksum is absent (0) or correct over the IPv4 pseudo header.</summary>
    public bool VerifyChecksumV4(IPv4Address source, IPv4Address destination)
    {
        if (Checksum == 0)
        {
            return true;
        }

        return Sluice.Wire.Checksum.Fold(Sluice.Wire.Checksum.Add(Datagram, Sluice.Wire.Checksum.PseudoHeaderV4(source, destination, IPProtocol.Udp, Length))) == 0;
    }

    /// <summary>Computes and stores the checksum over the IPv4 pseudo header; a computed 0 is sent as 0xFFFF.</summary>
    public void FillChecksumV4(IPv4Address source, IPv4Address destination)
    {
        Checksum = 0;
        ushort c = Sluice.Wire.Checksum.Fold(Sluice.Wire.Checksum.Add(Datagram, Sluice.Wire.Checksum.PseudoHeaderV4(source, destination, IPProtocol.Udp, Length)));
        Checksum = c == 0 ? (ushort)0xFFFF : c;
    }

    /// <summary>True when the checksum is correct over the IPv6 pseudo header; a zero checksum is invalid (RFC 8200 §8.1).</summary>
    public bool VerifyChecksumV6(IPv6Address source, IPv6Address destination)
    {
        if (Checksum == 0)
        {
            return false;
        }

        return Sluice.Wire.Checksum.Fold(Sluice.Wire.Checksum.Add(Datagram, Sluice.Wire.Checksum.PseudoHeaderV6(source, destination, IPProtocol.Udp, Length))) == 0;
    }

    /// <summary>Computes and stores the checksum over the IPv6 pseudo header; a computed 0 is sent as 0xFFFF.</summary>
    public void FillChecksumV6(IPv6Address source, IPv6Address destination)
    {
        Checksum = 0;
        ushort c = Sluice.Wire.Checksum.Fold(Sluice.Wire.Checksum.Add(Datagram, Sluice.Wire.Checksum.PseudoHeaderV6(source, destination, IPProtocol.Udp, Length)));
        Checksum = c == 0 ? (ushort)0xFFFF : c;
    }
}

/// <summary>The parsed form of a UDP header (length and checksum are derived on emission).</summary>
public readonly record struct UdpHeader(ushort SourcePort, ushort DestinationPort)
{
    /// <summary>Length of the emitted header.</summary>
    public int HeaderLength => UdpPacket.HeaderLength;

    /// <summary>Parses the ports of a datagram whose length field is valid for the buffer.</summary>
    public static bool TryParse(ReadOnlySpan<byte> buffer, out UdpHeader header)
    {
        header = default;
        if (buffer.Length < UdpPacket.HeaderLength)
        {
            return false;
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(buffer[4..]);
        if (length < UdpPacket.HeaderLength || length > buffer.Length)
        {
            return false;
        }

        header = new UdpHeader(BinaryPrimitives.ReadUInt16BigEndian(buffer), BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]));
        return true;
    }

    /// <summary>Writes the 8-byte header with length = 8 + <paramref name="payloadLength"/> and a zero checksum.</summary>
    /// <remarks>Fill the checksum afterwards with <see cref="UdpPacket.FillChecksumV4"/> or <see cref="UdpPacket.FillChecksumV6"/>.</remarks>
    public void Emit(Span<byte> header, int payloadLength)
    {
        UdpPacket p = UdpPacket.CreateUnchecked(header);
        p.SourcePort = SourcePort;
        p.DestinationPort = DestinationPort;
        p.Length = (ushort)(UdpPacket.HeaderLength + payloadLength);
        p.Checksum = 0;
    }
}
