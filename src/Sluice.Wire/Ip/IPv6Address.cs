using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Sluice.Wire;

/// <summary>An IPv6 address held as two <see cref="ulong"/> halves; <see cref="High"/> holds the first eight bytes in network order.</summary>
public readonly record struct IPv6Address : IComparable<IPv6Address>
{
    /// <summary>Length of an IPv6 address in bytes.</summary>
    public const int Length = 16;

    /// <summary>The unspecified address ::.</summary>
    public static readonly IPv6Address Any = new(0UL, 0UL);

    /// <summary>The loopback address ::1.</summary>
    public static readonly IPv6Address Loopback = new(0UL, 1UL);

    /// <summary>ff02::1, all nodes on the link.</summary>
    public static readonly IPv6Address AllNodesMulticast = new(0xFF02_0000_0000_0000UL, 1UL);

    /// <summary>ff02::2, all routers on the link.</summary>
    public static readonly IPv6Address AllRoutersMulticast = new(0xFF02_0000_0000_0000UL, 2UL);

    /// <summary>ff02::16, all MLDv2-capable routers (RFC 3810).</summary>
    public static readonly IPv6Address AllMldv2RoutersMulticast = new(0xFF02_0000_0000_0000UL, 0x16UL);

    /// <summary>The first 64 bits; byte 0 is the most significant.</summary>
    public ulong High { get; }

    /// <summary>The last 64 bits; byte 8 is the most significant.</summary>
    public ulong Low { get; }

    /// <summary>Creates an address from its two halves.</summary>
    public IPv6Address(ulong high, ulong low)
    {
        High = high;
        Low = low;
    }

    /// <summary>Reads an address from the first sixteen bytes of <paramref name="source"/>.</summary>
    public static IPv6Address Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[8..16]));

    /// <summary>Writes the sixteen bytes of the address to <paramref name="destination"/>.</summary>
    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination[..16], High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    /// <summary>The 16-bit group at <paramref name="index"/> (0..7).</summary>
    public ushort GetGroup(int index) => (ushort)((index < 4 ? High : Low) >> (48 - (16 * (index & 3))));

    /// <summary>True for ff00::/8.</summary>
    public bool IsMulticast => (High >> 56) == 0xFF;

    /// <summary>True for fe80::/10.</summary>
    public bool IsLinkLocal => (High >> 54) == (0xFE80UL >> 6);

    /// <summary>True for ::.</summary>
    public bool IsUnspecified => High == 0 && Low == 0;

    /// <summary>True for ::1.</summary>
    public bool IsLoopback => High == 0 && Low == 1;

    /// <summary>True for a multicast address of link-local scope (ff02::/16).</summary>
    public bool IsLinkLocalMulticast => (High >> 48) == 0xFF02;

    /// <summary>True for solicited-node multicast addresses ff02::1:ff00:0/104.</summary>
    public bool IsSolicitedNodeMulticast => High == 0xFF02_0000_0000_0000UL && (Low & 0xFFFF_FFFF_FF00_0000UL) == 0x0000_0001_FF00_0000UL;

    /// <summary>True for IPv4-mapped addresses ::ffff:0:0/96.</summary>
    public bool IsIPv4Mapped => High == 0 && (Low >> 32) == 0xFFFF;

    /// <summary>The address with all but the first <paramref name="prefix"/> bits cleared.</summary>
    public IPv6Address Mask(int prefix)
    {
        if (prefix <= 0)
        {
            return Any;
        }

        if (prefix >= 128)
        {
            return this;
        }

        if (prefix <= 64)
        {
            ulong m = prefix == 64 ? ulong.MaxValue : ~(ulong.MaxValue >> prefix);
            return new IPv6Address(High & m, 0);
        }

        return new IPv6Address(High, Low & ~(ulong.MaxValue >> (prefix - 64)));
    }

    /// <summary>The netmask with <paramref name="prefix"/> leading one bits.</summary>
    public static IPv6Address MaskFromPrefix(int prefix) => new IPv6Address(ulong.MaxValue, ulong.MaxValue).Mask(prefix);

    /// <summary>True when the first <paramref name="length"/> bits equal those of <paramref name="prefix"/>.</summary>
    public bool MatchesPrefix(IPv6Address prefix, int length) => Mask(length) == prefix.Mask(length);

    /// <summary>The solicited-node multicast address ff02::1:ffXX:XXXX for <paramref name="address"/> (RFC 4291 §2.7.1).</summary>
    public static IPv6Address SolicitedNodeMulticast(IPv6Address address) =>
        new(0xFF02_0000_0000_0000UL, 0x0000_0001_FF00_0000UL | (address.Low & 0x00FF_FFFFUL));

    /// <summary>The modified EUI-64 interface identifier for a MAC address (RFC 4291 appendix A).</summary>
    public static ulong InterfaceIdentifierFromMac(MacAddress mac)
    {
        ulong upper = mac.Value >> 24;
        ulong lower = mac.Value & 0xFF_FFFFUL;
        return ((upper << 40) | (0xFFFEUL << 24) | lower) ^ 0x0200_0000_0000_0000UL;
    }

    /// <summary>The fe80::/64 link-local address formed from a MAC address by modified EUI-64.</summary>
    public static IPv6Address LinkLocalFromMac(MacAddress mac) => new(0xFE80_0000_0000_0000UL, InterfaceIdentifierFromMac(mac));

    /// <summary>Parses RFC 4291 §2.2 text forms, including "::" and a trailing dotted IPv4 part; a "%zone" suffix is rejected.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out IPv6Address address)
    {
        address = default;
        Span<ushort> groups = stackalloc ushort[8];
        int count = 0;
        int gap = -1;
        int i = 0;
        if (text.Length >= 2 && text[0] == ':' && text[1] == ':')
        {
            gap = 0;
            i = 2;
        }
        else if (text.Length == 0 || text[0] == ':')
        {
            return false;
        }

        while (i < text.Length)
        {
            int start = i;
            uint value = 0;
            while (i < text.Length && i - start < 4 && HexValue(text[i]) is int h and >= 0)
            {
                value = (value << 4) | (uint)h;
                i++;
            }

            if (i < text.Length && text[i] == '.')
            {
                // RFC 4291 §2.2 form 3: the last 32 bits as a dotted quad.
                if (count > 6 || !IPv4Address.TryParse(text[start..], out IPv4Address v4))
                {
                    return false;
                }

                groups[count++] = (ushort)(v4.Value >> 16);
                groups[count++] = (ushort)v4.Value;
                i = text.Length;
                break;
            }

            if (i == start || count >= 8)
            {
                return false;
            }

            groups[count++] = (ushort)value;
            if (i == text.Length)
            {
                break;
            }

            if (text[i] != ':')
            {
                return false;
            }

            i++;
            if (i < text.Length && text[i] == ':')
            {
                if (gap >= 0)
                {
                    return false;
                }

                gap = count;
                i++;
            }
            else if (i == text.Length)
            {
                return false;
            }
        }

        if (gap < 0 ? count != 8 : count > 7)
        {
            return false;
        }

        ulong high = 0, low = 0;
        int missing = 8 - count;
        for (int g = 0, src = 0; g < 8; g++)
        {
            ushort v = (gap >= 0 && g >= gap && g < gap + missing) ? (ushort)0 : groups[src++];
            if (g < 4)
            {
                high = (high << 16) | v;
            }
            else
            {
                low = (low << 16) | v;
            }
        }

        address = new IPv6Address(high, low);
        return true;
    }

    /// <summary>Parses RFC 4291 text forms.</summary>
    public static bool TryParse(string? text, out IPv6Address address) => TryParse(text.AsSpan(), out address);

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>Formats in RFC 5952 canonical form (lower case, longest zero run of two or more groups as "::", IPv4-mapped with a dotted quad).</summary>
    public override string ToString()
    {
        Span<char> buffer = stackalloc char[48];
        int n = 0;
        int bestStart = -1, bestLength = 0;
        for (int g = 0; g < 8;)
        {
            if (GetGroup(g) != 0)
            {
                g++;
                continue;
            }

            int start = g;
            while (g < 8 && GetGroup(g) == 0)
            {
                g++;
            }

            if (g - start > bestLength)
            {
                bestStart = start;
                bestLength = g - start;
            }
        }

        if (bestLength < 2)
        {
            bestStart = -1;
        }

        int last = IsIPv4Mapped ? 6 : 8;
        for (int g = 0; g < last; g++)
        {
            if (g == bestStart)
            {
                buffer[n++] = ':';
                buffer[n++] = ':';
                g += bestLength - 1;
                continue;
            }

            if (g > 0 && g != bestStart + bestLength)
            {
                buffer[n++] = ':';
            }

            GetGroup(g).TryFormat(buffer[n..], out int w, "x", System.Globalization.CultureInfo.InvariantCulture);
            n += w;
        }

        if (IsIPv4Mapped)
        {
            if (bestStart + bestLength != 6)
            {
                buffer[n++] = ':';
            }

            new IPv4Address((uint)Low).TryFormat(buffer[n..], out int w);
            n += w;
        }

        return new string(buffer[..n]);
    }

    /// <summary>Converts to a <see cref="IPAddress"/>.</summary>
    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[16];
        WriteTo(bytes);
        return new IPAddress(bytes);
    }

    /// <summary>Converts from an IPv6 <see cref="IPAddress"/> (its scope id is dropped).</summary>
    /// <exception cref="ArgumentException">When the address is not IPv6.</exception>
    public static IPv6Address FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            throw new ArgumentException("Not an IPv6 address.", nameof(address));
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        return Read(bytes);
    }

    /// <summary>Orders addresses numerically.</summary>
    public int CompareTo(IPv6Address other)
    {
        int c = High.CompareTo(other.High);
        return c != 0 ? c : Low.CompareTo(other.Low);
    }

    /// <summary>Numeric less-than.</summary>
    public static bool operator <(IPv6Address left, IPv6Address right) => left.CompareTo(right) < 0;

    /// <summary>Numeric greater-than.</summary>
    public static bool operator >(IPv6Address left, IPv6Address right) => left.CompareTo(right) > 0;

    /// <summary>Numeric less-or-equal.</summary>
    public static bool operator <=(IPv6Address left, IPv6Address right) => left.CompareTo(right) <= 0;

    /// <summary>Numeric greater-or-equal.</summary>
    public static bool operator >=(IPv6Address left, IPv6Address right) => left.CompareTo(right) >= 0;
}
