using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;
using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack;

public sealed partial class NetStack
{
    // Keyed by address and zone (in6_ifaddrhash with the embedded scope): the same link-local address may sit on
    // several interfaces, fe80::1%epair0a and fe80::1%epair1a; global addresses have zone 0.
    private readonly Dictionary<Local6Key, (NetworkInterface Interface, IPv6InterfaceAddress Address)> _localV6 = [];

    private readonly record struct Local6Key(IPv6Address Address, int Zone);

    private static Local6Key KeyFor(IPv6Address address, int zone) => new(address, address.IsLinkLocal ? zone : 0);

    /// <summary>
    /// Finds a local address in zone <paramref name="zone"/> (an interface index). A link-local address looked up
    /// without a zone, or in lo0's (a packet looped back to our own link-local address), matches it on any interface.
    /// </summary>
    private bool TryGetLocal6(IPv6Address address, int zone, out (NetworkInterface Interface, IPv6InterfaceAddress Address) local)
    {
        if (_localV6.TryGetValue(KeyFor(address, zone), out local))
        {
            return true;
        }

        if (address.IsLinkLocal && (zone == 0 || zone == Loopback.Index))
        {
            foreach (var (key, value) in _localV6)
            {
                if (key.Address == address)
                {
                    local = value;
                    return true;
                }
            }
        }

        return false;
    }
    private readonly Reassembly6 _reassembly6;
    private uint _fragmentId6;

    /// <summary>True when <paramref name="address"/> is assigned here (tentative addresses included).</summary>
    public bool IsLocalAddress(IPv6Address address) => TryGetLocal6(address, 0, out _);

    /// <summary>True when <paramref name="address"/> is assigned here in the zone of interface <paramref name="zone"/> (0 = any).</summary>
    public bool IsLocalAddress(IPv6Address address, int zone) => TryGetLocal6(address, zone, out _);

    private bool IsUsableLocal(IPv6Address address, int zone = 0) =>
        TryGetLocal6(address, zone, out var a) && (a.Address.Flags & (IPv6AddressFlags.Tentative | IPv6AddressFlags.Duplicated)) == 0;

    /// <summary>IPv6 input (ip6_input). The packet starts at the IPv6 header. Takes ownership.</summary>
    internal void IPv6Input(NetworkInterface ifp, Packet packet)
    {
        Ip6.Total++;
        if ((ifp.Nd6Flags & Nd6Flags.IfDisabled) != 0)
        {
            Ip6.OutputDropped += 0;
            packet.Release();
            return;
        }

        if (!IPv6Packet.TryCreate(packet.Data, out var ip))
        {
            if (packet.Length >= 1 && (packet.Data[0] >> 4) != 6)
            {
                Ip6.BadVersion++;
            }
            else
            {
                Ip6.TooShort++;
            }

            packet.Release();
            return;
        }

        packet.Truncate(IPv6Packet.HeaderLength + ip.PayloadLength);
        ip = IPv6Packet.CreateUnchecked(packet.Data);
        var source = ip.Source;
        if (source.IsMulticast || (!ifp.IsLoopback && (source.IsLoopback || ip.Destination.IsLoopback)))
        {
            Ip6.BadScope++;
            packet.Release();
            return;
        }

        // ip6_input: M_FASTFWD_OURS from ip6_output (a filter's local next hop on output) skips the filters.
        if (Pfil.Any && (packet.Flags & PacketFlags.LocalNextHop) == 0 && !RunInputFilter(packet, ifp, ipv6: true, 0))
        {
            return;
        }

        IPv6InputFiltered(ifp, packet);
    }

    /// <summary>ip6_input after the pfil hooks. Takes ownership.</summary>
    private void IPv6InputFiltered(NetworkInterface ifp, Packet packet)
    {
        var ip = IPv6Packet.CreateUnchecked(packet.Data);
        var destination = ip.Destination;
        // A filter's local next hop (ipfw fwd, M_FASTFWD_OURS) makes the packet ours whatever its destination.
        if ((packet.Flags & PacketFlags.LocalNextHop) != 0 || IsForUs6(ifp, destination))
        {
            // ip6_input: "Count the packet in the ip address stats" (a ready unicast address of ours).
            if (TryGetLocal6(destination, ifp.Index, out var ours)
                && (ours.Address.Flags & (IPv6AddressFlags.Tentative | IPv6AddressFlags.Duplicated)) == 0)
            {
                ours.Address.Counters.CountIn(packet.Length);
            }

            DeliverLocalIPv6(ifp, packet);
            return;
        }

        if (destination.IsMulticast)
        {
            packet.Release();
            return;
        }

        IPv6Forward(ifp, packet);
    }

    private bool IsForUs6(NetworkInterface ifp, IPv6Address destination)
    {
        if (destination.IsMulticast)
        {
            if (destination == IPv6Address.AllNodesMulticast)
            {
                return true;
            }

            if (destination == IPv6Address.AllRoutersMulticast)
            {
                return SysctlIp6Forwarding.Value != 0;
            }

            return IsJoined6(ifp, destination) || _joinedV6.Contains(destination);
        }

        // Tentative addresses receive only ND (handled in DeliverLocalIPv6).
        return TryGetLocal6(destination, ifp.Index, out _);
    }

    private readonly HashSet<IPv6Address> _joinedV6 = [];

    /// <summary>Joins an IPv6 multicast group.</summary>
    public void JoinGroup(IPv6Address group) => _joinedV6.Add(group);

    private void DeliverLocalIPv6(NetworkInterface ifp, Packet packet)
    {
        var ip = IPv6Packet.CreateUnchecked(packet.Data);
        if (!ip.TryFindUpperLayer(out var protocol, out var offset, out var fragmentOffset))
        {
            Ip6.TooManyHeaders++;
            Icmp6Error(packet, IcmpV6Type.ParameterProblem, 0);
            packet.Release();
            return;
        }

        if (fragmentOffset >= 0)
        {
            Ip6.Fragments++;
            var whole = _reassembly6.Add(packet, fragmentOffset);
            if (whole is null)
            {
                return;
            }

            Ip6.Reassembled++;
            packet = whole;
            ip = IPv6Packet.CreateUnchecked(packet.Data);
            if (!ip.TryFindUpperLayer(out protocol, out offset, out _))
            {
                packet.Release();
                return;
            }
        }

        var destination = ip.Destination;
        if (!destination.IsMulticast && (packet.Flags & PacketFlags.LocalNextHop) == 0 && !IsUsableLocal(destination, ifp.Index) && protocol != IPProtocol.IcmpV6)
        {
            packet.Release(); // tentative address: only ND may reach it
            return;
        }

        Ip6.Delivered++;
        DeliverRaw6(packet, offset, protocol, ip.Source, destination, ip.HopLimit, InputZone6(ifp, destination));
        switch (protocol)
        {
            case IPProtocol.IcmpV6:
                Icmp6Input(ifp, packet, offset);
                break;
            case IPProtocol.Udp:
                UdpInput6(packet, offset, InputZone6(ifp, destination));
                break;
            case IPProtocol.IPv6NoNext:
                packet.Release();
                break;
            default:
                if (_protocols[(byte)protocol] is { } handler)
                {
                    handler.Input(ifp, packet, offset, ipv6: true);
                    break;
                }

                if (!HasRawListener(protocol, ipv6: true))
                {
                    Ip6.NoProtocol++;
                    // RFC 8200 4: parameter problem, code 1, pointing at the unrecognised next-header field.
                    Icmp6Error(packet, IcmpV6Type.ParameterProblem, 1, NextHeaderFieldOffset(packet.Data, offset));
                }

                packet.Release();
                break;
        }
    }

    private static int NextHeaderFieldOffset(ReadOnlySpan<byte> data, int upperOffset)
    {
        var field = 6;
        var position = IPv6Packet.HeaderLength;
        var next = data[6];
        while (position < upperOffset)
        {
            field = position;
            var length = next == (byte)IPProtocol.IPv6Fragment ? 8 : (data[position + 1] + 1) * 8;
            next = data[position];
            position += length;
        }

        return field;
    }

    private void IPv6Forward(NetworkInterface ifp, Packet packet)
    {
        var ip = IPv6Packet.CreateUnchecked(packet.Data);
        if (SysctlIp6Forwarding.Value == 0)
        {
            Ip6.CantForward++;
            packet.Release();
            return;
        }

        if (ip.Source.IsLinkLocal || ip.Destination.IsLinkLocal || ip.Source.IsUnspecified)
        {
            Ip6.BadScope++;
            Ip6.CantForward++;
            if (ip.Source.IsLinkLocal && !ip.Destination.IsLinkLocal)
            {
                Icmp6Error(packet, IcmpV6Type.DestinationUnreachable, (byte)IcmpV6Unreachable.BeyondScope);
            }

            packet.Release();
            return;
        }

        if (ip.HopLimit <= 1)
        {
            Icmp6Error(packet, IcmpV6Type.TimeExceeded, 0);
            Ip6.CantForward++;
            packet.Release();
            return;
        }

        var route = Routes6.Lookup(ip.Destination);
        var outIf = route is null ? null : InterfaceByIndex(route.InterfaceIndex);
        if (route is null || outIf is null || (route.Flags & (Routing.RouteFlags.Reject | Routing.RouteFlags.Blackhole)) != 0)
        {
            Ip6.NoRoute++;
            Ip6.CantForward++;
            if (route is null || (route.Flags & Routing.RouteFlags.Blackhole) == 0)
            {
                Icmp6Error(packet, IcmpV6Type.DestinationUnreachable,
                    (byte)(route is null ? IcmpV6Unreachable.NoRoute : IcmpV6Unreachable.RejectRoute));
            }

            packet.Release();
            return;
        }

        var mtu = route.Mtu > 0 ? Math.Min(route.Mtu, outIf.Mtu) : outIf.Mtu;
        packet.MakeWritable();
        ip = IPv6Packet.CreateUnchecked(packet.Data);
        ip.HopLimit--;
        packet.Flags |= PacketFlags.Forwarded;
        route.Uses++;
        var nextHop = route.Gateway ?? ip.Destination;

        // ip6_forward: the output hooks run first (pf may reassemble or refragment), then the MTU check.
        if (!RunOutputFilter(packet, outIf, ipv6: true, out _))
        {
            return;
        }

        if (TooBigToForward6(packet, mtu))
        {
            return;
        }

        Ip6.Forwarded++;
        IPv6Transmit(outIf, packet, nextHop, mtu);
    }

    /// <summary>A forwarded IPv6 packet larger than the link MTU: packet too big to the source (RFC 8200 5), released.</summary>
    private bool TooBigToForward6(Packet packet, int mtu)
    {
        if (packet.Length <= mtu)
        {
            return false;
        }

        Ip6.CantForward++;
        Icmp6Error(packet, IcmpV6Type.PacketTooBig, 0, mtu);
        packet.Release();
        return true;
    }

    /// <summary>
    /// Sends a transport payload over IPv6: prepends the 40-byte header. The packet starts at the upper-layer header.
    /// Takes ownership.
    /// </summary>
    public Errno OutputIPv6(Packet packet, IPv6Address source, IPv6Address destination, IPProtocol nextHeader, int hopLimit = -1, byte trafficClass = 0,
        NetworkInterface? outInterface = null)
    {
        if (source.IsUnspecified)
        {
            var error = SelectSource(destination, outInterface, out var chosen);
            if (error != Errno.None)
            {
                packet.Release();
                return error;
            }

            source = chosen.V6;
        }

        if (packet.Length > 65535)
        {
            packet.Release();
            return Errno.EMSGSIZE;
        }

        var payloadLength = packet.Length;
        var header = packet.Prepend(IPv6Packet.HeaderLength);
        var hops = hopLimit >= 0 ? hopLimit : destination.IsMulticast ? 1 : (int)SysctlIp6HopLimit.Value;
        new IPv6Header(source, destination, nextHeader, payloadLength, (byte)hops, trafficClass).Emit(header);
        Ip6.LocalOut++;
        return OutputIPv6Raw(packet, outInterface);
    }

    /// <summary>
    /// Sends a complete IPv6 packet from this host. A scoped destination (link-local, ff02::) goes out of
    /// <paramref name="outInterface"/> (its zone, <c>fe80::1%epair0a</c>) or else of the interface that owns the
    /// source address; with neither, the zoneless destination meets the table as FreeBSD's does (the
    /// <c>fe80::/10</c> and <c>ff02::/16</c> reject routes give EHOSTUNREACH). Takes ownership.
    /// </summary>
    public Errno OutputIPv6Raw(Packet packet, NetworkInterface? outInterface = null)
    {
        var ip = IPv6Packet.CreateUnchecked(packet.Data);
        var destination = ip.Destination;
        if (destination.IsLoopback || TryGetLocal6(destination, outInterface?.Index ?? InterfaceForSourceV6(ip.Source)?.Index ?? 0, out _))
        {
            CountOutput6(Loopback, packet);
            return LoopbackOutput(packet);
        }

        if (destination.IsMulticast || destination.IsLinkLocal)
        {
            var ifp = outInterface ?? InterfaceForSourceV6(ip.Source);
            if (ifp is null)
            {
                // sa6_embedscope leaves a zoneless address unscoped: the lookup meets the rc.d reject routes, if any.
                var unscoped = Routes6.Lookup(destination);
                if (unscoped is not null && (unscoped.Flags & (Routing.RouteFlags.Reject | Routing.RouteFlags.Blackhole)) != 0)
                {
                    Ip6.NoRoute++;
                    packet.Release();
                    return (unscoped.Flags & Routing.RouteFlags.Reject) != 0 ? Errno.EHOSTUNREACH : Errno.None;
                }

                ifp = FirstIPv6Interface();
            }

            if (ifp is null)
            {
                packet.Release();
                return Errno.ENETUNREACH;
            }

            if (ifp.IsLoopback)
            {
                CountOutput6(ifp, packet);
                return LoopbackOutput(packet);
            }

            if (!RunOutputFilter(packet, ifp, ipv6: true, out var gone))
            {
                return gone;
            }

            if (destination.IsMulticast)
            {
                CountOutput6(ifp, packet);
                EthernetOutput(ifp, packet, MacAddress.FromIPv6Multicast(destination), EtherType.IPv6);
            }
            else
            {
                IPv6Transmit(ifp, packet, destination, ifp.Mtu);
            }

            return Errno.None;
        }

        var route = Routes6.Lookup(destination);
        var outIf = route is null ? null : InterfaceByIndex(route.InterfaceIndex);
        if (route is null || outIf is null)
        {
            Ip6.NoRoute++;
            packet.Release();
            return Errno.EHOSTUNREACH;
        }

        if ((route.Flags & (Routing.RouteFlags.Reject | Routing.RouteFlags.Blackhole)) != 0)
        {
            packet.Release();
            return (route.Flags & Routing.RouteFlags.Reject) != 0 ? Errno.EHOSTUNREACH : Errno.None;
        }

        if (outIf.IsLoopback)
        {
            CountOutput6(outIf, packet);
            return LoopbackOutput(packet);
        }

        if (!outIf.IsUp)
        {
            packet.Release();
            return Errno.ENETDOWN;
        }

        if (!RunOutputFilter(packet, outIf, ipv6: true, out var error))
        {
            return error;
        }

        route.Uses++;
        return IPv6TransmitFiltered(outIf, packet, route);
    }

    /// <summary>IPv6 output after the pfil hooks (re-injection entry): route, fragment, resolve. Takes ownership.</summary>
    private Errno IPv6TransmitFiltered(NetworkInterface outIf, Packet packet, Routing.Route<IPv6Address>? route = null)
    {
        var destination = IPv6Packet.CreateUnchecked(packet.Data).Destination;
        if (destination.IsMulticast)
        {
            CountOutput6(outIf, packet);
            EthernetOutput(outIf, packet, MacAddress.FromIPv6Multicast(destination), EtherType.IPv6);
            return Errno.None;
        }

        route ??= Routes6.Lookup(destination);
        if (route is null || destination.IsLinkLocal)
        {
            IPv6Transmit(outIf, packet, destination, outIf.Mtu);
            return Errno.None;
        }

        var mtu = route.Mtu > 0 ? Math.Min(route.Mtu, outIf.Mtu) : outIf.Mtu;
        var nextHop = (route.Flags & Routing.RouteFlags.Gateway) != 0 && route.Gateway is { } gw ? gw : destination;
        if (packet.Length > mtu && !IsSegmentOffload(outIf, packet))
        {
            // Only the source fragments IPv6; a forwarded packet (re-injected after a filter) gets packet too big.
            if ((packet.Flags & PacketFlags.Forwarded) != 0)
            {
                return TooBigToForward6(packet, mtu) ? Errno.EMSGSIZE : Errno.None;
            }

            return Fragment6AndSend(outIf, packet, nextHop, mtu);
        }

        IPv6Transmit(outIf, packet, nextHop, mtu);
        return Errno.None;
    }

    /// <summary>
    /// Sends a complete IPv6 packet to <paramref name="nextHop"/> instead of the destination's route (pf `route-to`,
    /// ipfw `fwd`). A link-local next hop needs <paramref name="ifp"/>; otherwise the route to the next hop picks the
    /// interface. No filters run; packets larger than the MTU are refused (only the source fragments IPv6).
    /// Takes ownership.
    /// </summary>
    public Errno SendVia(Packet packet, IPv6Address nextHop, NetworkInterface? ifp = null)
    {
        if (ifp is null)
        {
            if (IsLocalAddress(nextHop))
            {
                return LoopbackOutput(packet);
            }

            var route = Routes6.Lookup(nextHop);
            ifp = route is null ? null : InterfaceByIndex(route.InterfaceIndex);
            if (route is not null && (route.Flags & Routing.RouteFlags.Gateway) != 0 && route.Gateway is { } gw)
            {
                nextHop = gw;
            }
        }

        if (ifp is null || !ifp.IsUp || ifp.IsLoopback)
        {
            Ip6.NoRoute++;
            packet.Release();
            return Errno.EHOSTUNREACH;
        }

        if (packet.Length > ifp.Mtu)
        {
            Ip6.CantFragment++;
            packet.Release();
            return Errno.EMSGSIZE;
        }

        Ndp.Resolve(ifp, nextHop, packet);
        return Errno.None;
    }

    private void IPv6Transmit(NetworkInterface ifp, Packet packet, IPv6Address nextHop, int mtu)
    {
        _ = mtu;
        CountOutput6(ifp, packet);
        if (ifp.IsLoopback)
        {
            LoopbackOutput(packet);
            return;
        }

        Ndp.Resolve(ifp, nextHop, packet);
    }

    /// <summary>Source fragmentation (ip6_fragment): only the originating host fragments IPv6.</summary>
    private Errno Fragment6AndSend(NetworkInterface ifp, Packet packet, IPv6Address nextHop, int mtu)
    {
        var ip = IPv6Packet.CreateUnchecked(packet.Data);
        if (!ip.TryFindUpperLayer(out _, out var upper, out var existing) || existing >= 0)
        {
            Ip6.CantFragment++;
            packet.Release();
            return Errno.EMSGSIZE;
        }

        var unfragmentable = upper; // headers before the upper layer stay in every fragment (no per-header split)
        var chunk = (mtu - unfragmentable - IPv6FragmentHeader.Length) & ~7;
        if (chunk < 8)
        {
            Ip6.CantFragment++;
            packet.Release();
            return Errno.EMSGSIZE;
        }

        var data = packet.Data;
        var nextField = NextHeaderFieldOffset(data, upper);
        var upperProtocol = data[nextField];
        var fragmentable = data[unfragmentable..];
        var id = ++_fragmentId6 == 0 ? ++_fragmentId6 : _fragmentId6;
        for (var offset = 0; offset < fragmentable.Length; offset += chunk)
        {
            var length = Math.Min(chunk, fragmentable.Length - offset);
            var more = offset + length < fragmentable.Length;
            var f = Pool.Rent(unfragmentable + IPv6FragmentHeader.Length + length);
            f.CopyMetadataFrom(packet);
            var span = f.Data;
            data[..unfragmentable].CopyTo(span);
            span[nextField] = (byte)IPProtocol.IPv6Fragment;
            var fh = IPv6FragmentHeader.CreateUnchecked(span.Slice(unfragmentable, IPv6FragmentHeader.Length));
            fh.Set((IPProtocol)upperProtocol, offset, more, id);
            span[unfragmentable + 1] = 0;
            fragmentable.Slice(offset, length).CopyTo(span[(unfragmentable + IPv6FragmentHeader.Length)..]);
            IPv6Packet.CreateUnchecked(span).PayloadLength = (ushort)(span.Length - IPv6Packet.HeaderLength);
            Ip6.OutputFragments++;
            CountOutput6(ifp, f);
            Ndp.Resolve(ifp, nextHop, f);
        }

        Ip6.Fragmented++;
        packet.Release();
        return Errno.None;
    }

    private IPv6Address? SelectSourceV6(IPv6Address destination, NetworkInterface? zone = null)
    {
        if (IsUsableLocal(destination, zone?.Index ?? 0))
        {
            return destination;
        }

        if (destination.IsLoopback)
        {
            return IPv6Address.Loopback;
        }

        NetworkInterface? ifp;
        if (destination.IsLinkLocal || destination.IsMulticast)
        {
            if (zone is null && Routes6.Lookup(destination) is { } unscoped && (unscoped.Flags & Routing.RouteFlags.Reject) != 0)
            {
                return null; // in6_selectsrc: a zoneless scoped destination meets fe80::/10 or ff02::/16 (EHOSTUNREACH)
            }

            ifp = zone ?? FirstIPv6Interface();
            return ifp?.LinkLocal?.Address;
        }

        var route = Routes6.Lookup(destination);
        ifp = route is null ? null : InterfaceByIndex(route.InterfaceIndex);
        if (ifp is null)
        {
            return null;
        }

        // RFC 6724, reduced: prefer a global address on the outgoing interface with the longest matching prefix.
        IPv6Address? best = null;
        var bestLength = -1;
        foreach (var a in ifp.IPv6Addresses)
        {
            if ((a.Flags & (IPv6AddressFlags.Tentative | IPv6AddressFlags.Duplicated)) != 0 || a.Address.IsLinkLocal)
            {
                continue;
            }

            var common = CommonPrefix(a.Address, destination);
            if (common > bestLength)
            {
                best = a.Address;
                bestLength = common;
            }
        }

        return best ?? ifp.LinkLocal?.Address;
    }

    private static int CommonPrefix(IPv6Address a, IPv6Address b)
    {
        var high = a.High ^ b.High;
        if (high != 0)
        {
            return System.Numerics.BitOperations.LeadingZeroCount(high);
        }

        return 64 + System.Numerics.BitOperations.LeadingZeroCount(a.Low ^ b.Low);
    }

    /// <summary>
    /// ip6_output's per-address count: the address of <paramref name="ifp"/> that in6_ifawithifp picks for the
    /// packet's source (the source itself when it is on <paramref name="ifp"/>, else the longest match of the same
    /// scope). Forwarded packets are not counted (ip6_forward sends without ip6_output). Allocation-free.
    /// </summary>
    private void CountOutput6(NetworkInterface ifp, Packet packet)
    {
        if ((packet.Flags & PacketFlags.Forwarded) != 0 || packet.Length < IPv6Packet.HeaderLength)
        {
            return;
        }

        var source = IPv6Packet.CreateUnchecked(packet.Data).Source;
        if (_localV6.TryGetValue(KeyFor(source, ifp.Index), out var own) && own.Interface == ifp)
        {
            own.Address.Counters.CountOut(packet.Length);
            return;
        }

        var scope = Scope6(source);
        IPv6InterfaceAddress? best = null;
        var bestLength = -1;
        foreach (var a in ifp.IPv6Addresses)
        {
            if (Scope6(a.Address) != scope || (a.Flags & (IPv6AddressFlags.Tentative | IPv6AddressFlags.Duplicated)) != 0)
            {
                continue;
            }

            var length = CommonPrefix(a.Address, source);
            if (length > bestLength)
            {
                best = a;
                bestLength = length;
            }
        }

        best?.Counters.CountOut(packet.Length);
    }

    // in6_addrscope, reduced: ::1 and link-local unicast are link-local scope, the rest global.
    private static int Scope6(IPv6Address address) => address.IsLinkLocal || address.IsLoopback ? 2 : 14;

    private NetworkInterface? InterfaceForSourceV6(IPv6Address source) =>
        TryGetLocal6(source, 0, out var a) && !a.Interface.IsLoopback ? a.Interface : null;

    private NetworkInterface? FirstIPv6Interface()
    {
        foreach (var ifp in _interfaces)
        {
            if (!ifp.IsLoopback && ifp.IsUp && ifp.LinkLocal is not null)
            {
                return ifp;
            }
        }

        return null;
    }

    /// <summary>UDP over IPv6. Packet starts at the IPv6 header; the UDP header is at <paramref name="offset"/>.</summary>
    private void UdpInput6(Packet packet, int offset, int zone)
    {
        var ip = IPv6Packet.CreateUnchecked(packet.Data);
        var source = ip.Source;
        var destination = ip.Destination;
        var segment = packet.Data[offset..];
        if (!UdpPacket.TryCreate(segment, out var udp))
        {
            Udp.HeaderDropped++;
            packet.Release();
            return;
        }

        Udp.Received++;
        if (udp.Length != segment.Length)
        {
            Udp.BadLength++;
            packet.Release();
            return;
        }

        if ((packet.Flags & PacketFlags.ChecksumVerified) == 0 && !udp.VerifyChecksumV6(source, destination))
        {
            Udp.BadSum++;
            packet.Release();
            return;
        }

        // udp6_input: the sender's address carries the zone it arrived in (sin6_scope_id for recvfrom).
        var from = new InetEndpoint(ScopeOf(source, zone), udp.SourcePort);
        if (!DeliverUdp(packet, offset + UdpPacket.HeaderLength, udp.Length - UdpPacket.HeaderLength, ScopeOf(destination, zone), udp.DestinationPort, from, destination.IsMulticast, ipv6: true))
        {
            if (destination.IsMulticast)
            {
                Udp.NoPortBroadcast++;
            }
            else
            {
                Udp.NoPort++;
                Icmp6Error(packet, IcmpV6Type.DestinationUnreachable, (byte)IcmpV6Unreachable.Port);
            }

            packet.Release();
        }
    }

    /// <summary>ICMPv6 input. Takes ownership.</summary>
    private void Icmp6Input(NetworkInterface ifp, Packet packet, int offset)
    {
        var ip = IPv6Packet.CreateUnchecked(packet.Data);
        var source = ip.Source;
        var destination = ip.Destination;
        var hopLimit = ip.HopLimit;
        var message = packet.Data[offset..];
        if (!IcmpV6Packet.TryCreate(message, out var icmp))
        {
            Icmp6.TooShort++;
            packet.Release();
            return;
        }

        if ((packet.Flags & PacketFlags.ChecksumVerified) == 0 && !icmp.VerifyChecksum(source, destination))
        {
            Icmp6.Checksum++;
            packet.Release();
            return;
        }

        var type = icmp.Type;
        Icmp6.InHistogram[(byte)type]++;
        switch (type)
        {
            case IcmpV6Type.EchoRequest:
                if (destination.IsMulticast && SysctlIcmp6NodeInfo.Value < 0)
                {
                    packet.Release();
                    return;
                }

                if (!_icmpLimiter.Allow())
                {
                    Icmp6.TooFreq++;
                    packet.Release();
                    return;
                }

                Icmp6Reflect(packet, offset, destination.IsMulticast ? SelectSourceV6(source) : destination, source);
                return;

            case IcmpV6Type.MulticastListenerQuery:
            case IcmpV6Type.MulticastListenerReport:
            case IcmpV6Type.MulticastListenerDone:
                // icmp6_input: MLD messages need the 24-byte header and code 0; queries and v1 reports go to mld_input.
                if (message.Length < MldMessage.Length)
                {
                    Icmp6.BadLength++;
                }
                else if (icmp.Code != 0)
                {
                    Icmp6.BadCode++;
                }
                else if (type != IcmpV6Type.MulticastListenerDone)
                {
                    MldInput(ifp, message, source, destination);
                }

                packet.Release();
                return;

            case IcmpV6Type.NeighborSolicitation:
                NeighborSolicitationInput(ifp, message, source, destination, hopLimit);
                packet.Release();
                return;

            case IcmpV6Type.NeighborAdvertisement:
                NeighborAdvertisementInput(ifp, message, destination, hopLimit);
                packet.Release();
                return;

            case IcmpV6Type.DestinationUnreachable:
            case IcmpV6Type.PacketTooBig:
            case IcmpV6Type.TimeExceeded:
            case IcmpV6Type.ParameterProblem:
                Icmp6ControlInput(type, icmp.Code, (int)icmp.Mtu, icmp.Body);
                packet.Release();
                return;

            default:
                packet.Release();
                return;
        }
    }

    /// <summary>Hands an ICMPv6 error to the transport that sent the quoted packet.</summary>
    private void Icmp6ControlInput(IcmpV6Type type, byte code, int mtu, ReadOnlySpan<byte> quoted)
    {
        if (quoted.Length < IPv6Packet.HeaderLength + 4 || (quoted[0] >> 4) != 6)
        {
            Icmp6.BadLength++;
            return;
        }

        var protocol = (IPProtocol)quoted[6];
        if (_protocols[(byte)protocol] is { } handler)
        {
            handler.ControlInput((byte)type, code, mtu, quoted, ipv6: true);
            return;
        }

        if (protocol == IPProtocol.Udp && quoted.Length >= IPv6Packet.HeaderLength + 4
            && UdpTunnelControlInput(IPv6Address.Read(quoted[8..]), System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(quoted[40..]), (byte)type, code, mtu, quoted, ipv6: true))
        {
            return;
        }

        if (protocol == IPProtocol.Udp && type == IcmpV6Type.DestinationUnreachable)
        {
            var src = IPv6Address.Read(quoted[8..]);
            var dst = IPv6Address.Read(quoted[24..]);
            var sport = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(quoted[40..]);
            var dport = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(quoted[42..]);
            var error = code == (byte)IcmpV6Unreachable.Port ? Errno.ECONNREFUSED : Errno.EHOSTUNREACH;
            UdpControlInput(src, sport, dst, dport, error);
        }
    }

    private void Icmp6Reflect(Packet packet, int offset, IPv6Address? source, IPv6Address destination)
    {
        if (source is null)
        {
            packet.Release();
            return;
        }

        packet.MakeWritable();
        packet.TrimFront(offset);
        var icmp = IcmpV6Packet.CreateUnchecked(packet.Data);
        icmp.Type = IcmpV6Type.EchoReply;
        icmp.Code = 0;
        icmp.FillChecksum(source.Value, destination);
        Icmp6.Reflect++;
        Icmp6.OutHistogram[(byte)IcmpV6Type.EchoReply]++;
        packet.Flags &= ~(PacketFlags.Broadcast | PacketFlags.Multicast | PacketFlags.ChecksumVerified | PacketFlags.Loopback);
        OutputIPv6(packet, source.Value, destination, IPProtocol.IcmpV6);
    }

    /// <summary>
    /// icmp6_error: an ICMPv6 error about <paramref name="original"/> (from its IPv6 header) to its source. Does not take
    /// ownership of <paramref name="original"/>.
    /// </summary>
    public void Icmp6Error(Packet original, IcmpV6Type type, byte code, int parameter = 0)
    {
        Icmp6.Error++;
        var data = original.Data;
        if (!IPv6Packet.TryCreate(data, out var ip))
        {
            Icmp6.CantError++;
            return;
        }

        var source = ip.Source;
        // RFC 4443 2.4(e): not to multicast destinations (except packet too big / param problem code 2), not from
        // unspecified or multicast sources, not about ICMPv6 errors.
        if (source.IsUnspecified || source.IsMulticast
            || (ip.Destination.IsMulticast && type != IcmpV6Type.PacketTooBig && !(type == IcmpV6Type.ParameterProblem && code == 2)))
        {
            Icmp6.CantError++;
            return;
        }

        if (ip.TryFindUpperLayer(out var proto, out var upper, out _) && proto == IPProtocol.IcmpV6 && data.Length > upper
            && data[upper] < 128)
        {
            Icmp6.CantError++;
            return;
        }

        if (!_icmpLimiter.Allow())
        {
            Icmp6.TooFreq++;
            return;
        }

        // RFC 4443 2.4(c): as much of the invoking packet as fits in the minimum MTU (1280).
        var quote = Math.Min(data.Length, 1280 - IPv6Packet.HeaderLength - 8);
        var packet = Pool.Rent(8 + quote);
        var span = packet.Data;
        span[..8].Clear();
        data[..quote].CopyTo(span[8..]);
        var icmp = IcmpV6Packet.CreateUnchecked(span);
        icmp.Type = type;
        icmp.Code = code;
        if (type == IcmpV6Type.PacketTooBig)
        {
            icmp.Mtu = (uint)parameter;
        }
        else if (type == IcmpV6Type.ParameterProblem)
        {
            icmp.Pointer = (uint)parameter;
        }

        var from = IsLocalAddress(ip.Destination) ? ip.Destination : SelectSourceV6(source);
        if (from is null)
        {
            packet.Release();
            return;
        }

        icmp.FillChecksum(from.Value, source);
        Icmp6.OutHistogram[(byte)type]++;
        OutputIPv6(packet, from.Value, source, IPProtocol.IcmpV6);
    }

    private void NeighborSolicitationInput(NetworkInterface ifp, Span<byte> message, IPv6Address source, IPv6Address destination, byte hopLimit)
    {
        // RFC 4861 7.1.1 validation.
        if (hopLimit != 255 || message[1] != 0 || !NdpNeighborRepr.TryParse(message, out var ns) || ns.Target.IsMulticast
            || (source.IsUnspecified && (!destination.IsSolicitedNodeMulticast || ns.LinkLayerAddress is not null)))
        {
            Icmp6.BadNeighborSolicit++;
            return;
        }

        if (!_localV6.TryGetValue(KeyFor(ns.Target, ifp.Index), out var local) || local.Interface != ifp)
        {
            return;
        }

        if ((local.Address.Flags & IPv6AddressFlags.Tentative) != 0)
        {
            if (source.IsUnspecified)
            {
                // Someone else is doing DAD for our tentative address: it is a duplicate (RFC 4862 5.4.3).
                MarkDuplicate(local.Address);
            }

            return;
        }

        if (!source.IsUnspecified && ns.LinkLayerAddress is { } mac)
        {
            Ndp.LearnFromSolicitation(ifp, source, mac);
        }

        var replyTo = source.IsUnspecified ? IPv6Address.AllNodesMulticast : source;
        SendNeighborAdvertisement(ifp, ns.Target, replyTo, solicited: !source.IsUnspecified);
    }

    private void NeighborAdvertisementInput(NetworkInterface ifp, Span<byte> message, IPv6Address destination, byte hopLimit)
    {
        if (hopLimit != 255 || message[1] != 0 || !NdpNeighborRepr.TryParse(message, out var na) || na.Target.IsMulticast
            || (na.Solicited && destination.IsMulticast))
        {
            Icmp6.BadNeighborAdvert++;
            return;
        }

        if (_localV6.TryGetValue(KeyFor(na.Target, ifp.Index), out var local))
        {
            if ((local.Address.Flags & IPv6AddressFlags.Tentative) != 0)
            {
                MarkDuplicate(local.Address);
            }

            return;
        }

        Ndp.OnAdvertisement(ifp, na.Target, na.LinkLayerAddress, na.Router, na.Solicited, na.Override);
    }

    private void MarkDuplicate(IPv6InterfaceAddress address)
    {
        address.Flags = (address.Flags & ~IPv6AddressFlags.Tentative) | IPv6AddressFlags.Duplicated;
        Icmp6.DadConflicts++;
    }

    /// <summary>Sends a Neighbor Solicitation for <paramref name="target"/>: multicast to its solicited-node group, or unicast for NUD.</summary>
    internal void SendNeighborSolicitation(NetworkInterface ifp, IPv6Address target, MacAddress? unicastTo, bool dad = false)
    {
        IPv6Address source;
        if (dad)
        {
            source = IPv6Address.Any;
        }
        else
        {
            source = PickNdSource(ifp, target);
        }

        var repr = new NdpNeighborRepr(IcmpV6Type.NeighborSolicitation, target, false, false, false, dad ? null : ifp.HardwareAddress);
        var destination = unicastTo is null ? IPv6Address.SolicitedNodeMulticast(target) : target;
        SendNd(ifp, repr, source, destination, unicastTo ?? MacAddress.FromIPv6Multicast(destination));
    }

    private void SendNeighborAdvertisement(NetworkInterface ifp, IPv6Address target, IPv6Address destination, bool solicited)
    {
        var repr = new NdpNeighborRepr(IcmpV6Type.NeighborAdvertisement, target, SysctlIp6Forwarding.Value != 0, solicited, true, ifp.HardwareAddress);
        MacAddress mac;
        if (destination.IsMulticast)
        {
            mac = MacAddress.FromIPv6Multicast(destination);
        }
        else if (Ndp.Find(ifp.Index, destination)?.HardwareAddress is { } known)
        {
            mac = known;
        }
        else
        {
            // Unknown yet: resolve through the cache (it queues and solicits).
            var packet = BuildNd(repr, target, destination);
            Ndp.Resolve(ifp, destination, packet);
            return;
        }

        SendNd(ifp, repr, target, destination, mac);
    }

    private IPv6Address PickNdSource(NetworkInterface ifp, IPv6Address target)
    {
        foreach (var a in ifp.IPv6Addresses)
        {
            if ((a.Flags & IPv6AddressFlags.Tentative) == 0 && a.Contains(target))
            {
                return a.Address;
            }
        }

        var ll = ifp.LinkLocal;
        return ll is not null && (ll.Flags & IPv6AddressFlags.Tentative) == 0 ? ll.Address : IPv6Address.Any;
    }

    private Packet BuildNd(NdpNeighborRepr repr, IPv6Address source, IPv6Address destination)
    {
        var packet = Pool.Rent(IPv6Packet.HeaderLength + repr.Length);
        var span = packet.Data;
        var message = span[IPv6Packet.HeaderLength..];
        repr.Emit(message);
        IcmpV6Packet.CreateUnchecked(message).FillChecksum(source, destination);
        new IPv6Header(source, destination, IPProtocol.IcmpV6, repr.Length, 255).Emit(span);
        Icmp6.OutHistogram[(byte)repr.Type]++;
        return packet;
    }

    private void SendNd(NetworkInterface ifp, NdpNeighborRepr repr, IPv6Address source, IPv6Address destination, MacAddress mac)
    {
        var packet = BuildNd(repr, source, destination);
        EthernetOutput(ifp, packet, mac, EtherType.IPv6);
    }

    /// <summary>Starts duplicate address detection (RFC 4862 5.4) for a new address: one NS, then RetransTimer.</summary>
    private void StartDad(NetworkInterface ifp, IPv6InterfaceAddress address)
    {
        if (ifp.IsLoopback || SysctlDadCount.Value <= 0 || (ifp.Nd6Flags & Nd6Flags.NoDad) != 0)
        {
            return;
        }

        address.Flags |= IPv6AddressFlags.Tentative;
        SendNeighborSolicitation(ifp, address.Address, null, dad: true);
        var timer = new Timer(_dadHandler, (ifp, address));
        Loop.ScheduleAfter(timer, Nanos.PerSecond * SysctlDadCount.Value);
    }

    private sealed class DadHandler : ITimerHandler
    {
        public void OnTimer(Timer timer)
        {
            var (_, address) = ((NetworkInterface, IPv6InterfaceAddress))timer.State!;
            address.Flags &= ~IPv6AddressFlags.Tentative;
        }
    }

    private readonly DadHandler _dadHandler = new();
}

public sealed partial class NetStack
{
    /// <summary>
    /// sa6_checkzone / sa6_embedscope for a socket address: a zone only on a scoped address (else EINVAL), naming an
    /// interface of this stack (else ENXIO). <paramref name="zone"/> is that interface, or null without a zone.
    /// </summary>
    public Errno CheckZone(InetAddress address, out NetworkInterface? zone)
    {
        zone = null;
        if (!address.IsIPv6 || address.ScopeId == 0)
        {
            return Errno.None;
        }

        if (!Routing.IPv6RouteTable.IsScoped(address.V6))
        {
            return Errno.EINVAL;
        }

        if (address.ScopeId > int.MaxValue || InterfaceByIndex((int)address.ScopeId) is not { } ifp)
        {
            return Errno.ENXIO;
        }

        zone = ifp;
        return Errno.None;
    }

    /// <summary>sa6_recoverscope: <paramref name="address"/> with the zone of interface <paramref name="zone"/> when it is scoped.</summary>
    internal static InetAddress ScopeOf(IPv6Address address, int zone) =>
        zone != 0 && Routing.IPv6RouteTable.IsScoped(address) ? InetAddress.Scoped(address, (uint)zone) : address;

    /// <summary>
    /// The zone of a packet that arrived on <paramref name="ifp"/> for <paramref name="destination"/>: the interface
    /// itself, or for a packet looped back to one of our link-local addresses the interface that owns it (looutput
    /// keeps the original interface as the receive interface).
    /// </summary>
    internal int InputZone6(NetworkInterface ifp, IPv6Address destination) =>
        ifp.IsLoopback && destination.IsLinkLocal && TryGetLocal6(destination, 0, out var own) ? own.Interface.Index : ifp.Index;

    /// <summary>The interface of a socket address's zone (null without one).</summary>
    internal NetworkInterface? ZoneInterface(InetAddress address) =>
        address.IsIPv6 && address.ScopeId != 0 && address.ScopeId <= int.MaxValue ? InterfaceByIndex((int)address.ScopeId) : null;

    /// <summary>
    /// in6_selectsrc for a socket: the source toward <paramref name="destination"/> (in <paramref name="zone"/> when
    /// given), scoped when link-local. A zoneless scoped destination fails as in6_selectif makes it: the rc.d reject
    /// route (fe80::/10, ff02::/16, not a host route) gives ENETUNREACH; without one, a host with more than one IPv6
    /// interface cannot tell the zone and has no route (EHOSTUNREACH).
    /// </summary>
    public Errno SelectSource(IPv6Address destination, NetworkInterface? zone, out InetAddress source)
    {
        source = default;
        var scoped = Routing.IPv6RouteTable.IsScoped(destination);

        // A zoneless link-local address is none of ours either (its embedded zone 0 matches no interface address).
        if (zone is null && !destination.IsLoopback && (scoped || !IsLocalAddress(destination))
            && Routes6.Lookup(destination) is { } route && (route.Flags & (Routing.RouteFlags.Reject | Routing.RouteFlags.Blackhole)) != 0)
        {
            // in6_selectif: "do not use a rejected or black hole route" (fe80::/10, ::ffff:0.0.0.0/96 are network routes).
            Ip6.NoRoute++;
            return (route.Flags & Routing.RouteFlags.Host) != 0 ? Errno.EHOSTUNREACH : Errno.ENETUNREACH;
        }

        if (zone is null && scoped && !destination.IsLoopback)
        {

            var candidates = 0;
            foreach (var ifp in _interfaces)
            {
                if (!ifp.IsLoopback && ifp.IsUp && ifp.LinkLocal is not null)
                {
                    candidates++;
                }
            }

            if (candidates > 1)
            {
                Ip6.NoRoute++;
                return Errno.EHOSTUNREACH;
            }
        }

        if (SelectSourceV6(destination, zone) is not { } chosen)
        {
            return Errno.EHOSTUNREACH;
        }

        var owner = zone?.Index ?? 0;
        if (chosen.IsLinkLocal && owner == 0)
        {
            owner = InterfaceForSourceV6(chosen)?.Index ?? (TryGetLocal6(chosen, 0, out var own) ? own.Interface.Index : 0);
        }

        source = ScopeOf(chosen, owner);
        return Errno.None;
    }
}
