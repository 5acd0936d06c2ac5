using System.Buffers.Binary;
using Sluice.Dummynet;
using Sluice.Pf.Config;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;
using Sluice.Wire;

namespace Sluice.Pf.Engine;

public sealed partial class PfEngine : IDummynetClient
{
    /// <summary>Marks a packet that left a pipe pf put it in (pf's PF_MTAG_FLAG_DUMMYNETED): it is not queued again.</summary>
    internal const uint DummynetCookie = 0x4000_0000;

    private int _routeDepth;
    private Packet? _whole6Copy;

    /// <summary>Packets route-to/reply-to/dup-to sent, and those dropped because the next hop was unusable.</summary>
    public ulong Routed { get; private set; }

    public ulong RouteDrops { get; private set; }

    /// <summary>
    /// What pf_test does with a passed packet after the rules: route-to/reply-to/dup-to (pf_route) and dnpipe/dnqueue
    /// (pf_dummynet). <paramref name="stateInbound"/> is the direction of the packet that created the state (or of this
    /// packet without a state): a packet the other way is a reply.
    /// </summary>
    private PfilVerdict AfterPass(Packet packet, NetworkInterface ifp, bool inbound, ref PfPacket pd, PfRuleC? r, bool stateInbound, in PfRuleActions act)
    {
        if (_syncookieReplay)
        {
            return PfilVerdict.Pass; // the SYN rebuilt from a cookie only creates the state; it goes nowhere
        }

        var a = r?.Ast;
        if (a is not null && a.Route != PfRouteType.None && !a.RoutePool.Addresses.IsEmpty && _routeDepth == 0)
        {
            // pf_route: dup-to copies every packet; route-to takes packets in the rule's direction, reply-to the others.
            var ruleDirection = a.Direction == (inbound ? PfDirection.In : PfDirection.Out);
            if (a.Route == PfRouteType.DupTo)
            {
                var copy = packet.Clone();
                if (ReferenceEquals(packet, _whole6.Packet))
                {
                    _whole6Copy = copy; // the copy of a reassembled datagram leaves as fragments too
                }

                RouteVia(copy, ifp, inbound, pd.V6, r!, filterOut: false);
                _whole6Copy = null;
            }
            else if ((a.Route == PfRouteType.RouteTo) == ruleDirection)
            {
                RouteVia(packet, ifp, inbound, pd.V6, r!, filterOut: true);
                return PfilVerdict.Consumed;
            }
        }

        if ((act.DnPipe | act.DnRPipe) != 0 && packet.DummynetCookie == 0)
        {
            // pf_pdesc_to_dnflow: the deciding rule's direction (the state's for "in and out" rules and for the default
            // rule) uses the first pipe, the other direction the second; the pipes come from the match rules and the
            // deciding rule (pf_rule_to_actions). Without a second pipe, replies are not shaped.
            var dir = a?.Direction ?? PfDirection.Both;
            var primaryInbound = dir == PfDirection.Both ? stateInbound : dir == PfDirection.In;
            var pipe = inbound == primaryInbound ? act.DnPipe : act.DnRPipe;
            if (pipe != 0)
            {
                var isPipe = (act.Flags & PfRuleActions.DnIsPipe) != 0;
                var info = new DnPacketInfo(inbound ? PfilDirection.In : PfilDirection.Out, ifp.Index, pd.V6, DummynetCookie | (uint)pipe);
                DummynetInstance.Of(_stack).Enqueue(pipe, !isPipe, packet, info, this);
                return PfilVerdict.Consumed;
            }
        }

        return PfilVerdict.Pass;
    }

    /// <summary>A packet leaves a pipe: it continues after pf's hook, marked so that pf does not queue it again.</summary>
    void IDummynetClient.Reinject(Packet packet, in DnPacketInfo info)
    {
        var ifp = _stack.InterfaceByIndex(info.InterfaceIndex);
        if (ifp is null)
        {
            packet.Release();
            return;
        }

        packet.DummynetCookie = info.Cookie;
        _stack.Reinject(packet, ifp, info.Direction, info.IPv6, this);
    }

    /// <summary>
    /// pf_route / pf_route6: picks the pool's interface and next hop (of the packet's family), decrements the TTL or hop
    /// limit of a packet routed from the input side, runs pf's outbound test on the new interface, and hands the packet
    /// to <see cref="NetStack.SendVia(Packet, IPv4Address)"/> (ARP, fragmentation, the interface's counters and taps) or
    /// <see cref="NetStack.SendVia(Packet, IPv6Address, NetworkInterface?)"/> with the pool's interface (so a
    /// link-local next hop works). Takes ownership.
    /// </summary>
    private void RouteVia(Packet packet, NetworkInterface from, bool inbound, bool v6, PfRuleC r, bool filterOut)
    {
        var pool = r.Ast.RoutePool;
        var family = v6 ? PfFamily.Inet6 : PfFamily.Inet;
        var candidates = 0;
        foreach (var c in pool.Addresses)
        {
            candidates += PoolFamilyFits(c, family) ? 1 : 0;
        }

        if (candidates == 0)
        {
            RouteDrop(packet);
            return;
        }

        var pick = pool.Type == PfPoolType.RoundRobin && candidates > 1 ? (int)(r.RoundRobin++ % (uint)candidates) : 0;
        PfPoolAddr pa = default!;
        foreach (var c in pool.Addresses)
        {
            if (PoolFamilyFits(c, family) && pick-- == 0)
            {
                pa = c;
                break;
            }
        }

        var name = pa.Interface ?? (pa.Address.Kind == PfAddrKind.DynamicInterface ? pa.Address.Name : null);
        var target = name is null ? from : _stack.FindInterface(name);
        packet.MakeWritable();
        var d = packet.Data;
        if (target is null || !target.IsUp)
        {
            RouteDrop(packet);
            return;
        }

        var explicitHop = pa.Address.Kind == PfAddrKind.AddrMask && !pa.Address.IsAny && pa.Address.Address.Family == family;
        var gw = explicitHop ? pa.Address.Address.Bits : PfPacket.ReadAddr(d, v6 ? 24 : 16, v6);
        if (inbound)
        {
            if (v6)
            {
                if (d[7] <= 1)
                {
                    RouteDrop(packet);
                    return;
                }

                d[7]--;
            }
            else
            {
                if (d[8] <= 1)
                {
                    RouteDrop(packet);
                    return;
                }

                var old = BinaryPrimitives.ReadUInt16BigEndian(d[8..]);
                d[8]--;
                BinaryPrimitives.WriteUInt16BigEndian(d[10..], PfRewrite.Fixup(BinaryPrimitives.ReadUInt16BigEndian(d[10..]), old, BinaryPrimitives.ReadUInt16BigEndian(d[8..])));
            }
        }

        if (filterOut && (inbound || target != from))
        {
            _routeDepth++;
            PfilVerdict verdict;
            try
            {
                verdict = Filter(packet, target, PfilDirection.Out, v6);
            }
            finally
            {
                _routeDepth--;
            }

            if (verdict == PfilVerdict.Consumed)
            {
                return;
            }

            if (verdict == PfilVerdict.Drop)
            {
                packet.Release();
                return;
            }
        }

        var err = v6
            ? SendV6(packet, ToV6(gw), name is null ? null : target)
            : _stack.SendVia(packet, new IPv4Address((uint)gw));
        if (err == Sluice.Stack.Sockets.Errno.None)
        {
            Routed++;
        }
        else
        {
            RouteDrops++;
        }
    }

    /// <summary>SendVia for IPv6; a datagram pf reassembled leaves as fragments again (pf_route6 → pf_refragment6).</summary>
    private Sluice.Stack.Sockets.Errno SendV6(Packet packet, IPv6Address nextHop, NetworkInterface? ifp)
    {
        var info = _whole6.Info;
        if (ReferenceEquals(packet, _whole6Copy))
        {
            _whole6Copy = null;
        }
        else if (ReferenceEquals(packet, _whole6.Packet))
        {
            _whole6 = (null, default);
        }
        else
        {
            return _stack.SendVia(packet, nextHop, ifp);
        }

        Refragmented6++;
        var err = Sluice.Stack.Sockets.Errno.None;
        foreach (var f in Refragment6(packet, info.HeaderLength, info.MaxLength, info.Id))
        {
            var e = _stack.SendVia(f, nextHop, ifp);
            err = e != Sluice.Stack.Sockets.Errno.None ? e : err;
        }

        return err;
    }

    private static bool PoolFamilyFits(PfPoolAddr c, PfFamily family) =>
        c.Address.Kind != PfAddrKind.AddrMask || c.Address.IsAny || c.Address.Address.Family == family;

    private void RouteDrop(Packet packet)
    {
        RouteDrops++;
        packet.Release();
    }
}
