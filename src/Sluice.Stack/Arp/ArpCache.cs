using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack;

/// <summary>State of an ARP entry.</summary>
public enum ArpState
{
    /// <summary>Request sent, no reply yet; packets wait in the hold queue.</summary>
    Incomplete,

    /// <summary>Resolved.</summary>
    Reachable,

    /// <summary>Resolution failed; packets are refused until the entry expires (net.link.ether.inet.wait).</summary>
    Down,
}

/// <summary>One ARP (llentry) entry.</summary>
public sealed class ArpEntry
{
    internal ArpEntry(IPv4Address address, int interfaceIndex, Timer timer)
    {
        Address = address;
        InterfaceIndex = interfaceIndex;
        Timer = timer;
        timer.State = this;
    }

    /// <summary>The IPv4 address.</summary>
    public IPv4Address Address { get; }

    /// <summary>The resolved link-layer address (null while incomplete).</summary>
    public MacAddress? HardwareAddress { get; internal set; }

    /// <summary>Interface index the entry belongs to.</summary>
    public int InterfaceIndex { get; }

    /// <summary>Static entry (`arp -s`): never expires.</summary>
    public bool Permanent { get; internal set; }

    /// <summary>Published (proxy ARP) entry.</summary>
    public bool Published { get; internal set; }

    /// <summary>Current state.</summary>
    public ArpState State { get; internal set; }

    /// <summary>Absolute expiry time in ns (0 for permanent entries).</summary>
    public long ExpiresAt { get; internal set; }

    internal int Asked;
    internal readonly Queue<Packet> Hold = new();
    internal readonly Timer Timer;
}

/// <summary>
/// The ARP cache of one VNET (RFC 826; FreeBSD's if_ether.c behaviour: request retries once a second up to
/// net.link.ether.inet.maxtries, a hold queue of net.link.ether.inet.maxhold packets per entry, entries
/// live net.link.ether.inet.max_age seconds).
/// </summary>
public sealed class ArpCache : ITimerHandler
{
    private readonly NetStack _stack;
    private readonly Dictionary<ulong, ArpEntry> _entries = [];

    internal ArpCache(NetStack stack) => _stack = stack;

    /// <summary>The entries, ordered by interface then address (as `arp -an` lists them).</summary>
    public IEnumerable<ArpEntry> Entries
    {
        get
        {
            var list = new List<ArpEntry>(_entries.Values);
            list.Sort(static (a, b) => a.InterfaceIndex != b.InterfaceIndex
                ? a.InterfaceIndex.CompareTo(b.InterfaceIndex)
                : a.Address.CompareTo(b.Address));
            return list;
        }
    }

    /// <summary>Number of entries.</summary>
    public int Count => _entries.Count;

    private static ulong Key(int ifIndex, IPv4Address address) => ((ulong)(uint)ifIndex << 32) | address.Value;

    /// <summary>Looks up an entry.</summary>
    public ArpEntry? Find(int ifIndex, IPv4Address address) => _entries.GetValueOrDefault(Key(ifIndex, address));

    /// <summary>Finds an entry for <paramref name="address"/> on any interface.</summary>
    public ArpEntry? Find(IPv4Address address)
    {
        foreach (var e in _entries.Values)
        {
            if (e.Address == address)
            {
                return e;
            }
        }

        return null;
    }

    /// <summary>Adds a permanent entry (`arp -s`).</summary>
    public ArpEntry AddStatic(NetworkInterface ifp, IPv4Address address, MacAddress mac, bool publish = false)
    {
        var e = GetOrCreate(ifp.Index, address);
        _stack.Loop.Cancel(e.Timer);
        e.HardwareAddress = mac;
        e.State = ArpState.Reachable;
        e.Permanent = true;
        e.Published = publish;
        e.ExpiresAt = 0;
        FlushHold(e, ifp);
        return e;
    }

    /// <summary>Deletes the entry for <paramref name="address"/> (`arp -d`); false when there is none.</summary>
    public bool Delete(IPv4Address address)
    {
        var e = Find(address);
        if (e is null)
        {
            return false;
        }

        Remove(e);
        return true;
    }

    /// <summary>Deletes every entry (`arp -a -d`).</summary>
    public void Flush()
    {
        foreach (var e in new List<ArpEntry>(_entries.Values))
        {
            Remove(e);
        }
    }

    internal void RemoveInterface(int ifIndex)
    {
        foreach (var e in new List<ArpEntry>(_entries.Values))
        {
            if (e.InterfaceIndex == ifIndex)
            {
                Remove(e);
            }
        }
    }

    private void Remove(ArpEntry e)
    {
        _stack.Loop.Cancel(e.Timer);
        _entries.Remove(Key(e.InterfaceIndex, e.Address));
        DropHold(e);
    }

    private void DropHold(ArpEntry e)
    {
        while (e.Hold.TryDequeue(out var p))
        {
            _stack.ArpStats.Dropped++;
            _stack.Ip.OutputDropped++;
            p.Release();
        }
    }

    private ArpEntry GetOrCreate(int ifIndex, IPv4Address address)
    {
        var key = Key(ifIndex, address);
        if (!_entries.TryGetValue(key, out var e))
        {
            e = new ArpEntry(address, ifIndex, new Timer(this));
            e.State = ArpState.Incomplete;
            _entries.Add(key, e);
        }

        return e;
    }

    /// <summary>
    /// Sends an IPv4 packet (starting at its IP header) to <paramref name="nextHop"/> on <paramref name="ifp"/>,
    /// resolving the link-layer address first. Takes ownership.
    /// </summary>
    internal void Resolve(NetworkInterface ifp, IPv4Address nextHop, Packet packet)
    {
        if (_entries.TryGetValue(Key(ifp.Index, nextHop), out var e))
        {
            if (e.State == ArpState.Reachable)
            {
                _stack.EthernetOutput(ifp, packet, e.HardwareAddress!.Value, EtherType.IPv4);
                return;
            }

            if (e.State == ArpState.Down)
            {
                // arpresolve returns EHOSTDOWN while the entry is held down.
                _stack.Ip.OutputDropped++;
                _stack.ArpStats.Dropped++;
                _stack.OnResolutionFailed(packet, ipv6: false);
                return;
            }

            Enqueue(e, packet);
            return;
        }

        e = GetOrCreate(ifp.Index, nextHop);
        Enqueue(e, packet);
        SendRequest(ifp, e);
    }

    private void Enqueue(ArpEntry e, Packet packet)
    {
        var max = (int)_stack.SysctlArpMaxHold.Value;
        if (e.Hold.Count >= max)
        {
            // FreeBSD drops the oldest held packet.
            _stack.ArpStats.Dropped++;
            _stack.Ip.OutputDropped++;
            e.Hold.Dequeue().Release();
        }

        e.Hold.Enqueue(packet);
    }

    private void SendRequest(NetworkInterface ifp, ArpEntry e)
    {
        e.Asked++;
        _stack.Loop.ScheduleAfter(e.Timer, Nanos.PerSecond);
        var source = SourceFor(ifp, e.Address);
        Send(ifp, ArpOperation.Request, MacAddress.Broadcast, MacAddress.Zero, source, e.Address);
        _stack.ArpStats.TxRequests++;
    }

    private static IPv4Address SourceFor(NetworkInterface ifp, IPv4Address target)
    {
        foreach (var a in ifp.IPv4Addresses)
        {
            if (a.Contains(target))
            {
                return a.Address;
            }
        }

        return ifp.PrimaryIPv4?.Address ?? IPv4Address.Any;
    }

    private void Send(NetworkInterface ifp, ArpOperation op, MacAddress ethDestination, MacAddress targetMac, IPv4Address sender, IPv4Address target)
    {
        var packet = _stack.Pool.Rent(ArpPacket.Length);
        new ArpRepr(op, ifp.HardwareAddress, sender, targetMac, target).Emit(packet.Data);
        _stack.EthernetOutput(ifp, packet, ethDestination, EtherType.Arp);
    }

    /// <summary>Timer: retransmit, give up, or expire.</summary>
    void ITimerHandler.OnTimer(Timer timer)
    {
        var e = (ArpEntry)timer.State!;
        var ifp = _stack.InterfaceByIndex(e.InterfaceIndex);
        switch (e.State)
        {
            case ArpState.Incomplete when ifp is not null && e.Asked < _stack.SysctlArpMaxTries.Value:
                SendRequest(ifp, e);
                break;
            case ArpState.Incomplete:
                _stack.ArpStats.Timeouts++;
                e.State = ArpState.Down;
                e.ExpiresAt = _stack.Loop.Now + (_stack.SysctlArpWait.Value * Nanos.PerSecond);
                _stack.Loop.Schedule(e.Timer, e.ExpiresAt);
                while (e.Hold.TryDequeue(out var p))
                {
                    _stack.ArpStats.Dropped++;
                    _stack.Ip.OutputDropped++;
                    _stack.OnResolutionFailed(p, ipv6: false);
                }

                break;
            default:
                Remove(e);
                break;
        }
    }

    /// <summary>ARP input (in_arpinput). Takes ownership.</summary>
    internal void Input(NetworkInterface ifp, Packet packet)
    {
        _stack.ArpStats.Received++;
        if (!ArpPacket.TryCreate(packet.Data, out var arp) || arp.ProtocolType != EtherType.IPv4)
        {
            ifp.Counters.InputErrors++;
            packet.Release();
            return;
        }

        var op = arp.Operation;
        var senderMac = arp.SenderHardwareAddress;
        var sender = arp.SenderProtocolAddress;
        var target = arp.TargetProtocolAddress;
        packet.Release();

        if (op == ArpOperation.Request)
        {
            _stack.ArpStats.RxRequests++;
        }
        else if (op == ArpOperation.Reply)
        {
            _stack.ArpStats.RxReplies++;
        }
        else
        {
            return;
        }

        if (senderMac == ifp.HardwareAddress || senderMac.IsMulticast)
        {
            return; // our own or a bogus sender
        }

        var targetIsOurs = false;
        foreach (var a in ifp.IPv4Addresses)
        {
            if (a.Address == target)
            {
                targetIsOurs = true;
            }

            if (a.Address == sender && !sender.IsUnspecified)
            {
                _stack.ArpStats.DuplicateIPs++;
                return; // "arp: ... is using my IP address"
            }
        }

        if (!sender.IsUnspecified)
        {
            var key = Key(ifp.Index, sender);
            if (_entries.TryGetValue(key, out var e) || targetIsOurs)
            {
                e ??= GetOrCreate(ifp.Index, sender);
                if (!e.Permanent)
                {
                    e.HardwareAddress = senderMac;
                    e.State = ArpState.Reachable;
                    e.Asked = 0;
                    e.ExpiresAt = _stack.Loop.Now + (_stack.SysctlArpMaxAge.Value * Nanos.PerSecond);
                    _stack.Loop.Schedule(e.Timer, e.ExpiresAt);
                    FlushHold(e, ifp);
                }
            }
        }

        if (op == ArpOperation.Request)
        {
            var proxy = !targetIsOurs ? Find(ifp.Index, target) : null;
            if (targetIsOurs || proxy is { Published: true, HardwareAddress: not null })
            {
                var packetOut = _stack.Pool.Rent(ArpPacket.Length);
                new ArpRepr(ArpOperation.Reply, targetIsOurs ? ifp.HardwareAddress : proxy!.HardwareAddress!.Value, target, senderMac, sender).Emit(packetOut.Data);
                _stack.EthernetOutput(ifp, packetOut, senderMac, EtherType.Arp);
                _stack.ArpStats.TxReplies++;
            }
        }
    }

    private void FlushHold(ArpEntry e, NetworkInterface ifp)
    {
        while (e.Hold.TryDequeue(out var p))
        {
            _stack.EthernetOutput(ifp, p, e.HardwareAddress!.Value, EtherType.IPv4);
        }
    }

    /// <summary>Sends a gratuitous ARP request for <paramref name="address"/> (on address assignment, as FreeBSD does).</summary>
    internal void Announce(NetworkInterface ifp, IPv4Address address)
    {
        if (ifp.IsLoopback || !ifp.IsUp)
        {
            return;
        }

        Send(ifp, ArpOperation.Request, MacAddress.Broadcast, MacAddress.Zero, address, address);
        _stack.ArpStats.TxRequests++;
    }
}
