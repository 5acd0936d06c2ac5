using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack;

/// <summary>Neighbor Unreachability Detection states (RFC 4861 §7.3.2).</summary>
public enum NeighborState
{
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
}

/// <summary>One neighbour cache entry.</summary>
public sealed class NeighborEntry
{
    internal NeighborEntry(IPv6Address address, int interfaceIndex, Timer timer)
    {
        Address = address;
        InterfaceIndex = interfaceIndex;
        Timer = timer;
        timer.State = this;
    }

    /// <summary>The neighbour's address.</summary>
    public IPv6Address Address { get; }

    /// <summary>Its link-layer address (null while incomplete).</summary>
    public MacAddress? HardwareAddress { get; internal set; }

    /// <summary>Interface index.</summary>
    public int InterfaceIndex { get; }

    /// <summary>NUD state.</summary>
    public NeighborState State { get; internal set; }

    /// <summary>The neighbour said it is a router (NA R flag).</summary>
    public bool IsRouter { get; internal set; }

    /// <summary>Static entry.</summary>
    public bool Permanent { get; internal set; }

    /// <summary>When the current state ends (ns; 0 = no deadline).</summary>
    public long ExpiresAt { get; internal set; }

    internal int Probes;
    internal readonly Queue<Packet> Hold = new();
    internal readonly Timer Timer;
}

/// <summary>
/// The IPv6 neighbour cache (RFC 4861 address resolution and NUD) with FreeBSD's constants: retransmit 1 s,
/// 3 multicast and 3 unicast solicitations, reachable time 30 s, delay 5 s, stale entries collected after
/// net.inet6.ip6.nd6_gctimer seconds.
/// </summary>
public sealed class NeighborCache : ITimerHandler
{
    private const int MaxMulticastSolicit = 3;
    private const int MaxUnicastSolicit = 3;
    private const long RetransTimer = Nanos.PerSecond;
    private const long ReachableTime = 30 * Nanos.PerSecond;
    private const long DelayFirstProbe = 5 * Nanos.PerSecond;
    private const int MaxHold = 16;

    private readonly NetStack _stack;
    private readonly Dictionary<(int, IPv6Address), NeighborEntry> _entries = [];

    internal NeighborCache(NetStack stack) => _stack = stack;

    /// <summary>Entries ordered by interface and address (as `ndp -an` lists them).</summary>
    public IEnumerable<NeighborEntry> Entries
    {
        get
        {
            var list = new List<NeighborEntry>(_entries.Values);
            list.Sort(static (a, b) => a.InterfaceIndex != b.InterfaceIndex ? a.InterfaceIndex.CompareTo(b.InterfaceIndex) : a.Address.CompareTo(b.Address));
            return list;
        }
    }

    /// <summary>Number of entries.</summary>
    public int Count => _entries.Count;

    /// <summary>Finds an entry.</summary>
    public NeighborEntry? Find(int ifIndex, IPv6Address address) => _entries.GetValueOrDefault((ifIndex, address));

    /// <summary>Deletes the entry for <paramref name="address"/> on any interface.</summary>
    public bool Delete(IPv6Address address)
    {
        foreach (var e in _entries.Values)
        {
            if (e.Address == address)
            {
                Remove(e);
                return true;
            }
        }

        return false;
    }

    /// <summary>Deletes every entry.</summary>
    public void Flush()
    {
        foreach (var e in new List<NeighborEntry>(_entries.Values))
        {
            Remove(e);
        }
    }

    internal void RemoveInterface(int ifIndex)
    {
        foreach (var e in new List<NeighborEntry>(_entries.Values))
        {
            if (e.InterfaceIndex == ifIndex)
            {
                Remove(e);
            }
        }
    }

    private void Remove(NeighborEntry e)
    {
        _stack.Loop.Cancel(e.Timer);
        _entries.Remove((e.InterfaceIndex, e.Address));
        while (e.Hold.TryDequeue(out var p))
        {
            _stack.Ip6.OutputDropped++;
            p.Release();
        }
    }

    private NeighborEntry GetOrCreate(int ifIndex, IPv6Address address)
    {
        if (!_entries.TryGetValue((ifIndex, address), out var e))
        {
            e = new NeighborEntry(address, ifIndex, new Timer(this)) { State = NeighborState.Incomplete };
            _entries.Add((ifIndex, address), e);
        }

        return e;
    }

    /// <summary>Sends an IPv6 packet (from its IPv6 header) to <paramref name="nextHop"/> on <paramref name="ifp"/>. Takes ownership.</summary>
    internal void Resolve(NetworkInterface ifp, IPv6Address nextHop, Packet packet)
    {
        if (_entries.TryGetValue((ifp.Index, nextHop), out var e) && e.HardwareAddress is { } mac)
        {
            if (e.State == NeighborState.Stale)
            {
                // RFC 4861 7.3.3: first use of a stale entry starts the delay timer.
                e.State = NeighborState.Delay;
                SetDeadline(e, DelayFirstProbe);
            }

            _stack.EthernetOutput(ifp, packet, mac, EtherType.IPv6);
            return;
        }

        e ??= GetOrCreate(ifp.Index, nextHop);
        if (e.Hold.Count >= MaxHold)
        {
            _stack.Ip6.OutputDropped++;
            e.Hold.Dequeue().Release();
        }

        e.Hold.Enqueue(packet);
        if (e.Probes == 0)
        {
            e.Probes = 1;
            SetDeadline(e, RetransTimer);
            _stack.SendNeighborSolicitation(ifp, nextHop, unicastTo: null);
        }
    }

    private void SetDeadline(NeighborEntry e, long delay)
    {
        e.ExpiresAt = _stack.Loop.Now + delay;
        _stack.Loop.Schedule(e.Timer, e.ExpiresAt);
    }

    void ITimerHandler.OnTimer(Timer timer)
    {
        var e = (NeighborEntry)timer.State!;
        var ifp = _stack.InterfaceByIndex(e.InterfaceIndex);
        if (ifp is null)
        {
            Remove(e);
            return;
        }

        switch (e.State)
        {
            case NeighborState.Incomplete when e.Probes < MaxMulticastSolicit:
                e.Probes++;
                SetDeadline(e, RetransTimer);
                _stack.SendNeighborSolicitation(ifp, e.Address, unicastTo: null);
                break;
            case NeighborState.Incomplete:
                _entries.Remove((e.InterfaceIndex, e.Address));
                while (e.Hold.TryDequeue(out var p))
                {
                    _stack.Ip6.OutputDropped++;
                    _stack.OnResolutionFailed(p, ipv6: true);
                }

                break;
            case NeighborState.Reachable:
                e.State = NeighborState.Stale;
                SetDeadline(e, _stack.SysctlNd6GcTimer.Value * Nanos.PerSecond);
                break;
            case NeighborState.Delay:
                e.State = NeighborState.Probe;
                e.Probes = 1;
                SetDeadline(e, RetransTimer);
                _stack.SendNeighborSolicitation(ifp, e.Address, unicastTo: e.HardwareAddress);
                break;
            case NeighborState.Probe when e.Probes < MaxUnicastSolicit:
                e.Probes++;
                SetDeadline(e, RetransTimer);
                _stack.SendNeighborSolicitation(ifp, e.Address, unicastTo: e.HardwareAddress);
                break;
            default:
                Remove(e);
                break;
        }
    }

    /// <summary>Records a link-layer address learned from an NS source option or an RA/redirect (RFC 4861 7.2.3): STALE.</summary>
    internal void LearnFromSolicitation(NetworkInterface ifp, IPv6Address address, MacAddress mac)
    {
        var e = GetOrCreate(ifp.Index, address);
        if (e.Permanent)
        {
            return;
        }

        if (e.HardwareAddress != mac)
        {
            e.HardwareAddress = mac;
            e.State = NeighborState.Stale;
            e.Probes = 0;
            SetDeadline(e, _stack.SysctlNd6GcTimer.Value * Nanos.PerSecond);
        }

        Flush(e, ifp);
    }

    /// <summary>Processes a Neighbor Advertisement for <paramref name="target"/> (RFC 4861 7.2.5).</summary>
    internal void OnAdvertisement(NetworkInterface ifp, IPv6Address target, MacAddress? mac, bool router, bool solicited, bool overrideFlag)
    {
        if (!_entries.TryGetValue((ifp.Index, target), out var e) || e.Permanent)
        {
            return;
        }

        if (e.State == NeighborState.Incomplete)
        {
            if (mac is null)
            {
                return;
            }

            e.HardwareAddress = mac;
            e.IsRouter = router;
            e.Probes = 0;
            e.State = solicited ? NeighborState.Reachable : NeighborState.Stale;
            SetDeadline(e, solicited ? ReachableTime : _stack.SysctlNd6GcTimer.Value * Nanos.PerSecond);
            Flush(e, ifp);
            return;
        }

        var changed = mac is { } m && m != e.HardwareAddress;
        if (!overrideFlag && changed)
        {
            if (e.State == NeighborState.Reachable)
            {
                e.State = NeighborState.Stale;
                SetDeadline(e, _stack.SysctlNd6GcTimer.Value * Nanos.PerSecond);
            }

            return;
        }

        if (mac is not null)
        {
            e.HardwareAddress = mac;
        }

        e.IsRouter = router;
        if (solicited)
        {
            e.State = NeighborState.Reachable;
            e.Probes = 0;
            SetDeadline(e, ReachableTime);
        }
        else if (changed)
        {
            e.State = NeighborState.Stale;
            SetDeadline(e, _stack.SysctlNd6GcTimer.Value * Nanos.PerSecond);
        }
    }

    private void Flush(NeighborEntry e, NetworkInterface ifp)
    {
        while (e.Hold.TryDequeue(out var p))
        {
            _stack.EthernetOutput(ifp, p, e.HardwareAddress!.Value, EtherType.IPv6);
        }
    }
}
