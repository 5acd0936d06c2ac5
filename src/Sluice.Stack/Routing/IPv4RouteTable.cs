using System.Numerics;
using Sluice.Wire;

namespace Sluice.Stack.Routing;

/// <summary>The IPv4 routing table of one VNET (one FIB): longest-prefix match over exact-prefix hash tables.</summary>
/// <remarks>
/// One dictionary per prefix length, keyed by the masked destination, and a bitmask of the lengths in use.
/// <see cref="Lookup"/> probes the populated lengths from the longest down: at most 33 hash probes, usually a
/// handful, and no allocation. Changes allocate. Not thread-safe: owned by the stack's event loop.
/// </remarks>
public sealed class IPv4RouteTable
{
    private const int MaxPrefix = 32;
    private readonly Dictionary<uint, Route<IPv4Address>>[] _byLength = new Dictionary<uint, Route<IPv4Address>>[MaxPrefix + 1];
    private ulong _populated;

    /// <summary>Creates an empty table.</summary>
    public IPv4RouteTable()
    {
        for (var i = 0; i <= MaxPrefix; i++)
        {
            _byLength[i] = [];
        }
    }

    /// <summary>Number of routes.</summary>
    public int Count { get; private set; }

    /// <summary>Adds <paramref name="route"/>; false with route(8)'s text when the prefix is taken or invalid.</summary>
    public bool TryAdd(Route<IPv4Address> route, out string? error)
    {
        ArgumentNullException.ThrowIfNull(route);
        if ((uint)route.PrefixLength > MaxPrefix || route.Destination.Mask(route.PrefixLength) != route.Destination)
        {
            error = RouteErrors.InvalidArgument;
            return false;
        }

        if (!_byLength[route.PrefixLength].TryAdd(route.Destination.Value, route))
        {
            error = RouteErrors.AlreadyInTable;
            return false;
        }

        _populated |= 1UL << route.PrefixLength;
        Count++;
        error = null;
        return true;
    }

    /// <summary>Removes the route for exactly <paramref name="destination"/>/<paramref name="prefixLength"/>; false when it is <see cref="RouteErrors.NotInTable"/>.</summary>
    public bool TryDelete(IPv4Address destination, int prefixLength, out Route<IPv4Address>? removed)
    {
        removed = null;
        if ((uint)prefixLength > MaxPrefix || !_byLength[prefixLength].Remove(destination.Mask(prefixLength).Value, out removed))
        {
            return false;
        }

        if (_byLength[prefixLength].Count == 0)
        {
            _populated &= ~(1UL << prefixLength);
        }

        Count--;
        return true;
    }

    /// <summary>The route with the longest prefix that contains <paramref name="address"/>, or null. Allocation-free.</summary>
    public Route<IPv4Address>? Lookup(IPv4Address address)
    {
        var lengths = _populated;
        while (lengths != 0)
        {
            var length = 63 - BitOperations.LeadingZeroCount(lengths);
            var mask = length == 0 ? 0U : uint.MaxValue << (MaxPrefix - length);
            if (_byLength[length].TryGetValue(address.Value & mask, out var route))
            {
                return route;
            }

            lengths &= ~(1UL << length);
        }

        return null;
    }

    /// <summary>The route for exactly <paramref name="destination"/>/<paramref name="prefixLength"/>, or null.</summary>
    public Route<IPv4Address>? Find(IPv4Address destination, int prefixLength) =>
        (uint)prefixLength <= MaxPrefix && _byLength[prefixLength].TryGetValue(destination.Mask(prefixLength).Value, out var route) ? route : null;

    /// <summary>All routes in <c>netstat -rn</c> order: ascending destination, the longer prefix first for equal destinations.</summary>
    public IEnumerable<Route<IPv4Address>> Entries =>
        _byLength.SelectMany(d => d.Values)
            .OrderBy(r => r.Destination.Value)
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
                _populated &= ~(1UL << length);
            }
        }

        Count -= removed;
        return removed;
    }
}
