using System.Numerics;
using Sluice.Wire;

namespace Sluice.Stack.Routing;

/// <summary>The IPv6 routing table of one VNET (one FIB): longest-prefix match over exact-prefix hash tables.</summary>
/// <remarks>
/// One dictionary per prefix length (0..128), keyed by the masked destination as a <see cref="UInt128"/>, and a
/// bitmask of the lengths in use. <see cref="Lookup"/> probes the populated lengths from the longest down and does
/// not allocate. Not thread-safe: owned by the stack's event loop.
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

        if (!_byLength[route.PrefixLength].TryAdd(Key(route.Destination), route))
        {
            error = RouteErrors.AlreadyInTable;
            return false;
        }

        _populated[route.PrefixLength >> 6] |= 1UL << (route.PrefixLength & 63);
        Count++;
        error = null;
        return true;
    }

    /// <summary>Removes the route for exactly <paramref name="destination"/>/<paramref name="prefixLength"/>; false when it is <see cref="RouteErrors.NotInTable"/>.</summary>
    public bool TryDelete(IPv6Address destination, int prefixLength, out Route<IPv6Address>? removed)
    {
        removed = null;
        if ((uint)prefixLength > MaxPrefix || !_byLength[prefixLength].Remove(Key(destination.Mask(prefixLength)), out removed))
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

    /// <summary>The route with the longest prefix that contains <paramref name="address"/>, or null. Allocation-free.</summary>
    public Route<IPv6Address>? Lookup(IPv6Address address)
    {
        var key = Key(address);
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

    /// <summary>The route for exactly <paramref name="destination"/>/<paramref name="prefixLength"/>, or null.</summary>
    public Route<IPv6Address>? Find(IPv6Address destination, int prefixLength) =>
        (uint)prefixLength <= MaxPrefix && _byLength[prefixLength].TryGetValue(Key(destination.Mask(prefixLength)), out var route) ? route : null;

    /// <summary>All routes in <c>netstat -rn</c> order: ascending destination, the longer prefix first for equal destinations.</summary>
    public IEnumerable<Route<IPv6Address>> Entries =>
        _byLength.SelectMany(d => d.Values)
            .OrderBy(r => r.Destination)
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
                if (route.InterfaceIndex == interfaceIndex)
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

    private static UInt128 Key(IPv6Address address) => new(address.High, address.Low);
}
