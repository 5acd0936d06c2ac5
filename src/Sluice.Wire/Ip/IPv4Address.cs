using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Sluice.Wire;

/// <summary>An IPv4 address held as a <see cref="uint"/> in host order (the first octet is the most significant byte).</summary>
public readonly record struct IPv4Address : IComparable<IPv4Address>
{
    /// <summary>Length of an IPv4 address in bytes.</summary>
    public const int Length = 4;

    /// <summary>0.0.0.0.</summary>
    public static readonly IPv4Address Any = new(0U);

    /// <summary>255.255.255.255, the limited broadcast address.</summary>
    public static readonly IPv4Address Broadcast = new(0xFFFF_FFFFU);

    /// <summary>127.0.0.1.</summary>
    public static readonly IPv4Address Loopback = new(0x7F00_0001U);

    /// <summary>The address as a number; 10.0.0.1 is 0x0A000001.</summary>
    public uint Value { get; }

    /// <summary>Creates an address from its numeric value.</summary>
    public IPv4Address(uint value) => Value = value;

    /// <summary>Creates an address from its four octets, a.b.c.d.</summary>
    public IPv4Address(byte a, byte b, byte c, byte d) => Value = ((uint)a << 24) | ((uint)b << 16) | ((uint)c << 8) | d;

    /// <summary>Reads an address from the first four bytes of <paramref name="source"/> (network order).</summary>
    public static IPv4Address Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt32BigEndian(source));

    /// <summary>Writes the address in network order to the first four bytes of <paramref name="destination"/>.</summary>
    public void WriteTo(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, Value);

    /// <summary>True for 224.0.0.0/4.</summary>
    public bool IsMulticast => (Value & 0xF000_0000U) == 0xE000_0000U;

    /// <summary>True for the limited broadcast address 255.255.255.255.</summary>
    public bool IsBroadcast => Value == 0xFFFF_FFFFU;

    /// <summary>True for 127.0.0.0/8.</summary>
    public bool IsLoopback => (Value >> 24) == 127;

    /// <summary>True for 0.0.0.0.</summary>
    public bool IsUnspecified => Value == 0;

    /// <summary>True for 169.254.0.0/16 (RFC 3927).</summary>
    public bool IsLinkLocal => (Value & 0xFFFF_0000U) == 0xA9FE_0000U;

    /// <summary>True for 224.0.0.0/24, the link-local multicast block.</summary>
    public bool IsLinkLocalMulticast => (Value & 0xFFFF_FF00U) == 0xE000_0000U;

    /// <summary>The netmask with <paramref name="prefix"/> leading one bits (clamped to 0..32).</summary>
    public static IPv4Address MaskFromPrefix(int prefix) => prefix <= 0 ? Any : prefix >= 32 ? Broadcast : new(~(0xFFFF_FFFFU >> prefix));

    /// <summary>The prefix length if this address is a contiguous netmask, otherwise -1.</summary>
    public int PrefixLengthFromMask()
    {
        uint inverted = ~Value;
        if ((inverted & (inverted + 1)) != 0)
        {
            return -1;
        }

        return System.Numerics.BitOperations.PopCount(Value);
    }

    /// <summary>This address with all but the first <paramref name="prefix"/> bits cleared.</summary>
    public IPv4Address Mask(int prefix) => new(Value & MaskFromPrefix(prefix).Value);

    /// <summary>True when the first <paramref name="length"/> bits equal those of <paramref name="prefix"/>.</summary>
    public bool MatchesPrefix(IPv4Address prefix, int length) => Mask(length) == prefix.Mask(length);

    /// <summary>Parses a strict dotted quad: four decimal octets 0..255, no leading zeros, nothing else.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out IPv4Address address)
    {
        address = default;
        uint value = 0;
        int i = 0;
        for (int part = 0; part < 4; part++)
        {
            if (part > 0)
            {
                if (i >= text.Length || text[i] != '.')
                {
                    return false;
                }

                i++;
            }

            int start = i;
            uint octet = 0;
            while (i < text.Length && i - start < 3 && (uint)(text[i] - '0') <= 9)
            {
                octet = (octet * 10) + (uint)(text[i] - '0');
                i++;
            }

            int digits = i - start;
            if (digits == 0 || octet > 255 || (digits > 1 && text[start] == '0'))
            {
                return false;
            }

            value = (value << 8) | octet;
        }

        if (i != text.Length)
        {
            return false;
        }

        address = new IPv4Address(value);
        return true;
    }

    /// <summary>Parses a strict dotted quad.</summary>
    public static bool TryParse(string? text, out IPv4Address address) => TryParse(text.AsSpan(), out address);

    /// <summary>Formats an address into <paramref name="destination"/> as a dotted quad.</summary>
    public bool TryFormat(Span<char> destination, out int written)
    {
        written = 0;
        for (int i = 0; i < 4; i++)
        {
            if (i > 0)
            {
                if (written >= destination.Length)
                {
                    return false;
                }

                destination[written++] = '.';
            }

            byte octet = (byte)(Value >> (24 - (8 * i)));
            if (!octet.TryFormat(destination[written..], out int n, default, System.Globalization.CultureInfo.InvariantCulture))
            {
                return false;
            }

            written += n;
        }

        return true;
    }

    /// <summary>Formats as a dotted quad, e.g. 192.0.2.1.</summary>
    public override string ToString()
    {
        Span<char> buffer = stackalloc char[15];
        TryFormat(buffer, out int written);
        return new string(buffer[..written]);
    }

    /// <summary>Converts to a <see cref="IPAddress"/>.</summary>
    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[4];
        WriteTo(bytes);
        return new IPAddress(bytes);
    }

    /// <summary>Converts from an IPv4 <see cref="IPAddress"/>.</summary>
    /// <exception cref="ArgumentException">When the address is not IPv4.</exception>
    public static IPv4Address FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException("Not an IPv4 address.", nameof(address));
        }

        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return Read(bytes);
    }

    /// <summary>Orders addresses numerically.</summary>
    public int CompareTo(IPv4Address other) => Value.CompareTo(other.Value);

    /// <summary>Numeric less-than.</summary>
    public static bool operator <(IPv4Address left, IPv4Address right) => left.Value < right.Value;

    /// <summary>Numeric greater-than.</summary>
    public static bool operator >(IPv4Address left, IPv4Address right) => left.Value > right.Value;

    /// <summary>Numeric less-or-equal.</summary>
    public static bool operator <=(IPv4Address left, IPv4Address right) => left.Value <= right.Value;

    /// <summary>Numeric greater-or-equal.</summary>
    public static bool operator >=(IPv4Address left, IPv4Address right) => left.Value >= right.Value;
}
