using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>A read/write view over an Ethernet II frame without FCS, optionally carrying one IEEE 802.1Q tag.</summary>
/// <remarks>After <see cref="TryCreate"/> succeeds no accessor can read out of range.</remarks>
public readonly ref struct EthernetFrame
{
    //  0                   1                   2                   3
    //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                  Destination MAC (6 bytes)                    |
    // +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |                               |                               |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
    // |                     Source MAC (6 bytes)                      |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |   EtherType / TPID 0x8100     |  PCP|D|   VLAN ID (if tagged) |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |   Inner EtherType (if tagged) |   Payload ...
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    private static class Field
    {
        public const int Destination = 0;
        public const int Source = 6;
        public const int Type = 12;
        public const int VlanTci = 14;
        public const int InnerType = 16;
    }

    /// <summary>Header length of an untagged frame.</summary>
    public const int HeaderLengthUntagged = 14;

    /// <summary>Header length of a frame with one 802.1Q tag.</summary>
    public const int HeaderLengthTagged = 18;

    /// <summary>Minimum frame length on the wire without FCS.</summary>
    public const int MinimumFrameLength = 60;

    private readonly Span<byte> _buffer;

    private EthernetFrame(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view after checking that the header (including any VLAN tag) fits.</summary>
    public static bool TryCreate(Span<byte> buffer, out EthernetFrame frame)
    {
        frame = default;
        if (buffer.Length < HeaderLengthUntagged)
        {
            return false;
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(buffer[Field.Type..]) == (ushort)EtherType.Vlan && buffer.Length < HeaderLengthTagged)
        {
            return false;
        }

        frame = new EthernetFrame(buffer);
        return true;
    }

    /// <summary>Creates a view without validation; for emission into a buffer the caller sized.</summary>
    public static EthernetFrame CreateUnchecked(Span<byte> buffer) => new(buffer);

    /// <summary>The whole frame.</summary>
    public Span<byte> Buffer => _buffer;

    /// <summary>Destination MAC address.</summary>
    public MacAddress Destination
    {
        get => MacAddress.Read(_buffer[Field.Destination..]);
        set => value.WriteTo(_buffer[Field.Destination..]);
    }

    /// <summary>Source MAC address.</summary>
    public MacAddress Source
    {
        get => MacAddress.Read(_buffer[Field.Source..]);
        set => value.WriteTo(_buffer[Field.Source..]);
    }

    /// <summary>True when the outer type is 802.1Q (0x8100).</summary>
    public bool HasVlanTag => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.Type..]) == (ushort)EtherType.Vlan;

    /// <summary>14, or 18 when tagged.</summary>
    public int HeaderLength => HasVlanTag ? HeaderLengthTagged : HeaderLengthUntagged;

    /// <summary>The type of the payload, after the 802.1Q tag if present.</summary>
    public EtherType EtherType
    {
        get => (EtherType)BinaryPrimitives.ReadUInt16BigEndian(_buffer[(HasVlanTag ? Field.InnerType : Field.Type)..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[(HasVlanTag ? Field.InnerType : Field.Type)..], (ushort)value);
    }

    /// <summary>The outer type/TPID field as found at offset 12.</summary>
    public EtherType OuterEtherType
    {
        get => (EtherType)BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.Type..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.Type..], (ushort)value);
    }

    /// <summary>The 12-bit VLAN ID, 0 when untagged.</summary>
    /// <exception cref="InvalidOperationException">Setting on an untagged frame.</exception>
    public ushort VlanId
    {
        get => HasVlanTag ? (ushort)(BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.VlanTci..]) & 0x0FFF) : (ushort)0;
        set
        {
            RequireTag();
            ushort tci = BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.VlanTci..]);
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[Field.VlanTci..], (ushort)((tci & 0xF000) | (value & 0x0FFF)));
        }
    }

    /// <summary>The 3-bit priority code point, 0 when untagged.</summary>
    /// <exception cref="InvalidOperationException">Setting on an untagged frame.</exception>
    public byte Priority
    {
        get => HasVlanTag ? (byte)(_buffer[Field.VlanTci] >> 5) : (byte)0;
        set
        {
            RequireTag();
            _buffer[Field.VlanTci] = (byte)((_buffer[Field.VlanTci] & 0x1F) | ((value & 0x7) << 5));
        }
    }

    /// <summary>The drop eligible indicator, false when untagged.</summary>
    public bool DropEligible => HasVlanTag && (_buffer[Field.VlanTci] & 0x10) != 0;

    /// <summary>Everything after the header (including any link padding).</summary>
    public Span<byte> Payload => _buffer[HeaderLength..];

    private void RequireTag()
    {
        if (!HasVlanTag)
        {
            throw new InvalidOperationException("The frame has no 802.1Q tag.");
        }
    }
}

/// <summary>The parsed form of an Ethernet header, optionally with an 802.1Q VLAN ID.</summary>
public readonly record struct EthernetHeader(MacAddress Destination, MacAddress Source, EtherType Type, ushort? VlanId = null)
{
    /// <summary>The priority code point used when emitting a tag.</summary>
    public byte Priority { get; init; }

    /// <summary>Header length: 14, or 18 with a VLAN tag.</summary>
    public int Length => VlanId.HasValue ? EthernetFrame.HeaderLengthTagged : EthernetFrame.HeaderLengthUntagged;

    /// <summary>Parses the header of a frame.</summary>
    public static bool TryParse(ReadOnlySpan<byte> buffer, out EthernetHeader header)
    {
        header = default;
        Span<byte> copy = stackalloc byte[EthernetFrame.HeaderLengthTagged];
        int n = Math.Min(buffer.Length, copy.Length);
        buffer[..n].CopyTo(copy);
        if (!EthernetFrame.TryCreate(copy[..n], out EthernetFrame f))
        {
            return false;
        }

        header = new EthernetHeader(f.Destination, f.Source, f.EtherType, f.HasVlanTag ? f.VlanId : null) { Priority = f.Priority };
        return true;
    }

    /// <summary>Writes the header to the start of <paramref name="buffer"/> (at least <see cref="Length"/> bytes).</summary>
    public void Emit(Span<byte> buffer)
    {
        Destination.WriteTo(buffer);
        Source.WriteTo(buffer[6..]);
        if (VlanId is ushort vid)
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer[12..], (ushort)EtherType.Vlan);
            BinaryPrimitives.WriteUInt16BigEndian(buffer[14..], (ushort)(((Priority & 0x7) << 13) | (vid & 0x0FFF)));
            BinaryPrimitives.WriteUInt16BigEndian(buffer[16..], (ushort)Type);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer[12..], (ushort)Type);
        }
    }
}
