using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>A read/write view over an IPv6 packet (RFC 8200).</summary>
/// <remarks>
/// <see cref="TryCreate"/> checks the version and that the payload length fits the buffer; jumbograms (payload
/// length 0 with a Hop-by-Hop header) are rejected. Afterwards no accessor can read out of range.
/// </remarks>
public readonly ref struct IPv6Packet
{
    //  0                   1                   2                   3
    //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |Version| Traffic Class |           Flow Label                  |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |         Payload Length        |  Next Header  |   Hop Limit   |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                                                               |
    // +                         Source Address                        +
    // |                          (16 bytes)                           |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                                                               |
    // +                      Destination Address                      +
    // |                          (16 bytes)                           |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    private static class Field
    {
        public const int VersionClassFlow = 0;
        public const int PayloadLength = 4;
        public const int NextHeader = 6;
        public const int HopLimit = 7;
        public const int Source = 8;
        public const int Destination = 24;
    }

    /// <summary>Length of the fixed header.</summary>
    public const int HeaderLength = 40;

    /// <summary>Most extension headers <see cref="TryFindUpperLayer"/> walks before giving up.</summary>
    public const int MaximumExtensionHeaders = 8;

    private readonly Span<byte> _buffer;

    private IPv6Packet(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view after checking version 6, the 40-byte header, and payload length &lt;= buffer length - 40.</summary>
    public static bool TryCreate(Span<byte> buffer, out IPv6Packet packet)
    {
        packet = default;
        if (buffer.Length < HeaderLength || (buffer[Field.VersionClassFlow] >> 4) != 6)
        {
            return false;
        }

        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(buffer[Field.PayloadLength..]);
        if (payloadLength > buffer.Length - HeaderLength)
        {
            return false;
        }

        // RFC 2675: payload length 0 with Hop-by-Hop means a jumbogram, which is not supported.
        if (payloadLength == 0 && buffer[Field.NextHeader] == (byte)IPProtocol.HopByHop)
        {
            return false;
        }

        packet = new IPv6Packet(buffer);
        return true;
    }

    /// <summary>Creates a view without validation; for emission.</summary>
    public static IPv6Packet CreateUnchecked(Span<byte> buffer) => new(buffer);

    /// <summary>The whole underlying buffer, including any link padding.</summary>
    public Span<byte> Buffer => _buffer;

    /// <summary>IP version (6).</summary>
    public byte Version
    {
        get => (byte)(_buffer[Field.VersionClassFlow] >> 4);
        set => _buffer[Field.VersionClassFlow] = (byte)((value << 4) | (_buffer[Field.VersionClassFlow] & 0x0F));
    }

    private uint FirstWord
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_buffer[Field.VersionClassFlow..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[Field.VersionClassFlow..], value);
    }

    /// <summary>Traffic class (DSCP and ECN).</summary>
    public byte TrafficClass
    {
        get => (byte)(FirstWord >> 20);
        set => FirstWord = (FirstWord & 0xF00F_FFFFU) | ((uint)value << 20);
    }

    /// <summary>The 20-bit flow label.</summary>
    public uint FlowLabel
    {
        get => FirstWord & 0x000F_FFFFU;
        set => FirstWord = (FirstWord & 0xFFF0_0000U) | (value & 0x000F_FFFFU);
    }

    /// <summary>Length of everything after the fixed header.</summary>
    public ushort PayloadLength
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.PayloadLength..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.PayloadLength..], value);
    }

    /// <summary>Type of the header after the fixed header.</summary>
    public IPProtocol NextHeader
    {
        get => (IPProtocol)_buffer[Field.NextHeader];
        set => _buffer[Field.NextHeader] = (byte)value;
    }

    /// <summary>Hop limit.</summary>
    public byte HopLimit
    {
        get => _buffer[Field.HopLimit];
        set => _buffer[Field.HopLimit] = value;
    }

    /// <summary>Source address.</summary>
    public IPv6Address Source
    {
        get => IPv6Address.Read(_buffer[Field.Source..]);
        set => value.WriteTo(_buffer[Field.Source..]);
    }

    /// <summary>Destination address.</summary>
    public IPv6Address Destination
    {
        get => IPv6Address.Read(_buffer[Field.Destination..]);
        set => value.WriteTo(_buffer[Field.Destination..]);
    }

    /// <summary>Header plus payload, per the payload length field.</summary>
    public Span<byte> Packet => _buffer[..(HeaderLength + PayloadLength)];

    /// <summary>Everything after the fixed header, per the payload length field (extension headers included).</summary>
    public Span<byte> Payload => _buffer.Slice(HeaderLength, PayloadLength);

    /// <summary>Walks extension headers to the upper-layer header.</summary>
    /// <param name="protocol">The upper-layer protocol; <see cref="IPProtocol.IPv6Fragment"/> for a non-first fragment.</param>
    /// <param name="offset">Offset of the upper-layer header from the start of the IPv6 header (for a non-first fragment, of the fragment header).</param>
    /// <param name="fragmentHeaderOffset">Offset of the fragment header, or -1 when there is none.</param>
    /// <returns>False when a header is truncated, runs past the payload, or there are too many.</returns>
    public bool TryFindUpperLayer(out IPProtocol protocol, out int offset, out int fragmentHeaderOffset)
    {
        int end = HeaderLength + PayloadLength;
        IPProtocol next = NextHeader;
        int at = HeaderLength;
        fragmentHeaderOffset = -1;
        for (int count = 0; count <= MaximumExtensionHeaders; count++)
        {
            int length;
            switch (next)
            {
                case IPProtocol.HopByHop:
                case IPProtocol.IPv6Route:
                case IPProtocol.IPv6DestinationOptions:
                    if (end - at < 2)
                    {
                        goto Malformed;
                    }

                    length = (_buffer[at + 1] + 1) * 8;
                    break;
                case IPProtocol.Ah:
                    // RFC 4302 §2.2: the AH length is in 4-octet units minus 2.
                    if (end - at < 2)
                    {
                        goto Malformed;
                    }

                    length = (_buffer[at + 1] + 2) * 4;
                    break;
                case IPProtocol.IPv6Fragment:
                    if (end - at < IPv6FragmentHeader.Length || fragmentHeaderOffset >= 0)
                    {
                        goto Malformed;
                    }

                    fragmentHeaderOffset = at;
                    if ((BinaryPrimitives.ReadUInt16BigEndian(_buffer[(at + 2)..]) & 0xFFF8) != 0)
                    {
                        protocol = IPProtocol.IPv6Fragment;
                        offset = at;
                        return true;
                    }

                    length = IPv6FragmentHeader.Length;
                    break;
                default:
                    protocol = next;
                    offset = at;
                    return true;
            }

            if (end - at < length)
            {
                goto Malformed;
            }

            next = (IPProtocol)_buffer[at];
            at += length;
        }

    Malformed:
        protocol = default;
        offset = 0;
        fragmentHeaderOffset = -1;
        return false;
    }
}

/// <summary>A read/write view over an IPv6 Fragment extension header (RFC 8200 §4.5).</summary>
public readonly ref struct IPv6FragmentHeader
{
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                         Identification                        |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    private static class Field
    {
        public const int NextHeader = 0;
        public const int OffsetFlags = 2;
        public const int Identification = 4;
    }

    /// <summary>Length of the fragment header.</summary>
    public const int Length = 8;

    private readonly Span<byte> _buffer;

    private IPv6FragmentHeader(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view over at least 8 bytes.</summary>
    public static bool TryCreate(Span<byte> buffer, out IPv6FragmentHeader header)
    {
        header = default;
        if (buffer.Length < Length)
        {
            return false;
        }

        header = new IPv6FragmentHeader(buffer[..Length]);
        return true;
    }

    /// <summary>Creates a view without validation; for emission.</summary>
    public static IPv6FragmentHeader CreateUnchecked(Span<byte> buffer) => new(buffer);

    /// <summary>Type of the header after the fragmentable part.</summary>
    public IPProtocol NextHeader
    {
        get => (IPProtocol)_buffer[Field.NextHeader];
        set => _buffer[Field.NextHeader] = (byte)value;
    }

    /// <summary>Fragment offset in bytes (the field times 8).</summary>
    public int FragmentOffset
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.OffsetFlags..]) & 0xFFF8;
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.OffsetFlags..], (ushort)((value & 0xFFF8) | (MoreFragments ? 1 : 0)));
    }

    /// <summary>The M flag.</summary>
    public bool MoreFragments
    {
        get => (_buffer[Field.OffsetFlags + 1] & 1) != 0;
        set => _buffer[Field.OffsetFlags + 1] = (byte)((_buffer[Field.OffsetFlags + 1] & 0xFE) | (value ? 1 : 0));
    }

    /// <summary>Identification.</summary>
    public uint Identification
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_buffer[Field.Identification..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[Field.Identification..], value);
    }

    /// <summary>Writes a whole fragment header (reserved fields zero).</summary>
    public void Set(IPProtocol nextHeader, int fragmentOffset, bool moreFragments, uint identification)
    {
        _buffer[Field.NextHeader] = (byte)nextHeader;
        _buffer[Field.NextHeader + 1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.OffsetFlags..], (ushort)((fragmentOffset & 0xFFF8) | (moreFragments ? 1 : 0)));
        Identification = identification;
    }
}

/// <summary>The parsed form of the fixed IPv6 header.</summary>
public readonly record struct IPv6Header(
    IPv6Address Source,
    IPv6Address Destination,
    IPProtocol NextHeader,
    int PayloadLength,
    byte HopLimit = 64,
    byte TrafficClass = 0,
    uint FlowLabel = 0)
{
    /// <summary>Emitted header length (40).</summary>
    public int HeaderLength => IPv6Packet.HeaderLength;

    /// <summary>Parses the fixed header of a packet that passes <see cref="IPv6Packet.TryCreate"/>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> buffer, out IPv6Header header)
    {
        header = default;
        if (buffer.Length < IPv6Packet.HeaderLength)
        {
            return false;
        }

        Span<byte> copy = stackalloc byte[IPv6Packet.HeaderLength];
        buffer[..IPv6Packet.HeaderLength].CopyTo(copy);
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(copy[4..]);
        IPv6Packet p = IPv6Packet.CreateUnchecked(copy);
        if (p.Version != 6 || payloadLength > buffer.Length - IPv6Packet.HeaderLength
            || (payloadLength == 0 && p.NextHeader == IPProtocol.HopByHop))
        {
            return false;
        }

        header = new IPv6Header(p.Source, p.Destination, p.NextHeader, payloadLength, p.HopLimit, p.TrafficClass, p.FlowLabel);
        return true;
    }

    /// <summary>Writes the 40-byte header to the start of <paramref name="buffer"/>.</summary>
    public void Emit(Span<byte> buffer)
    {
        IPv6Packet p = IPv6Packet.CreateUnchecked(buffer[..IPv6Packet.HeaderLength]);
        BinaryPrimitives.WriteUInt32BigEndian(buffer, 0x6000_0000U | ((uint)TrafficClass << 20) | (FlowLabel & 0x000F_FFFFU));
        p.PayloadLength = (ushort)PayloadLength;
        p.NextHeader = NextHeader;
        p.HopLimit = HopLimit;
        p.Source = Source;
        p.Destination = Destination;
    }
}
