using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>ICMPv6 message types (RFC 4443, RFC 4861, RFC 2710, RFC 3810).</summary>
public enum IcmpV6Type : byte
{
    /// <summary>Destination unreachable.</summary>
    DestinationUnreachable = 1,
    /// <summary>Packet too big.</summary>
    PacketTooBig = 2,
    /// <summary>Time exceeded.</summary>
    TimeExceeded = 3,
    /// <summary>Parameter problem.</summary>
    ParameterProblem = 4,
    /// <summary>Echo request.</summary>
    EchoRequest = 128,
    /// <summary>Echo reply.</summary>
    EchoReply = 129,
    /// <summary>MLD query.</summary>
    MulticastListenerQuery = 130,
    /// <summary>MLDv1 report.</summary>
    MulticastListenerReport = 131,
    /// <summary>MLDv1 done.</summary>
    MulticastListenerDone = 132,
    /// <summary>Router solicitation.</summary>
    RouterSolicitation = 133,
    /// <summary>Router advertisement.</summary>
    RouterAdvertisement = 134,
    /// <summary>Neighbor solicitation.</summary>
    NeighborSolicitation = 135,
    /// <summary>Neighbor advertisement.</summary>
    NeighborAdvertisement = 136,
    /// <summary>Redirect.</summary>
    Redirect = 137,
    /// <summary>MLDv2 report.</summary>
    MulticastListenerReportV2 = 143,
}

/// <summary>Codes of ICMPv6 destination unreachable (RFC 4443 §3.1).</summary>
public enum IcmpV6Unreachable : byte
{
    /// <summary>No route to destination.</summary>
    NoRoute = 0,
    /// <summary>Communication administratively prohibited.</summary>
    AdminProhibited = 1,
    /// <summary>Beyond scope of source address.</summary>
    BeyondScope = 2,
    /// <summary>Address unreachable.</summary>
    Address = 3,
    /// <summary>Port unreachable.</summary>
    Port = 4,
    /// <summary>Source address failed ingress/egress policy.</summary>
    PolicyFailed = 5,
    /// <summary>Reject route to destination.</summary>
    RejectRoute = 6,
}

/// <summary>A read/write view over an ICMPv6 message (RFC 4443).</summary>
public readonly ref struct IcmpV6Packet
{
    //  0                   1                   2                   3
    //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |     Type      |     Code      |          Checksum             |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |  Identifier / MTU / Pointer   |       Sequence Number         |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                         Message Body                          |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    private static class Field
    {
        public const int Type = 0;
        public const int Code = 1;
        public const int Checksum = 2;
        public const int Identifier = 4;
        public const int Mtu = 4;
        public const int Pointer = 4;
        public const int SequenceNumber = 6;
        public const int Body = 8;
    }

    /// <summary>Length of the fixed header.</summary>
    public const int HeaderLength = 8;

    private readonly Span<byte> _buffer;

    private IcmpV6Packet(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view over a message of at least 8 bytes; the whole buffer is the message.</summary>
    public static bool TryCreate(Span<byte> buffer, out IcmpV6Packet packet)
    {
        packet = default;
        if (buffer.Length < HeaderLength)
        {
            return false;
        }

        packet = new IcmpV6Packet(buffer);
        return true;
    }

    /// <summary>Creates a view without validation; for emission.</summary>
    public static IcmpV6Packet CreateUnchecked(Span<byte> buffer) => new(buffer);

    /// <summary>The whole message.</summary>
    public Span<byte> Buffer => _buffer;

    /// <summary>Message type.</summary>
    public IcmpV6Type Type
    {
        get => (IcmpV6Type)_buffer[Field.Type];
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

    /// <summary>Echo identifier.</summary>
    public ushort Identifier
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.Identifier..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.Identifier..], value);
    }

    /// <summary>Echo sequence number.</summary>
    public ushort SequenceNumber
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.SequenceNumber..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.SequenceNumber..], value);
    }

    /// <summary>MTU of a packet-too-big message.</summary>
    public uint Mtu
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_buffer[Field.Mtu..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[Field.Mtu..], value);
    }

    /// <summary>Pointer of a parameter-problem message.</summary>
    public uint Pointer
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_buffer[Field.Pointer..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[Field.Pointer..], value);
    }

    /// <summary>Everything after the 8-byte header.</summary>
    public Span<byte> Body => _buffer[Field.Body..];

    /// <summary>True for error messages (types below 128).</summary>
    public bool IsError => (byte)Type < 128;

    /// <summary>True when the checksum over the IPv6 pseudo header and the whole message is correct.</summary>
    public bool VerifyChecksum(IPv6Address source, IPv6Address destination) =>
        Sluice.Wire.Checksum.Fold(Sluice.Wire.Checksum.Add(_buffer, Sluice.Wire.Checksum.PseudoHeaderV6(source, destination, IPProtocol.IcmpV6, _buffer.Length))) == 0;

    /// <summary>Computes and stores the checksum over the IPv6 pseudo header and the whole message.</summary>
    public void FillChecksum(IPv6Address source, IPv6Address destination)
    {
        Checksum = 0;
        Checksum = Sluice.Wire.Checksum.Fold(Sluice.Wire.Checksum.Add(_buffer, Sluice.Wire.Checksum.PseudoHeaderV6(source, destination, IPProtocol.IcmpV6, _buffer.Length)));
    }
}
