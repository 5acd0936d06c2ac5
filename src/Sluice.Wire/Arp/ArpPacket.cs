using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>ARP operation codes (RFC 826).</summary>
public enum ArpOperation : ushort
{
    /// <summary>Request.</summary>
    Request = 1,
    /// <summary>Reply.</summary>
    Reply = 2,
}

/// <summary>A read/write view over an Ethernet/IPv4 ARP packet (RFC 826).</summary>
/// <remarks>Only hardware type 1, protocol type 0x0800, hlen 6, plen 4 are accepted.</remarks>
public readonly ref struct ArpPacket
{
    //  0                   1                   2                   3
    //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |         Hardware Type         |         Protocol Type         |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |  HLEN (6)     |   PLEN (4)    |           Operation           |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |              Sender Hardware Address (6 bytes)                |
    // +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                               |  Sender Protocol Address      |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |  (cont.)                      |                               |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
    // |              Target Hardware Address (6 bytes)                |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                   Target Protocol Address                     |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    private static class Field
    {
        public const int HardwareType = 0;
        public const int ProtocolType = 2;
        public const int HardwareLength = 4;
        public const int ProtocolLength = 5;
        public const int Operation = 6;
        public const int SenderHardwareAddress = 8;
        public const int SenderProtocolAddress = 14;
        public const int TargetHardwareAddress = 18;
        public const int TargetProtocolAddress = 24;
    }

    /// <summary>Length of an Ethernet/IPv4 ARP packet.</summary>
    public const int Length = 28;

    /// <summary>Hardware type for Ethernet.</summary>
    public const ushort HardwareTypeEthernet = 1;

    private readonly Span<byte> _buffer;

    private ArpPacket(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view when the buffer holds a complete Ethernet/IPv4 ARP packet.</summary>
    public static bool TryCreate(Span<byte> buffer, out ArpPacket packet)
    {
        packet = default;
        if (buffer.Length < Length
            || BinaryPrimitives.ReadUInt16BigEndian(buffer[Field.HardwareType..]) != HardwareTypeEthernet
            || BinaryPrimitives.ReadUInt16BigEndian(buffer[Field.ProtocolType..]) != (ushort)EtherType.IPv4
            || buffer[Field.HardwareLength] != MacAddress.Length
            || buffer[Field.ProtocolLength] != IPv4Address.Length)
        {
            return false;
        }

        packet = new ArpPacket(buffer[..Length]);
        return true;
    }

    /// <summary>Creates a view without validation; for emission into a buffer of at least <see cref="Length"/> bytes.</summary>
    public static ArpPacket CreateUnchecked(Span<byte> buffer) => new(buffer);

    /// <summary>Hardware type (1 for Ethernet).</summary>
    public ushort HardwareType
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.HardwareType..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.HardwareType..], value);
    }

    /// <summary>Protocol type (0x0800 for IPv4).</summary>
    public EtherType ProtocolType
    {
        get => (EtherType)BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.ProtocolType..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.ProtocolType..], (ushort)value);
    }

    /// <summary>Hardware address length.</summary>
    public byte HardwareLength
    {
        get => _buffer[Field.HardwareLength];
        set => _buffer[Field.HardwareLength] = value;
    }

    /// <summary>Protocol address length.</summary>
    public byte ProtocolLength
    {
        get => _buffer[Field.ProtocolLength];
        set => _buffer[Field.ProtocolLength] = value;
    }

    /// <summary>Operation (request or reply; other values pass through).</summary>
    public ArpOperation Operation
    {
        get => (ArpOperation)BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.Operation..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.Operation..], (ushort)value);
    }

    /// <summary>Sender hardware address.</summary>
    public MacAddress SenderHardwareAddress
    {
        get => MacAddress.Read(_buffer[Field.SenderHardwareAddress..]);
        set => value.WriteTo(_buffer[Field.SenderHardwareAddress..]);
    }

    /// <summary>Sender protocol address.</summary>
    public IPv4Address SenderProtocolAddress
    {
        get => IPv4Address.Read(_buffer[Field.SenderProtocolAddress..]);
        set => value.WriteTo(_buffer[Field.SenderProtocolAddress..]);
    }

    /// <summary>Target hardware address.</summary>
    public MacAddress TargetHardwareAddress
    {
        get => MacAddress.Read(_buffer[Field.TargetHardwareAddress..]);
        set => value.WriteTo(_buffer[Field.TargetHardwareAddress..]);
    }

    /// <summary>Target protocol address.</summary>
    public IPv4Address TargetProtocolAddress
    {
        get => IPv4Address.Read(_buffer[Field.TargetProtocolAddress..]);
        set => value.WriteTo(_buffer[Field.TargetProtocolAddress..]);
    }
}

/// <summary>The parsed form of an Ethernet/IPv4 ARP packet.</summary>
public readonly record struct ArpRepr(
    ArpOperation Operation,
    MacAddress SenderHardwareAddress,
    IPv4Address SenderProtocolAddress,
    MacAddress TargetHardwareAddress,
    IPv4Address TargetProtocolAddress)
{
    /// <summary>Length of the emitted packet.</summary>
    public int Length => ArpPacket.Length;

    /// <summary>Parses an Ethernet/IPv4 ARP packet.</summary>
    public static bool TryParse(ReadOnlySpan<byte> buffer, out ArpRepr repr)
    {
        repr = default;
        Span<byte> copy = stackalloc byte[ArpPacket.Length];
        if (buffer.Length < ArpPacket.Length)
        {
            return false;
        }

        buffer[..ArpPacket.Length].CopyTo(copy);
        if (!ArpPacket.TryCreate(copy, out ArpPacket p))
        {
            return false;
        }

        repr = new ArpRepr(p.Operation, p.SenderHardwareAddress, p.SenderProtocolAddress, p.TargetHardwareAddress, p.TargetProtocolAddress);
        return true;
    }

    /// <summary>Writes the 28-byte packet to the start of <paramref name="buffer"/>.</summary>
    public void Emit(Span<byte> buffer)
    {
        ArpPacket p = ArpPacket.CreateUnchecked(buffer[..ArpPacket.Length]);
        p.HardwareType = ArpPacket.HardwareTypeEthernet;
        p.ProtocolType = EtherType.IPv4;
        p.HardwareLength = MacAddress.Length;
        p.ProtocolLength = IPv4Address.Length;
        p.Operation = Operation;
        p.SenderHardwareAddress = SenderHardwareAddress;
        p.SenderProtocolAddress = SenderProtocolAddress;
        p.TargetHardwareAddress = TargetHardwareAddress;
        p.TargetProtocolAddress = TargetProtocolAddress;
    }
}
