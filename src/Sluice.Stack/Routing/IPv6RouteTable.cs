using System.Numerics;
using Sluice.Wire;

namespace Sluice.Stack.Routing;

/// <summary>The IPv6 routing table of one VNET (one FIB): longest-prefix match over exact-prefix hash tables.</summary>
/// <remarks>
/// One dictionary per prefix length (0..128), keyed by the masked destination as a <see cref="UInt128"/>, and a
/// bitmask of the lengths in use. <see cref="Lookup"/> probes the populated lengths from the longest down and does
/// not allocate. Not thread-safe: owned by the stack's event loop.
/// Scoped destinations (link-local unicast, interface- and link-local multicast) carry their zone in the key the
/// way KAME embeds it in the kernel (sys/netinet6/scope6.c in6_setscope): the interface index in the second 16-bit
/// word. So <c>fe80::%epair0a/64</c> and <c>fe80::%lo0/64</c> are different prefixes, and a link-local destination
/// looked up without a zone matches neither: it falls to <c>fe80::/10</c> (the reject route /etc/rc.d/routing adds).
/// </remarks>
public sealed class IPv6RouteTable
{
    private const int MaxPrefix = 128;
    private readonly Dictionary<UInt128, Route<IPv6Address>>[] _byLength = new Dictionary<UInt128, Route<IPv6Address>>[MaxPrefix + 1];

    // Bit (length & 63) of word (length >> 6) is set while some route has that prefix length.
    private readonly ulong[] _populated = new ulong[3];

    /// <summary>Creates an empty table.</summary>
    public IPv6RouteTable()
    {
        for (var i = 0; i <= MaxPrefix; i++)
        {
            _byLength[i] = [];
        }
    }

    /// <summary>Number of routes.</summary>
    public int Count { get; private set; }

    /// <summary>Adds <paramref name="route"/>; false with route(8)'s text when the prefix is taken or invalid.</summary>
    public bool TryAdd(Route<IPv6Address> route, out string? error)
    {
        ArgumentNullException.ThrowIfNull(route);
        if ((uint)route.PrefixLength > MaxPrefix || route.Destination.Mask(route.PrefixLength) != route.Destination)
        {
            error = RouteErrors.InvalidArgument;
            return false;
        }

        if ((uint)route.Zone > ushort.MaxValue || (route.Zone != 0 && !IsScoped(route.Destination)))
        {
            error = RouteErrors.InvalidArgument;
            return false;
        }

        if (!_byLength[route.PrefixLength].TryAdd(Key(route.Destination, route.Zone), route))
        {
            error = RouteErrors.AlreadyInTable;
            return false;
        }

        _populated[route.PrefixLength >> 6] |= 1UL << (route.PrefixLength & 63);
        Count++;
        error = null;
        return true;
    }

    /// <summary>
    /// Removes the route for exactly <paramref name="destination"/>/<paramref name="prefixLength"/> in scope zone
    /// <paramref name="zone"/>; false when it is <see cref="RouteErrors.NotInTable"/>.
    /// </summary>
    public bool TryDelete(IPv6Address destination, int prefixLength, out Route<IPv6Address>? removed, int zone = 0)
    {
        removed = null;
        if ((uint)prefixLength > MaxPrefix || !_byLength[prefixLength].Remove(Key(destination.Mask(prefixLength), zone), out removed))
        {
            return false;
        }

        if (_byLength[prefixLength].Count == 0)
        {
            _populated[prefixLength >> 6] &= ~(1UL << (prefixLength & 63));
        }

        Count--;
        return true;
    }

    /// <summary>
    /// The route with the longest prefix that contains <paramref name="address"/> in scope zone
    /// <paramref name="zone"/> (an interface index; 0 for none), or null. Allocation-free.
    /// </summary>
    public Route<IPv6Address>? Lookup(IPv6Address address, int zone = 0)
    {
        var key = Key(address, zone);
        for (var word = 2; word >= 0; word--)
        {
            var lengths = _populated[word];
            while (lengths != 0)
            {
                var bit = 63 - BitOperations.LeadingZeroCount(lengths);
                var length = (word << 6) + bit;
                var mask = length == 0 ? UInt128.Zero : UInt128.MaxValue << (MaxPrefix - length);
                if (_byLength[length].TryGetValue(key & mask, out var route))
                {
                    return route;
                }

                lengths &= ~(1UL << bit);
            }
        }

        return null;
    }

    /// <summary>The route for exactly <paramref name="destination"/>/<paramref name="prefixLength"/> in zone <paramref name="zone"/>, or null.</summary>
    public Route<IPv6Address>? Find(IPv6Address destination, int prefixLength, int zone = 0) =>
        (uint)prefixLength <= MaxPrefix && _byLength[prefixLength].TryGetValue(Key(destination.Mask(prefixLength), zone), out var route) ? route : null;

    /// <summary>
    /// All routes in <c>netstat -rn</c> order, which is the radix tree's: ascending destination with the zone embedded
    /// (so <c>fe80::/10</c>, then <c>fe80::%lo0/64</c>, then <c>fe80::%em0/64</c>), the longer prefix first for equal keys.
    /// </summary>
    public IEnumerable<Route<IPv6Address>> Entries =>
        _byLength.SelectMany(d => d.Values)
            .OrderBy(r => Key(r.Destination, r.Zone))
            .ThenByDescending(r => r.PrefixLength)
            .ToArray();

    /// <summary>Removes every route over interface <paramref name="interfaceIndex"/>; returns how many.</summary>
    public int RemoveInterface(int interfaceIndex)
    {
        var removed = 0;
        for (var length = 0; length <= MaxPrefix; length++)
        {
            var table = _byLength[length];
            foreach (var (key, route) in table)
            {
                if (route.InterfaceIndex == interfaceIndex || route.Zone == interfaceIndex || route.GatewayInterfaceIndex == interfaceIndex)
                {
                    table.Remove(key);
                    removed++;
                }
            }

            if (table.Count == 0)
            {
                _populated[length >> 6] &= ~(1UL << (length & 63));
            }
        }

        Count -= removed;
        return removed;
    }

    /// <summary>
    /// True for addresses whose scope is smaller than global and that therefore need a zone: link-local unicast
    /// (fe80::/10) and interface-local or link-local multicast (ffx1::, ffx2::) (RFC 4007 §6).
    /// </summary>
    public static bool IsScoped(IPv6Address address) =>
        address.IsLinkLocal || (address.IsMulticast && ((address.High >> 48) & 0xF) is 1 or 2);

    private static UInt128 Key(IPv6Address address, int zone)
    {
        var high = address.High;
        if (zone != 0 && IsScoped(address))
        {
            // in6_setscope: the zone goes into address bytes 2-3 (s6_addr16[1]).
            high = (high & ~(0xFFFFUL << 32)) | ((ulong)(ushort)zone << 32);
        }

        return new UInt128(high, address.Low);
    }
}
