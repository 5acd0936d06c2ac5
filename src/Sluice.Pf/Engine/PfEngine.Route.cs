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

    /// <summary>Packets route-to/reply-to/dup-to sent, and those dropped because the next hop was unusable.</summary>
    public ulong Routed { get; private set; }

    public ulong RouteDrops { get; private set; }

    /// <summary>
    /// What pf_test does with a passed packet after the rules: route-to/reply-to/dup-to (pf_route) and dnpipe/dnqueue
    /// (pf_dummynet). <paramref name="stateInbound"/> is the direction of the packet that created the state (or of this
    /// packet without a state): a packet the other way is a reply.
    /// </summary>
    private PfilVerdict AfterPass(Packet packet, NetworkInterface ifp, bool inbound, ref PfPacket pd, PfRuleC? r, bool stateInbound)
    {
        if (r is null)
        {
            return PfilVerdict.Pass;
        }

        var a = r.Ast;
        if (a.Route != PfRouteType.None && !a.RoutePool.Addresses.IsEmpty && _routeDepth == 0 && !pd.V6)
        {
            // pf_route: dup-to copies every packet; route-to takes packets in the rule's direction, reply-to the others.
            var ruleDirection = a.Direction == (inbound ? PfDirection.In : PfDirection.Out);
            if (a.Route == PfRouteType.DupTo)
            {
                RouteVia(packet.Clone(), ifp, inbound, r, filterOut: false);
            }
            else if ((a.Route == PfRouteType.RouteTo) == ruleDirection)
            {
                RouteVia(packet, ifp, inbound, r, filterOut: true);
                return PfilVerdict.Consumed;
            }
        }

        if ((a.DnPipe | a.DnRPipe) != 0 && packet.DummynetCookie == 0)
        {
            // pf_pdesc_to_dnflow: the rule's direction (the state's for "in and out" rules) uses the first pipe, the
            // other direction the second; without a second pipe, replies are not shaped.
            var primaryInbound = a.Direction == PfDirection.Both ? stateInbound : a.Direction == PfDirection.In;
            var pipe = inbound == primaryInbound ? a.DnPipe : a.DnRPipe;
            if (pipe != 0)
            {
                var info = new DnPacketInfo(inbound ? PfilDirection.In : PfilDirection.Out, ifp.Index, pd.V6, DummynetCookie | (uint)pipe);
                DummynetInstance.Of(_stack).Enqueue(pipe, !a.DnIsPipe, packet, info, this);
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
    /// pf_route for IPv4: picks the pool's interface and next hop, decrements the TTL of a packet routed from the input
    /// side, runs pf's outbound test on the new interface, and hands the packet to <see cref="NetStack.SendVia"/>
    /// (ARP, fragmentation, the interface's counters and taps). Takes ownership.
    /// </summary>
    private void RouteVia(Packet packet, NetworkInterface from, bool inbound, PfRuleC r, bool filterOut)
    {
        var pool = r.Ast.RoutePool;
        var index = pool.Type == PfPoolType.RoundRobin && pool.Addresses.Length > 1 ? (int)(r.RoundRobin++ % (uint)pool.Addresses.Length) : 0;
        var pa = pool.Addresses[index];
        var name = pa.Interface ?? (pa.Address.Kind == PfAddrKind.DynamicInterface ? pa.Address.Name : null);
        var target = name is null ? from : _stack.FindInterface(name);
        packet.MakeWritable();
        var d = packet.Data;
        if (target is null || !target.IsUp)
        {
            RouteDrop(packet);
            return;
        }

        var gw = pa.Address.Kind == PfAddrKind.AddrMask && !pa.Address.IsAny && pa.Address.Address.Family == PfFamily.Inet
            ? (uint)pa.Address.Address.Bits
            : BinaryPrimitives.ReadUInt32BigEndian(d[16..]);
        if (inbound)
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

        if (filterOut && (inbound || target != from))
        {
            _routeDepth++;
            PfilVerdict verdict;
            try
            {
                verdict = Filter(packet, target, PfilDirection.Out, ipv6: false);
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

        if (_stack.SendVia(packet, new IPv4Address(gw)) == Sluice.Stack.Sockets.Errno.None)
        {
            Routed++;
        }
        else
        {
            RouteDrops++;
        }
    }

    private void RouteDrop(Packet packet)
    {
        RouteDrops++;
        packet.Release();
    }
}
