using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>A read/write view over an IPv4 packet (RFC 791).</summary>
/// <remarks>
/// <see cref="TryCreate"/> checks version, IHL and total length against the buffer, but not the checksum;
/// afterwards no accessor can read out of range. <see cref="Payload"/> ends at the total length, so link padding is excluded.
/// </remarks>
public readonly ref struct IPv4Packet
{
    //  0                   1                   2                   3
    //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |Version|  IHL  |Type of Service|          Total Length         |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |         Identification        |Flags|      Fragment Offset    |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |  Time to Live |    Protocol   |         Header Checksum       |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                       Source Address                          |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                    Destination Address                        |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                    Options                    |    Padding    |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    private static class Field
    {
        public const int VersionIhl = 0;
        public const int Tos = 1;
        public const int TotalLength = 2;
        public const int Identification = 4;
        public const int FlagsFragment = 6;
        public const int Ttl = 8;
        public const int Protocol = 9;
        public const int Checksum = 10;
        public const int Source = 12;
        public const int Destination = 16;
        public const int Options = 20;
    }

    private const ushort FlagDontFragment = 0x4000;
    private const ushort FlagMoreFragments = 0x2000;
    private const ushort FragmentOffsetMask = 0x1FFF;

    /// <summary>Length of a header without options.</summary>
    public const int MinimumHeaderLength = 20;

    /// <summary>Largest header length (IHL 15).</summary>
    public const int MaximumHeaderLength = 60;

    private readonly Span<byte> _buffer;

    private IPv4Packet(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view after checking version 4, IHL &gt;= 5, and IHL*4 &lt;= total length &lt;= buffer length.</summary>
    public static bool TryCreate(Span<byte> buffer, out IPv4Packet packet)
    {
        packet = default;
        if (buffer.Length < MinimumHeaderLength || (buffer[Field.VersionIhl] >> 4) != 4)
        {
            return false;
        }

        int headerLength = (buffer[Field.VersionIhl] & 0x0F) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(buffer[Field.TotalLength..]);
        if (headerLength < MinimumHeaderLength || headerLength > buffer.Length || totalLength < headerLength || totalLength > buffer.Length)
        {
            return false;
        }

        packet = new IPv4Packet(buffer);
        return true;
    }

    /// <summary>Creates a view without validation; for emission into a buffer the caller sized.</summary>
    public static IPv4Packet CreateUnchecked(Span<byte> buffer) => new(buffer);

    /// <summary>The whole underlying buffer, including any link padding after <see cref="TotalLength"/>.</summary>
    public Span<byte> Buffer => _buffer;

    /// <summary>IP version (4).</summary>
    public byte Version
    {
        get => (byte)(_buffer[Field.VersionIhl] >> 4);
        set => _buffer[Field.VersionIhl] = (byte)((value << 4) | (_buffer[Field.VersionIhl] & 0x0F));
    }

    /// <summary>Header length in bytes (IHL * 4); the setter takes bytes and must be a multiple of 4 in 20..60.</summary>
    public int HeaderLength
    {
        get => (_buffer[Field.VersionIhl] & 0x0F) * 4;
        set => _buffer[Field.VersionIhl] = (byte)((_buffer[Field.VersionIhl] & 0xF0) | ((value / 4) & 0x0F));
    }

    /// <summary>Type of service byte (DSCP and ECN).</summary>
    public byte Tos
    {
        get => _buffer[Field.Tos];
        set => _buffer[Field.Tos] = value;
    }

    /// <summary>The DSCP (upper six bits of TOS).</summary>
    public byte Dscp
    {
        get => (byte)(_buffer[Field.Tos] >> 2);
        set => _buffer[Field.Tos] = (byte)((value << 2) | (_buffer[Field.Tos] & 0x3));
    }

    /// <summary>The ECN codepoint (lower two bits of TOS, RFC 3168).</summary>
    public byte Ecn
    {
        get => (byte)(_buffer[Field.Tos] & 0x3);
        set => _buffer[Field.Tos] = (byte)((_buffer[Field.Tos] & 0xFC) | (value & 0x3));
    }

    /// <summary>Total length of header and payload.</summary>
    public ushort TotalLength
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.TotalLength..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.TotalLength..], value);
    }

    /// <summary>Identification.</summary>
    public ushort Identification
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.Identification..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.Identification..], value);
    }

    private ushort FlagsFragment
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.FlagsFragment..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.FlagsFragment..], value);
    }

    /// <summary>The DF flag.</summary>
    public bool DontFragment
    {
        get => (FlagsFragment & FlagDontFragment) != 0;
        set => FlagsFragment = (ushort)(value ? FlagsFragment | FlagDontFragment : FlagsFragment & ~FlagDontFragment);
    }

    /// <summary>The MF flag.</summary>
    public bool MoreFragments
    {
        get => (FlagsFragment & FlagMoreFragments) != 0;
        set => FlagsFragment = (ushort)(value ? FlagsFragment | FlagMoreFragments : FlagsFragment & ~FlagMoreFragments);
    }

    /// <summary>The reserved (evil) bit, RFC 3514.</summary>
    public bool ReservedFlag => (FlagsFragment & 0x8000) != 0;

    /// <summary>Fragment offset in bytes (the field times 8); the setter takes bytes and drops the low three bits.</summary>
    public int FragmentOffset
    {
        get => (FlagsFragment & FragmentOffsetMask) * 8;
        set => FlagsFragment = (ushort)((FlagsFragment & ~FragmentOffsetMask) | ((value / 8) & FragmentOffsetMask));
    }

    /// <summary>Sets DF, MF and the fragment offset (in bytes) at once; the reserved bit is cleared.</summary>
    public void SetFragment(bool dontFragment, bool moreFragments, int offsetBytes) =>
        FlagsFragment = (ushort)((dontFragment ? FlagDontFragment : 0) | (moreFragments ? FlagMoreFragments : 0) | ((offsetBytes / 8) & FragmentOffsetMask));

    /// <summary>True when MF is set or the fragment offset is non-zero.</summary>
    public bool IsFragment => (FlagsFragment & (FlagMoreFragments | FragmentOffsetMask)) != 0;

    /// <summary>Time to live.</summary>
    public byte Ttl
    {
        get => _buffer[Field.Ttl];
        set => _buffer[Field.Ttl] = value;
    }

    /// <summary>Upper-layer protocol.</summary>
    public IPProtocol Protocol
    {
        get => (IPProtocol)_buffer[Field.Protocol];
        set => _buffer[Field.Protocol] = (byte)value;
    }

    /// <summary>Header checksum as stored.</summary>
    public ushort HeaderChecksum
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.Checksum..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.Checksum..], value);
    }

    /// <summary>Source address.</summary>
    public IPv4Address Source
    {
        get => IPv4Address.Read(_buffer[Field.Source..]);
        set => value.WriteTo(_buffer[Field.Source..]);
    }

    /// <summary>Destination address.</summary>
    public IPv4Address Destination
    {
        get => IPv4Address.Read(_buffer[Field.Destination..]);
        set => value.WriteTo(_buffer[Field.Destination..]);
    }

    /// <summary>The header, options included.</summary>
    public Span<byte> Header => _buffer[..HeaderLength];

    /// <summary>The options (between byte 20 and the header length).</summary>
    public Span<byte> Options => _buffer[Field.Options..HeaderLength];

    /// <summary>The payload, from the header length up to the total length.</summary>
    public Span<byte> Payload => _buffer[HeaderLength..TotalLength];

    /// <summary>True when the header checksum is correct.</summary>
    public bool VerifyChecksum() => Checksum.Fold(Checksum.Add(Header)) == 0;

    /// <summary>Computes and stores the header checksum.</summary>
    public void FillChecksum()
    {
        HeaderChecksum = 0;
        HeaderChecksum = Checksum.Compute(Header);
    }
}

/// <summary>The parsed form of an IPv4 header without options.</summary>
public readonly record struct IPv4Header(
    IPv4Address Source,
    IPv4Address Destination,
    IPProtocol Protocol,
    int PayloadLength,
    byte Ttl = 64,
    byte Tos = 0,
    ushort Identification = 0,
    bool DontFragment = false)
{
    /// <summary>Emitted header length (20; options are not represented).</summary>
    public int HeaderLength => IPv4Packet.MinimumHeaderLength;

    /// <summary>More-fragments flag to emit.</summary>
    public bool MoreFragments { get; init; }

    /// <summary>Fragment offset in bytes to emit.</summary>
    public int FragmentOffset { get; init; }

    /// <summary>Parses a header whose checksum is valid; payload length is taken from the total length field.</summary>
    /// <remarks>Options, if present, are skipped and not represented.</remarks>
    public static bool TryParse(ReadOnlySpan<byte> buffer, out IPv4Header header)
    {
        header = default;
        Span<byte> copy = stackalloc byte[IPv4Packet.MaximumHeaderLength];
        if (buffer.Length < IPv4Packet.MinimumHeaderLength)
        {
            return false;
        }

        int headerLength = (buffer[0] & 0x0F) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);
        if ((buffer[0] >> 4) != 4 || headerLength < IPv4Packet.MinimumHeaderLength || headerLength > buffer.Length
            || totalLength < headerLength || totalLength > buffer.Length)
        {
            return false;
        }

        buffer[..headerLength].CopyTo(copy);
        IPv4Packet p = IPv4Packet.CreateUnchecked(copy[..headerLength]);
        if (!p.VerifyChecksum())
        {
            return false;
        }

        header = new IPv4Header(p.Source, p.Destination, p.Protocol, totalLength - headerLength, p.Ttl, p.Tos, p.Identification, p.DontFragment)
        {
            MoreFragments = p.MoreFragments,
            FragmentOffset = p.FragmentOffset,
        };
        return true;
    }

    /// <summary>Writes the 20-byte header, checksum included, to the start of <paramref name="buffer"/>.</summary>
    public void Emit(Span<byte> buffer)
    {
        IPv4Packet p = IPv4Packet.CreateUnchecked(buffer[..IPv4Packet.MinimumHeaderLength]);
        buffer[0] = 0x45;
        p.Tos = Tos;
        p.TotalLength = (ushort)(IPv4Packet.MinimumHeaderLength + PayloadLength);
        p.Identification = Identification;
        p.SetFragment(DontFragment, MoreFragments, FragmentOffset);
        p.Ttl = Ttl;
        p.Protocol = Protocol;
        p.Source = Source;
        p.Destination = Destination;
        p.FillChecksum();
    }
}
