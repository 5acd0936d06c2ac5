using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;

namespace Sluice.Stack.Pfil;

/// <summary>Which way a packet crosses the hook.</summary>
public enum PfilDirection
{
    In,
    Out,
}

/// <summary>A filter's decision.</summary>
public enum PfilVerdict
{
    /// <summary>Continue processing (the filter may have rewritten the packet in place).</summary>
    Pass,

    /// <summary>Drop: the caller counts and releases the packet.</summary>
    Drop,

    /// <summary>The filter took ownership (queued in a dummynet pipe, re-routed, ...).</summary>
    Consumed,
}

/// <summary>
/// A packet filter attached at the stack's pfil hooks (pf, ipfw). The packet starts at the IP header.
/// </summary>
/// <remarks>
/// Called on the event loop. A filter that rewrites the packet must call <see cref="Packet.MakeWritable"/> first.
/// On <see cref="PfilVerdict.Drop"/> the caller keeps ownership and releases the packet; on
/// <see cref="PfilVerdict.Consumed"/> the filter owns it.
/// </remarks>
public interface IPacketFilter
{
    /// <summary>Short name (`pf`, `ipfw`).</summary>
    string Name { get; }

    /// <summary>Inspects <paramref name="packet"/> crossing <paramref name="ifp"/> in direction <paramref name="direction"/>.</summary>
    PfilVerdict Filter(Packet packet, NetworkInterface ifp, PfilDirection direction, bool ipv6);
}

/// <summary>The ordered list of filters of one stack (FreeBSD's pfil heads for inet and inet6).</summary>
public sealed class PfilHooks
{
    private IPacketFilter[] _filters = [];

    /// <summary>True when at least one filter is attached (fast check on the packet path).</summary>
    public bool Any => _filters.Length > 0;

    /// <summary>The filters in the order they run.</summary>
    public IReadOnlyList<IPacketFilter> Filters => _filters;

    /// <summary>Appends a filter (runs after those already attached).</summary>
    public void Add(IPacketFilter filter) => _filters = [.. _filters, filter];

    /// <summary>Removes a filter.</summary>
    public bool Remove(IPacketFilter filter)
    {
        var index = Array.IndexOf(_filters, filter);
        if (index < 0)
        {
            return false;
        }

        _filters = [.. _filters.AsSpan(0, index), .. _filters.AsSpan(index + 1)];
        return true;
    }

    /// <summary>Position of <paramref name="filter"/> in the run order, or -1.</summary>
    public int IndexOf(IPacketFilter filter) => Array.IndexOf(_filters, filter);

    /// <summary>Runs the filters in order from <paramref name="start"/>; stops at the first that does not pass.</summary>
    public PfilVerdict Run(Packet packet, NetworkInterface ifp, PfilDirection direction, bool ipv6, int start = 0)
    {
        var filters = _filters;
        for (var i = start; i < filters.Length; i++)
        {
            var verdict = filters[i].Filter(packet, ifp, direction, ipv6);
            if (verdict != PfilVerdict.Pass)
            {
                return verdict;
            }
        }

        return PfilVerdict.Pass;
    }
}
