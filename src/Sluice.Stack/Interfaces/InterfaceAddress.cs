using Sluice.Wire;

namespace Sluice.Stack.Interfaces;

/// <summary>Per-address traffic counters (<c>ifa_ipackets</c>, <c>ifa_opackets</c> ...), shown by <c>netstat -i</c> on address rows.</summary>
public sealed class AddressCounters
{
    /// <summary>Packets received for the address (ip_input / ip6_input found it as the destination).</summary>
    public long InputPackets;

    /// <summary>Bytes of those packets, IP header included.</summary>
    public long InputBytes;

    /// <summary>Packets sent with the address (IPv4: over a route made from it; IPv6: from it as the source).</summary>
    public long OutputPackets;

    /// <summary>Bytes of those packets, IP header included.</summary>
    public long OutputBytes;

    internal void CountIn(int bytes)
    {
        InputPackets++;
        InputBytes += bytes;
    }

    internal void CountOut(int bytes)
    {
        OutputPackets++;
        OutputBytes += bytes;
    }
}

/// <summary>An IPv4 address assigned to an interface.</summary>
public sealed record IPv4InterfaceAddress(IPv4Address Address, int PrefixLength, IPv4Address? Broadcast)
{
    /// <summary>Traffic counters of this address (not part of the record's equality).</summary>
    public AddressCounters Counters { get; } = new();

    /// <inheritdoc />
    public bool Equals(IPv4InterfaceAddress? other) =>
        other is not null && Address == other.Address && PrefixLength == other.PrefixLength && Broadcast == other.Broadcast;

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Address, PrefixLength, Broadcast);

    /// <summary>The network prefix.</summary>
    public IPv4Address Network => Address.Mask(PrefixLength);

    /// <summary>The netmask.</summary>
    public IPv4Address Netmask => IPv4Address.MaskFromPrefix(PrefixLength);

    /// <summary>True when <paramref name="address"/> is on this address's subnet.</summary>
    public bool Contains(IPv4Address address) => address.Mask(PrefixLength).Value == Network.Value;
}

/// <summary>An IPv6 address assigned to an interface.</summary>
public sealed record IPv6InterfaceAddress(IPv6Address Address, int PrefixLength)
{
    /// <summary>Traffic counters of this address (not part of the record's equality).</summary>
    public AddressCounters Counters { get; } = new();

    /// <inheritdoc />
    public bool Equals(IPv6InterfaceAddress? other) =>
        other is not null && Address == other.Address && PrefixLength == other.PrefixLength && Flags == other.Flags;

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Address, PrefixLength, Flags);

    /// <summary>Address state flags (tentative while duplicate address detection runs).</summary>
    public IPv6AddressFlags Flags { get; set; }

    /// <summary>True when <paramref name="address"/> is on this address's prefix.</summary>
    public bool Contains(IPv6Address address) => address.MatchesPrefix(Address, PrefixLength);
}
