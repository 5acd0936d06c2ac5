using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>ICMPv4 message types (RFC 792, RFC 1256).</summary>
public enum IcmpV4Type : byte
{
    /// <summary>Echo reply.</summary>
    EchoReply = 0,
    /// <summary>Destination unreachable.</summary>
    DestinationUnreachable = 3,
    /// <summary>Source quench (deprecated).</summary>
    SourceQuench = 4,
    /// <summary>Redirect.</summary>
    Redirect = 5,
    /// <summary>Echo request.</summary>
    Echo = 8,
    /// <summary>Router advertisement.</summary>
    RouterAdvertisement = 9,
    /// <summary>Router solicitation.</summary>
    RouterSolicitation = 10,
    /// <summary>Time exceeded.</summary>
    TimeExceeded = 11,
    /// <summary>Parameter problem.</summary>
    ParameterProblem = 12,
    /// <summary>Timestamp request.</summary>
    Timestamp = 13,
    /// <summary>Timestamp reply.</summary>
    TimestampReply = 14,
}

/// <summary>Codes of ICMPv4 destination unreachable (RFC 792, RFC 1122, RFC 1812).</summary>
public enum IcmpV4Unreachable : byte
{
    /// <summary>Network unreachable.</summary>
    Net = 0,
    /// <summary>Host unreachable.</summary>
    Host = 1,
    /// <summary>Protocol unreachable.</summary>
    Protocol = 2,
    /// <summary>Port unreachable.</summary>
    Port = 3,
    /// <summary>Fragmentation needed and DF set.</summary>
    FragmentationNeeded = 4,
    /// <summary>Source route failed.</summary>
    SourceRouteFailed = 5,
    /// <summary>Destination network unknown.</summary>
    NetUnknown = 6,
    /// <summary>Destination host unknown.</summary>
    HostUnknown = 7,
    /// <summary>Source host isolated.</summary>
    Isolated = 8,
    /// <summary>Network administratively prohibited.</summary>
    NetProhibited = 9,
    /// <summary>Host administratively prohibited.</summary>
    HostProhibited = 10,
    /// <summary>Network unreachable for TOS.</summary>
    TosNet = 11,
    /// <summary>Host unreachable for TOS.</summary>
    TosHost = 12,
    /// <summary>Communication administratively prohibited (filter).</summary>
    AdminProhibited = 13,
    /// <summary>Host precedence violation.</summary>
    HostPrecedence = 14,
    /// <summary>Precedence cutoff in effect.</summary>
    PrecedenceCutoff = 15,
}

/// <summary>Codes of ICMPv4 time exceeded.</summary>
public enum IcmpV4TimeExceeded : byte
{
    /// <summary>TTL exceeded in transit.</summary>
    TtlExceeded = 0,
    /// <summary>Fragment reassembly time exceeded.</summary>
    ReassemblyTimeExceeded = 1,
}

/// <summary>A read/write view over an ICMPv4 message (RFC 792).</summary>
public readonly ref struct IcmpV4Packet
{
    //  0                   1                   2                   3
    //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |     Type      |     Code      |          Checksum             |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |   Identifier / unused / Ptr   |  Sequence / Next-Hop MTU      |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |     Data (echo) or internet header + 64 bits of original      |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    private static class Field
    {
        public const int Type = 0;
        public const int Code = 1;
        public const int Checksum = 2;
        public const int Identifier = 4;
        public const int Pointer = 4;
        public const int Gateway = 4;
        public const int SequenceNumber = 6;
        public const int NextHopMtu = 6;
        public const int Body = 8;
    }

    /// <summary>Length of the fixed header.</summary>
    public const int HeaderLength = 8;

    private readonly Span<byte> _buffer;

    private IcmpV4Packet(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view over a message of at least 8 bytes; the whole buffer is the message.</summary>
    public static bool TryCreate(Span<byte> buffer, out IcmpV4Packet packet)
    {
        packet = default;
        if (buffer.Length < HeaderLength)
        {
            return false;
        }

        packet = new IcmpV4Packet(buffer);
        return true;
    }

    /// <summary>Creates a view without validation; for emission.</summary>
    public static IcmpV4Packet CreateUnchecked(Span<byte> buffer) => new(buffer);

    /// <summary>The whole message.</summary>
    public Span<byte> Buffer => _buffer;

    /// <summary>Message type.</summary>
    public IcmpV4Type Type
    {
        get => (IcmpV4Type)_buffer[Field.Type];
        set => _buffer[Field.Type] = (byte)value;
    }

    /// <summary>Message code.</summary>
    public byte Code
    {
        get => _buffer[Field.Code];
        set => _buffer[Field.Code] = value;
    }

    /// <summary>Checksum as stored.</summary>
    public ushort Checksum
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.Checksum..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.Checksum..], value);
    }

    /// <summary>Echo identifier (bytes 4-5).</summary>
    public ushort Identifier
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.Identifier..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.Identifier..], value);
    }

    /// <summary>Echo sequence number (bytes 6-7).</summary>
    public ushort SequenceNumber
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.SequenceNumber..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.SequenceNumber..], value);
    }

    /// <summary>Next-hop MTU of "fragmentation needed" (RFC 1191, bytes 6-7).</summary>
    public ushort NextHopMtu
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.NextHopMtu..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.NextHopMtu..], value);
    }

    /// <summary>Parameter problem pointer (byte 4).</summary>
    public byte Pointer
    {
        get => _buffer[Field.Pointer];
        set => _buffer[Field.Pointer] = value;
    }

    /// <summary>Redirect gateway address (bytes 4-7).</summary>
    public IPv4Address Gateway
    {
        get => IPv4Address.Read(_buffer[Field.Gateway..]);
        set => value.WriteTo(_buffer[Field.Gateway..]);
    }

    /// <summary>The 32-bit rest-of-header word (bytes 4-7).</summary>
    public uint RestOfHeader
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_buffer[Field.Identifier..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[Field.Identifier..], value);
    }

    /// <summary>Everything after the 8-byte header: echo data, or the quoted IP header and 8 bytes.</summary>
    public Span<byte> Body => _buffer[Field.Body..];

    /// <summary>True for the error types whose body quotes an offending datagram.</summary>
    public bool IsError => Type is IcmpV4Type.DestinationUnreachable or IcmpV4Type.SourceQuench or IcmpV4Type.Redirect
        or IcmpV4Type.TimeExceeded or IcmpV4Type.ParameterProblem;

    /// <summary>True when the checksum over the whole message is correct.</summary>
    public bool VerifyChecksum() => Sluice.Wire.Checksum.Compute(_buffer) == 0;

    /// <summary>Computes and stores the checksum over the whole message.</summary>
    public void FillChecksum()
    {
        Checksum = 0;
        Checksum = Sluice.Wire.Checksum.Compute(_buffer);
    }
}
