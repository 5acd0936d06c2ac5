using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>Neighbor discovery option types (RFC 4861 §4.6).</summary>
public enum NdpOptionType : byte
{
    /// <summary>Source link-layer address.</summary>
    SourceLinkLayerAddress = 1,
    /// <summary>Target link-layer address.</summary>
    TargetLinkLayerAddress = 2,
    /// <summary>Prefix information.</summary>
    PrefixInformation = 3,
    /// <summary>Redirected header.</summary>
    RedirectedHeader = 4,
    /// <summary>MTU.</summary>
    Mtu = 5,
    /// <summary>Recursive DNS server (RFC 8106).</summary>
    RecursiveDnsServer = 25,
}

/// <summary>Enumerates neighbor discovery options with strict bounds; a zero or overlong length stops it as malformed.</summary>
public ref struct NdpOptionReader
{
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |     Type      |    Length     |              ...              |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // Length is in units of 8 octets, including type and length.
    private Span<byte> _remaining;

    /// <summary>Creates a reader over the options area of an ND message.</summary>
    public NdpOptionReader(Span<byte> options)
    {
        _remaining = options;
        IsMalformed = false;
    }

    /// <summary>True once an option with length 0 or running past the end was met (RFC 4861 §4.6: such packets are discarded).</summary>
    public bool IsMalformed { get; private set; }

    /// <summary>Reads the next option; <paramref name="data"/> is the option without its 2-byte type/length prefix.</summary>
    /// <returns>False at the end or when malformed (see <see cref="IsMalformed"/>).</returns>
    public bool TryReadNext(out NdpOptionType type, out Span<byte> data)
    {
        type = default;
        data = default;
        if (IsMalformed || _remaining.Length == 0)
        {
            return false;
        }

        if (_remaining.Length < 2)
        {
            IsMalformed = true;
            return false;
        }

        int length = _remaining[1] * 8;
        if (length == 0 || length > _remaining.Length)
        {
            IsMalformed = true;
            return false;
        }

        type = (NdpOptionType)_remaining[0];
        data = _remaining[2..length];
        _remaining = _remaining[length..];
        return true;
    }

    /// <summary>True when every option is well-formed.</summary>
    public static bool Validate(Span<byte> options)
    {
        var reader = new NdpOptionReader(options);
        while (reader.TryReadNext(out _, out _))
        {
        }

        return !reader.IsMalformed;
    }

    /// <summary>Finds the first link-layer address option of the given type in well-formed options.</summary>
    public static bool TryGetLinkLayerAddress(Span<byte> options, NdpOptionType type, out MacAddress address)
    {
        address = default;
        bool found = false;
        var reader = new NdpOptionReader(options);
        while (reader.TryReadNext(out NdpOptionType t, out Span<byte> data))
        {
            if (!found && t == type && data.Length >= MacAddress.Length)
            {
                address = MacAddress.Read(data);
                found = true;
            }
        }

        if (reader.IsMalformed)
        {
            address = default;
            return false;
        }

        return found;
    }

    /// <summary>Writes a link-layer address option (8 bytes) and returns its length.</summary>
    public static int WriteLinkLayerAddress(Span<byte> buffer, NdpOptionType type, MacAddress address)
    {
        buffer[0] = (byte)type;
        buffer[1] = 1;
        address.WriteTo(buffer[2..8]);
        return 8;
    }
}

/// <summary>A read/write view over a Neighbor Solicitation or Advertisement (RFC 4861 §4.3, §4.4).</summary>
public readonly ref struct NdpNeighborMessage
{
    //  0                   1                   2                   3
    //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |     Type      |     Code      |          Checksum             |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |R|S|O|                     Reserved                            |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                                                               |
    // +                       Target Address                          +
    // |                                                               |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |   Options ...
    // +-+-+-+-+-+-+-+-+-+-+-+-+-
    private static class Field
    {
        public const int Flags = 4;
        public const int Target = 8;
        public const int Options = 24;
    }

    private const byte RouterFlag = 0x80;
    private const byte SolicitedFlag = 0x40;
    private const byte OverrideFlag = 0x20;

    /// <summary>Length without options.</summary>
    public const int HeaderLength = 24;

    private readonly Span<byte> _buffer;

    private NdpNeighborMessage(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view over an NS or NA of at least 24 bytes (options are checked lazily by the reader).</summary>
    public static bool TryCreate(Span<byte> icmpMessage, out NdpNeighborMessage message)
    {
        message = default;
        if (icmpMessage.Length < HeaderLength
            || icmpMessage[0] is not ((byte)IcmpV6Type.NeighborSolicitation or (byte)IcmpV6Type.NeighborAdvertisement))
        {
            return false;
        }

        message = new NdpNeighborMessage(icmpMessage);
        return true;
    }

    /// <summary>Creates a view without validation; for emission.</summary>
    public static NdpNeighborMessage CreateUnchecked(Span<byte> icmpMessage) => new(icmpMessage);

    /// <summary>Solicitation or advertisement.</summary>
    public IcmpV6Type Type => (IcmpV6Type)_buffer[0];

    /// <summary>The target address.</summary>
    public IPv6Address TargetAddress
    {
        get => IPv6Address.Read(_buffer[Field.Target..]);
        set => value.WriteTo(_buffer[Field.Target..]);
    }

    /// <summary>The R flag of an NA.</summary>
    public bool Router
    {
        get => (_buffer[Field.Flags] & RouterFlag) != 0;
        set => SetFlag(RouterFlag, value);
    }

    /// <summary>The S flag of an NA.</summary>
    public bool Solicited
    {
        get => (_buffer[Field.Flags] & SolicitedFlag) != 0;
        set => SetFlag(SolicitedFlag, value);
    }

    /// <summary>The O flag of an NA.</summary>
    public bool Override
    {
        get => (_buffer[Field.Flags] & OverrideFlag) != 0;
        set => SetFlag(OverrideFlag, value);
    }

    /// <summary>The options area.</summary>
    public Span<byte> Options => _buffer[Field.Options..];

    /// <summary>A reader over the options.</summary>
    public NdpOptionReader GetOptionReader() => new(Options);

    /// <summary>Finds a link-layer address option; false when absent or when the options are malformed.</summary>
    public bool TryGetLinkLayerAddress(NdpOptionType type, out MacAddress address) =>
        NdpOptionReader.TryGetLinkLayerAddress(Options, type, out address);

    private void SetFlag(byte flag, bool value) =>
        _buffer[Field.Flags] = (byte)(value ? _buffer[Field.Flags] | flag : _buffer[Field.Flags] & ~flag);
}

/// <summary>The parsed form of a Neighbor Solicitation or Advertisement with an optional link-layer address option.</summary>
public readonly record struct NdpNeighborRepr(
    IcmpV6Type Type,
    IPv6Address Target,
    bool Router,
    bool Solicited,
    bool Override,
    MacAddress? LinkLayerAddress)
{
    /// <summary>Length of the emitted ICMPv6 message.</summary>
    public int Length => NdpNeighborMessage.HeaderLength + (LinkLayerAddress.HasValue ? 8 : 0);

    /// <summary>Parses an NS/NA; the link-layer option looked for is source for NS and target for NA.</summary>
    public static bool TryParse(ReadOnlySpan<byte> icmpMessage, out NdpNeighborRepr repr)
    {
        repr = default;
        if (icmpMessage.Length < NdpNeighborMessage.HeaderLength || icmpMessage.Length > 1500)
        {
            return false;
        }

        Span<byte> copy = stackalloc byte[icmpMessage.Length];
        icmpMessage.CopyTo(copy);
        if (!NdpNeighborMessage.TryCreate(copy, out NdpNeighborMessage m) || !NdpOptionReader.Validate(m.Options))
        {
            return false;
        }

        NdpOptionType want = m.Type == IcmpV6Type.NeighborSolicitation ? NdpOptionType.SourceLinkLayerAddress : NdpOptionType.TargetLinkLayerAddress;
        MacAddress? lla = m.TryGetLinkLayerAddress(want, out MacAddress mac) ? mac : null;
        repr = new NdpNeighborRepr(m.Type, m.TargetAddress, m.Router, m.Solicited, m.Override, lla);
        return true;
    }

    /// <summary>Writes the message with a zero checksum; fill it with <see cref="IcmpV6Packet.FillChecksum"/>.</summary>
    public void Emit(Span<byte> icmpMessage)
    {
        Span<byte> b = icmpMessage[..Length];
        b.Clear();
        b[0] = (byte)Type;
        NdpNeighborMessage m = NdpNeighborMessage.CreateUnchecked(b);
        m.Router = Router;
        m.Solicited = Solicited;
        m.Override = Override;
        m.TargetAddress = Target;
        if (LinkLayerAddress is MacAddress mac)
        {
            NdpOptionReader.WriteLinkLayerAddress(
                b[NdpNeighborMessage.HeaderLength..],
                Type == IcmpV6Type.NeighborSolicitation ? NdpOptionType.SourceLinkLayerAddress : NdpOptionType.TargetLinkLayerAddress,
                mac);
        }
    }
}

/// <summary>A read-only view over a Router Solicitation (RFC 4861 §4.1).</summary>
public readonly ref struct NdpRouterSolicitation
{
    private const int OptionsOffset = 8;

    private readonly Span<byte> _buffer;

    private NdpRouterSolicitation(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view over an RS of at least 8 bytes.</summary>
    public static bool TryCreate(Span<byte> icmpMessage, out NdpRouterSolicitation message)
    {
        message = default;
        if (icmpMessage.Length < OptionsOffset || icmpMessage[0] != (byte)IcmpV6Type.RouterSolicitation)
        {
            return false;
        }

        message = new NdpRouterSolicitation(icmpMessage);
        return true;
    }

    /// <summary>The options area.</summary>
    public Span<byte> Options => _buffer[OptionsOffset..];

    /// <summary>A reader over the options.</summary>
    public NdpOptionReader GetOptionReader() => new(Options);
}

/// <summary>A read/write view over a Router Advertisement (RFC 4861 §4.2).</summary>
public readonly ref struct NdpRouterAdvertisement
{
    //  0                   1                   2                   3
    //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |     Type      |     Code      |          Checksum             |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // | Cur Hop Limit |M|O|  Reserved |       Router Lifetime         |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                         Reachable Time                        |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                          Retrans Timer                        |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |   Options ...
    private static class Field
    {
        public const int CurHopLimit = 4;
        public const int Flags = 5;
        public const int RouterLifetime = 6;
        public const int ReachableTime = 8;
        public const int RetransTimer = 12;
        public const int Options = 16;
    }

    /// <summary>Length without options.</summary>
    public const int HeaderLength = 16;

    private readonly Span<byte> _buffer;

    private NdpRouterAdvertisement(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view over an RA of at least 16 bytes.</summary>
    public static bool TryCreate(Span<byte> icmpMessage, out NdpRouterAdvertisement message)
    {
        message = default;
        if (icmpMessage.Length < HeaderLength || icmpMessage[0] != (byte)IcmpV6Type.RouterAdvertisement)
        {
            return false;
        }

        message = new NdpRouterAdvertisement(icmpMessage);
        return true;
    }

    /// <summary>Creates a view without validation; for emission.</summary>
    public static NdpRouterAdvertisement CreateUnchecked(Span<byte> icmpMessage) => new(icmpMessage);

    /// <summary>Hop limit hosts should use (0 = unspecified).</summary>
    public byte CurrentHopLimit
    {
        get => _buffer[Field.CurHopLimit];
        set => _buffer[Field.CurHopLimit] = value;
    }

    /// <summary>The M (managed address configuration) flag.</summary>
    public bool Managed
    {
        get => (_buffer[Field.Flags] & 0x80) != 0;
        set => _buffer[Field.Flags] = (byte)(value ? _buffer[Field.Flags] | 0x80 : _buffer[Field.Flags] & ~0x80);
    }

    /// <summary>The O (other configuration) flag.</summary>
    public bool OtherConfiguration
    {
        get => (_buffer[Field.Flags] & 0x40) != 0;
        set => _buffer[Field.Flags] = (byte)(value ? _buffer[Field.Flags] | 0x40 : _buffer[Field.Flags] & ~0x40);
    }

    /// <summary>The raw flags byte.</summary>
    public byte Flags
    {
        get => _buffer[Field.Flags];
        set => _buffer[Field.Flags] = value;
    }

    /// <summary>Router lifetime in seconds.</summary>
    public ushort RouterLifetime
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.RouterLifetime..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.RouterLifetime..], value);
    }

    /// <summary>Reachable time in milliseconds.</summary>
    public uint ReachableTime
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_buffer[Field.ReachableTime..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[Field.ReachableTime..], value);
    }

    /// <summary>Retransmission timer in milliseconds.</summary>
    public uint RetransTimer
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_buffer[Field.RetransTimer..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[Field.RetransTimer..], value);
    }

    /// <summary>The options area.</summary>
    public Span<byte> Options => _buffer[Field.Options..];

    /// <summary>A reader over the options.</summary>
    public NdpOptionReader GetOptionReader() => new(Options);
}

/// <summary>A read-only view over the data of a Prefix Information option (RFC 4861 §4.6.2), after its type/length bytes.</summary>
public readonly ref struct NdpPrefixInformation
{
    private static class Field
    {
        public const int PrefixLength = 0;
        public const int Flags = 1;
        public const int ValidLifetime = 2;
        public const int PreferredLifetime = 6;
        public const int Prefix = 14;
    }

    /// <summary>Length of the option data (32 bytes minus type and length).</summary>
    public const int DataLength = 30;

    private readonly Span<byte> _data;

    private NdpPrefixInformation(Span<byte> data) => _data = data;

    /// <summary>Creates a view over option data of at least 30 bytes.</summary>
    public static bool TryCreate(Span<byte> optionData, out NdpPrefixInformation option)
    {
        option = default;
        if (optionData.Length < DataLength)
        {
            return false;
        }

        option = new NdpPrefixInformation(optionData);
        return true;
    }

    /// <summary>Prefix length in bits.</summary>
    public byte PrefixLength => _data[Field.PrefixLength];

    /// <summary>The L (on-link) flag.</summary>
    public bool OnLink => (_data[Field.Flags] & 0x80) != 0;

    /// <summary>The A (autonomous address configuration) flag.</summary>
    public bool Autonomous => (_data[Field.Flags] & 0x40) != 0;

    /// <summary>Valid lifetime in seconds (0xffffffff = infinity).</summary>
    public uint ValidLifetime => BinaryPrimitives.ReadUInt32BigEndian(_data[Field.ValidLifetime..]);

    /// <summary>Preferred lifetime in seconds.</summary>
    public uint PreferredLifetime => BinaryPrimitives.ReadUInt32BigEndian(_data[Field.PreferredLifetime..]);

    /// <summary>The prefix.</summary>
    public IPv6Address Prefix => IPv6Address.Read(_data[Field.Prefix..]);
}
