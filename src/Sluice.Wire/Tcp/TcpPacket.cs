using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>TCP header flags, including the AE (former NS) bit (RFC 9293, RFC 3168, RFC 9768).</summary>
[Flags]
public enum TcpFlags : ushort
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>FIN.</summary>
    Fin = 0x01,
    /// <summary>SYN.</summary>
    Syn = 0x02,
    /// <summary>RST.</summary>
    Rst = 0x04,
    /// <summary>PSH.</summary>
    Psh = 0x08,
    /// <summary>ACK.</summary>
    Ack = 0x10,
    /// <summary>URG.</summary>
    Urg = 0x20,
    /// <summary>ECN-Echo.</summary>
    Ece = 0x40,
    /// <summary>Congestion window reduced.</summary>
    Cwr = 0x80,
    /// <summary>Accurate ECN (formerly NS, RFC 3540).</summary>
    Ae = 0x100,
}

/// <summary>A read/write view over a TCP segment (RFC 9293 §3.1).</summary>
/// <remarks><see cref="TryCreate"/> checks that the data offset is at least 20 and fits the buffer; the payload is the rest of the buffer.</remarks>
public readonly ref struct TcpPacket
{
    //  0                   1                   2                   3
    //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |          Source Port          |       Destination Port        |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                        Sequence Number                        |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                    Acknowledgment Number                      |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |  Data |     |A|C|E|U|A|P|R|S|F|                               |
    // | Offset| Rsrv|E|W|C|R|C|S|S|Y|I|            Window             |
    // |       |     | |R|E|G|K|H|T|N|N|                               |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |           Checksum            |         Urgent Pointer        |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                    Options                    |    Padding    |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    private static class Field
    {
        public const int SourcePort = 0;
        public const int DestinationPort = 2;
        public const int SequenceNumber = 4;
        public const int AcknowledgmentNumber = 8;
        public const int DataOffsetFlags = 12;
        public const int WindowSize = 14;
        public const int Checksum = 16;
        public const int UrgentPointer = 18;
        public const int Options = 20;
    }

    /// <summary>Length of a header without options.</summary>
    public const int MinimumHeaderLength = 20;

    /// <summary>Largest header length (data offset 15).</summary>
    public const int MaximumHeaderLength = 60;

    /// <summary>Largest options area.</summary>
    public const int MaximumOptionsLength = 40;

    private readonly Span<byte> _buffer;

    private TcpPacket(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view when the buffer holds the whole header (20 &lt;= data offset &lt;= buffer length).</summary>
    public static bool TryCreate(Span<byte> buffer, out TcpPacket packet)
    {
        packet = default;
        if (buffer.Length < MinimumHeaderLength)
        {
            return false;
        }

        int dataOffset = (buffer[Field.DataOffsetFlags] >> 4) * 4;
        if (dataOffset < MinimumHeaderLength || dataOffset > buffer.Length)
        {
            return false;
        }

        packet = new TcpPacket(buffer);
        return true;
    }

    /// <summary>Creates a view without validation; for emission.</summary>
    public static TcpPacket CreateUnchecked(Span<byte> buffer) => new(buffer);

    /// <summary>The whole segment.</summary>
    public Span<byte> Buffer => _buffer;

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

    /// <summary>Sequence number.</summary>
    public uint SequenceNumber
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_buffer[Field.SequenceNumber..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[Field.SequenceNumber..], value);
    }

    /// <summary>Acknowledgment number.</summary>
    public uint AcknowledgmentNumber
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_buffer[Field.AcknowledgmentNumber..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[Field.AcknowledgmentNumber..], value);
    }

    /// <summary>Header length in bytes (data offset * 4); the setter takes bytes.</summary>
    public int DataOffset
    {
        get => (_buffer[Field.DataOffsetFlags] >> 4) * 4;
        set => _buffer[Field.DataOffsetFlags] = (byte)((((value / 4) & 0xF) << 4) | (_buffer[Field.DataOffsetFlags] & 0x0F));
    }

    /// <summary>The nine flag bits.</summary>
    public TcpFlags Flags
    {
        get => (TcpFlags)(BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.DataOffsetFlags..]) & 0x01FF);
        set
        {
            ushort word = BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.DataOffsetFlags..]);
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.DataOffsetFlags..], (ushort)((word & 0xFE00) | ((ushort)value & 0x01FF)));
        }
    }

    /// <summary>Window size (unscaled).</summary>
    public ushort WindowSize
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.WindowSize..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.WindowSize..], value);
    }

    /// <summary>Checksum as stored.</summary>
    public ushort Checksum
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.Checksum..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.Checksum..], value);
    }

    /// <summary>Urgent pointer.</summary>
    public ushort UrgentPointer
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.UrgentPointer..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.UrgentPointer..], value);
    }

    /// <summary>The options area (between byte 20 and the data offset).</summary>
    public Span<byte> Options => _buffer[Field.Options..DataOffset];

    /// <summary>A reader over the options.</summary>
    public TcpOptionReader GetOptionReader() => new(Options);

    /// <summary>The data after the header, to the end of the buffer.</summary>
    public Span<byte> Payload => _buffer[DataOffset..];

    /// <summary>Sequence space consumed: payload length plus one each for SYN and FIN.</summary>
    public int SegmentLength => Payload.Length + ((Flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((Flags & TcpFlags.Fin) != 0 ? 1 : 0);

    /// <summary>True when the checksum over the IPv4 pseudo header and the whole segment is correct.</summary>
    public bool VerifyChecksumV4(IPv4Address source, IPv4Address destination) =>
        Sluice.Wire.Checksum.Fold(Sluice.Wire.Checksum.Add(_buffer, Sluice.Wire.Checksum.PseudoHeaderV4(source, destination, IPProtocol.Tcp, _buffer.Length))) == 0;

    /// <summary>Computes and stores the checksum over the IPv4 pseudo header and the whole segment.</summary>
    public void FillChecksumV4(IPv4Address source, IPv4Address destination)
    {
        Checksum = 0;
        Checksum = Sluice.Wire.Checksum.Fold(Sluice.Wire.Checksum.Add(_buffer, Sluice.Wire.Checksum.PseudoHeaderV4(source, destination, IPProtocol.Tcp, _buffer.Length)));
    }

    /// <summary>True when the checksum over the IPv6 pseudo header and the whole segment is correct.</summary>
    public bool VerifyChecksumV6(IPv6Address source, IPv6Address destination) =>
        Sluice.Wire.Checksum.Fold(Sluice.Wire.Checksum.Add(_buffer, Sluice.Wire.Checksum.PseudoHeaderV6(source, destination, IPProtocol.Tcp, _buffer.Length))) == 0;

    /// <summary>Computes and stores the checksum over the IPv6 pseudo header and the whole segment.</summary>
    public void FillChecksumV6(IPv6Address source, IPv6Address destination)
    {
        Checksum = 0;
        Checksum = Sluice.Wire.Checksum.Fold(Sluice.Wire.Checksum.Add(_buffer, Sluice.Wire.Checksum.PseudoHeaderV6(source, destination, IPProtocol.Tcp, _buffer.Length)));
    }
}

/// <summary>The parsed form of a TCP header without options.</summary>
public readonly record struct TcpHeader(
    ushort SourcePort,
    ushort DestinationPort,
    uint SequenceNumber,
    uint AcknowledgmentNumber,
    TcpFlags Flags,
    ushort WindowSize,
    ushort UrgentPointer = 0)
{
    /// <summary>Parses the fixed fields of a segment whose data offset is valid for the buffer.</summary>
    public static bool TryParse(ReadOnlySpan<byte> buffer, out TcpHeader header)
    {
        header = default;
        if (buffer.Length < TcpPacket.MinimumHeaderLength)
        {
            return false;
        }

        int dataOffset = (buffer[12] >> 4) * 4;
        if (dataOffset < TcpPacket.MinimumHeaderLength || dataOffset > buffer.Length)
        {
            return false;
        }

        header = new TcpHeader(
            BinaryPrimitives.ReadUInt16BigEndian(buffer),
            BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(buffer[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(buffer[8..]),
            (TcpFlags)(BinaryPrimitives.ReadUInt16BigEndian(buffer[12..]) & 0x01FF),
            BinaryPrimitives.ReadUInt16BigEndian(buffer[14..]),
            BinaryPrimitives.ReadUInt16BigEndian(buffer[18..]));
        return true;
    }

    /// <summary>Writes the 20-byte fixed header with data offset 20 + <paramref name="optionsLength"/> and a zero checksum.</summary>
    /// <remarks><paramref name="optionsLength"/> must be a multiple of 4, at most 40; write the options at byte 20.</remarks>
    public void Emit(Span<byte> buffer, int optionsLength = 0)
    {
        TcpPacket p = TcpPacket.CreateUnchecked(buffer[..TcpPacket.MinimumHeaderLength]);
        p.SourcePort = SourcePort;
        p.DestinationPort = DestinationPort;
        p.SequenceNumber = SequenceNumber;
        p.AcknowledgmentNumber = AcknowledgmentNumber;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[12..], (ushort)((((TcpPacket.MinimumHeaderLength + optionsLength) / 4) << 12) | ((ushort)Flags & 0x01FF)));
        p.WindowSize = WindowSize;
        p.Checksum = 0;
        p.UrgentPointer = UrgentPointer;
    }
}
