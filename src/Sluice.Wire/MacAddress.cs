using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>A 48-bit IEEE 802 MAC address, stored in the low 48 bits of a <see cref="ulong"/> in transmission order.</summary>
public readonly record struct MacAddress
{
    /// <summary>Length of a MAC address in bytes.</summary>
    public const int Length = 6;

    private const ulong Mask48 = 0xFFFF_FFFF_FFFFUL;

    /// <summary>The all-ones broadcast address ff:ff:ff:ff:ff:ff.</summary>
    public static readonly MacAddress Broadcast = new(Mask48);

    /// <summary>The all-zeros address 00:00:00:00:00:00.</summary>
    public static readonly MacAddress Zero = new(0UL);

    /// <summary>The address as a 48-bit number; the first transmitted byte is the most significant.</summary>
    public ulong Value { get; }

    /// <summary>Creates an address from its 48-bit numeric value (upper 16 bits ignored).</summary>
    public MacAddress(ulong value) => Value = value & Mask48;

    /// <summary>Creates an address from six bytes in transmission order.</summary>
    /// <exception cref="ArgumentException">When fewer than six bytes are given.</exception>
    public MacAddress(ReadOnlySpan<byte> six)
    {
        if (six.Length < Length)
        {
            throw new ArgumentException("A MAC address needs six bytes.", nameof(six));
        }

        Value = ((ulong)BinaryPrimitives.ReadUInt16BigEndian(six) << 32) | BinaryPrimitives.ReadUInt32BigEndian(six[2..]);
    }

    /// <summary>Reads an address from the first six bytes of <paramref name="source"/>.</summary>
    public static MacAddress Read(ReadOnlySpan<byte> source) => new(source);

    /// <summary>Writes the six bytes of the address to the start of <paramref name="destination"/>.</summary>
    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(Value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], (uint)Value);
    }

    /// <summary>True for ff:ff:ff:ff:ff:ff.</summary>
    public bool IsBroadcast => Value == Mask48;

    /// <summary>True when the I/G (group) bit is set; includes broadcast.</summary>
    public bool IsMulticast => (Value & 0x0100_0000_0000UL) != 0;

    /// <summary>True for a unicast address (I/G bit clear).</summary>
    public bool IsUnicast => !IsMulticast;

    /// <summary>True when the U/L (locally administered) bit is set.</summary>
    public bool IsLocallyAdministered => (Value & 0x0200_0000_0000UL) != 0;

    /// <summary>True for 00:00:00:00:00:00.</summary>
    public bool IsZero => Value == 0;

    /// <summary>The Ethernet multicast address for an IPv4 group: 01:00:5e plus the low 23 bits (RFC 1112 §6.4).</summary>
    public static MacAddress FromIPv4Multicast(IPv4Address group) => new(0x0100_5E00_0000UL | (group.Value & 0x007F_FFFFU));

    /// <summary>The Ethernet multicast address for an IPv6 group: 33:33 plus the low 32 bits (RFC 2464 §7).</summary>
    public static MacAddress FromIPv6Multicast(IPv6Address group) => new(0x3333_0000_0000UL | (uint)group.Low);

    /// <summary>Parses the colon (or dash) separated form "02:00:00:00:00:0a"; each part one or two hex digits.</summary>
    public static bool TryParse(string? text, out MacAddress address) => TryParse(text.AsSpan(), out address);

    /// <summary>Parses the colon (or dash) separated form "02:00:00:00:00:0a"; each part one or two hex digits.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out MacAddress address)
    {
        address = default;
        ulong value = 0;
        int part = 0;
        int i = 0;
        char separator = '\0';
        while (true)
        {
            int digits = 0;
            uint octet = 0;
            while (i < text.Length && digits < 2 && HexValue(text[i]) is int h and >= 0)
            {
                octet = (octet << 4) | (uint)h;
                digits++;
                i++;
            }

            if (digits == 0)
            {
                return false;
            }

            value = (value << 8) | octet;
            part++;
            if (part == Length)
            {
                break;
            }

            if (i >= text.Length)
            {
                return false;
            }

            char c = text[i];
            if (c != ':' && c != '-')
            {
                return false;
            }

            if (separator == '\0')
            {
                separator = c;
            }
            else if (c != separator)
            {
                return false;
            }

            i++;
        }

        if (i != text.Length)
        {
            return false;
        }

        address = new MacAddress(value);
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>Formats as six lower-case two-digit hex parts separated by colons.</summary>
    public override string ToString() => string.Create(17, Value, static (span, v) =>
    {
        const string Hex = "0123456789abcdef";
        for (int i = 0; i < 6; i++)
        {
            byte b = (byte)(v >> (40 - (8 * i)));
            span[i * 3] = Hex[b >> 4];
            span[(i * 3) + 1] = Hex[b & 0xF];
            if (i < 5)
            {
                span[(i * 3) + 2] = ':';
            }
        }
    });
}
