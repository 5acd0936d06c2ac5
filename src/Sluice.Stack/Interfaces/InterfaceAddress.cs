using Sluice.Wire;

namespace Sluice.Stack.Interfaces;

/// <summary>An IPv4 address assigned to an interface.</summary>
public sealed record IPv4InterfaceAddress(IPv4Address Address, int PrefixLength, IPv4Address? Broadcast)
{
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
    /// <summary>Address state flags (tentative while duplicate address detection runs).</summary>
    public IPv6AddressFlags Flags { get; set; }

    /// <summary>True when <paramref name="address"/> is on this address's prefix.</summary>
    public bool Contains(IPv6Address address) => address.MatchesPrefix(Address, PrefixLength);
}
