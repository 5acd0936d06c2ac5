using System.Buffers.Binary;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;
using Sluice.Stack.Sockets;
using Sluice.Wire;

namespace Sluice.Stack;

public sealed partial class NetStack
{
    private readonly Dictionary<uint, IPv4InterfaceAddress> _localV4 = [];
    private readonly Reassembly4 _reassembly4;
    private ushort _ipId;

    /// <summary>True when <paramref name="address"/> is assigned to an interface of this stack.</summary>
    public bool IsLocalAddress(IPv4Address address) => _localV4.ContainsKey(address.Value);

    /// <summary>IPv4 input (ip_input). The packet starts at the IP header. Takes ownership.</summary>
    internal void IPv4Input(NetworkInterface ifp, Packet packet)
    {
        Ip.Total++;
        var data = packet.Data;
        if (data.Length < IPv4Packet.MinimumHeaderLength)
        {
            Ip.TooShort++;
            packet.Release();
            return;
        }

        if ((data[0] >> 4) != 4)
        {
            Ip.BadVersion++;
            packet.Release();
            return;
        }

        var hlen = (data[0] & 0x0f) * 4;
        if (hlen < IPv4Packet.MinimumHeaderLength || hlen > data.Length)
        {
            Ip.BadHeaderLength++;
            packet.Release();
            return;
        }

        var total = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        if (total < hlen)
        {
            Ip.BadLength++;
            packet.Release();
            return;
        }

        if (total > data.Length)
        {
            Ip.TooShort++;
            packet.Release();
            return;
        }

        if ((packet.Flags & PacketFlags.ChecksumVerified) == 0 && Checksum.Fold(Checksum.Add(data[..hlen])) != 0)
        {
            Ip.BadSum++;
            packet.Release();
            return;
        }

        // Drop link-layer padding.
        packet.Truncate(total);
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        var source = ip.Source;
        var destination = ip.Destination;

        // RFC 1122 3.2.1.3: martian sources are dropped (not from loopback).
        if (!ifp.IsLoopback && (source.IsLoopback || source.IsMulticast || source.IsBroadcast || destination.IsLoopback))
        {
            Ip.BadAddress++;
            packet.Release();
            return;
        }

        // ip_input: a packet that ip_output sent back with M_FASTFWD_OURS (a filter's local next hop on output) goes
        // straight to local delivery, past the filters.
        if (Pfil.Any && (packet.Flags & PacketFlags.LocalNextHop) == 0 && !RunInputFilter(packet, ifp, ipv6: false, 0))
        {
            return;
        }

        IPv4InputFiltered(ifp, packet);
    }

    /// <summary>ip_input after the pfil hooks: local delivery, multicast, or forwarding. Takes ownership.</summary>
    private void IPv4InputFiltered(NetworkInterface ifp, Packet packet)
    {
        // A filter may have rewritten the destination (rdr), or chosen one of our addresses as next hop (ipfw fwd,
        // M_FASTFWD_OURS): then the packet is ours whatever its destination.
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        var destination = ip.Destination;
        if ((packet.Flags & PacketFlags.LocalNextHop) != 0 || IsForUs(ifp, destination, packet.Flags))
        {
            CountInput4(ifp, destination, packet.Length);
            if (ip.IsFragment)
            {
                Ip.Fragments++;
                var whole = _reassembly4.Add(packet);
                if (whole is null)
                {
                    return;
                }

                Ip.Reassembled++;
                packet = whole;
            }

            DeliverLocalIPv4(ifp, packet);
            return;
        }

        if (destination.IsMulticast)
        {
            // No multicast routing: multicast not for a joined group is dropped.
            Ip.NotMember++;
            packet.Release();
            return;
        }

        IPv4Forward(ifp, packet);
    }

    private bool IsForUs(NetworkInterface ifp, IPv4Address destination, PacketFlags flags)
    {
        if (_localV4.ContainsKey(destination.Value) || destination.IsBroadcast)
        {
            return true;
        }

        if (destination.IsMulticast)
        {
            // All-hosts 224.0.0.1 and CARP/VRRP 224.0.0.18 are always received; others need a membership.
            return destination.Value == 0xE000_0001 || _joinedV4.Contains(destination.Value);
        }

        foreach (var a in ifp.IPv4Addresses)
        {
            if (a.Broadcast is { } b && b == destination)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>ip_input's per-address count: the address the packet is for, or the one whose subnet broadcast it is.</summary>
    private void CountInput4(NetworkInterface ifp, IPv4Address destination, int length)
    {
        if (_localV4.TryGetValue(destination.Value, out var ia))
        {
            ia.Counters.CountIn(length);
            return;
        }

        foreach (var a in ifp.IPv4Addresses)
        {
            if (a.Broadcast is { } b && b == destination)
            {
                a.Counters.CountIn(length);
                return;
            }
        }
    }

    private readonly HashSet<uint> _joinedV4 = [];

    /// <summary>Joins an IPv4 multicast group (all interfaces).</summary>
    public void JoinGroup(IPv4Address group) => _joinedV4.Add(group.Value);

    /// <summary>Leaves an IPv4 multicast group.</summary>
    public void LeaveGroup(IPv4Address group) => _joinedV4.Remove(group.Value);

    private void DeliverLocalIPv4(NetworkInterface ifp, Packet packet)
    {
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        var protocol = ip.Protocol;
        Ip.Delivered++;
        DeliverRaw(packet, protocol, ipv6: false);
        switch (protocol)
        {
            case IPProtocol.Icmp:
                IcmpInput(ifp, packet);
                break;
            case IPProtocol.Udp:
                UdpInput4(ifp, packet);
                break;
            default:
                if (_protocols[(byte)protocol] is { } handler)
                {
                    handler.Input(ifp, packet, ip.HeaderLength, ipv6: false);
                    break;
                }

                if (!HasRawListener(protocol, ipv6: false))
                {
                    Ip.NoProtocol++;
                    Ip.Delivered--;
                    IcmpError(packet, IcmpV4Type.DestinationUnreachable, (byte)IcmpV4Unreachable.Protocol);
                }

                packet.Release();
                break;
        }
    }

    /// <summary>ip_forward: routes a packet not addressed to us. Takes ownership.</summary>
    private void IPv4Forward(NetworkInterface ifp, Packet packet)
    {
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        if (SysctlIpForwarding.Value == 0 || (packet.Flags & (PacketFlags.Broadcast | PacketFlags.Multicast)) != 0
            || ip.Source.IsUnspecified || ip.Destination.IsUnspecified || (ip.Destination.Value >> 28) == 0xF)
        {
            Ip.CantForward++;
            packet.Release();
            return;
        }

        if (ip.Ttl <= 1)
        {
            IcmpError(packet, IcmpV4Type.TimeExceeded, 0);
            Ip.CantForward++;
            packet.Release();
            return;
        }

        var route = Routes4.Lookup(ip.Destination);
        if (route is null || (route.Flags & (Routing.RouteFlags.Reject | Routing.RouteFlags.Blackhole)) != 0)
        {
            Ip.NoRoute++;
            Ip.CantForward++;
            if (route is null || (route.Flags & Routing.RouteFlags.Reject) != 0)
            {
                IcmpError(packet, IcmpV4Type.DestinationUnreachable, (byte)IcmpV4Unreachable.Host);
            }

            packet.Release();
            return;
        }

        packet.MakeWritable();
        ip = IPv4Packet.CreateUnchecked(packet.Data);
        // RFC 1624 incremental update for TTL-1 (the TTL is the high byte of its 16-bit word).
        var oldWord = (ushort)((ip.Ttl << 8) | (byte)ip.Protocol);
        ip.Ttl--;
        var newWord = (ushort)((ip.Ttl << 8) | (byte)ip.Protocol);
        ip.HeaderChecksum = Checksum.Update(ip.HeaderChecksum, oldWord, newWord);
        packet.Flags |= PacketFlags.Forwarded;
        Ip.Forwarded++;
        route.Uses++;
        IPv4Transmit(packet, route, forwarded: true);
    }

    /// <summary>
    /// Sends a transport payload over IPv4: prepends a 20-byte header. The packet starts at the transport header.
    /// Takes ownership; returns the error ip_output would (the packet is gone either way).
    /// </summary>
    public Errno OutputIPv4(Packet packet, IPv4Address source, IPv4Address destination, IPProtocol protocol,
        int ttl = -1, byte tos = 0, bool dontFragment = false)
    {
        if (source.IsUnspecified)
        {
            var chosen = SelectSourceV4(destination);
            if (chosen is null)
            {
                Ip.NoRoute++;
                packet.Release();
                return Errno.EHOSTUNREACH;
            }

            source = chosen.Value;
        }

        if (packet.Length + IPv4Packet.MinimumHeaderLength > 65535)
        {
            packet.Release();
            return Errno.EMSGSIZE;
        }

        var header = packet.Prepend(IPv4Packet.MinimumHeaderLength);
        new IPv4Header(source, destination, protocol, packet.Length - IPv4Packet.MinimumHeaderLength,
            (byte)(ttl < 0 ? SysctlIpTtl.Value : ttl), tos, NextIpId(), dontFragment).Emit(header);
        Ip.LocalOut++;
        return OutputIPv4Raw(packet);
    }

    /// <summary>Sends a complete IPv4 packet (header included, checksum valid) from this host. Takes ownership.</summary>
    public Errno OutputIPv4Raw(Packet packet)
    {
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        var destination = ip.Destination;
        if (_localV4.TryGetValue(destination.Value, out var self))
        {
            // The host route to a local address carries that address as its nh_ifa.
            self.Counters.CountOut(packet.Length);
            return LoopbackOutput(packet);
        }

        if (destination.IsLoopback)
        {
            return LoopbackOutput(packet);
        }

        if (destination.IsBroadcast || destination.IsMulticast)
        {
            var ifp = InterfaceForSourceV4(ip.Source);
            if (ifp is null)
            {
                Ip.NoRoute++;
                packet.Release();
                return Errno.ENETUNREACH;
            }

            if (!ifp.IsUp)
            {
                packet.Release();
                return Errno.ENETDOWN;
            }

            var mac = destination.IsBroadcast ? MacAddress.Broadcast : MacAddress.FromIPv4Multicast(destination);
            if (!RunOutputFilter(packet, ifp, ipv6: false, out var gone))
            {
                return gone;
            }

            EthernetOutput(ifp, packet, mac, EtherType.IPv4);
            return Errno.None;
        }

        var route = Routes4.Lookup(destination);
        if (route is null)
        {
            Ip.NoRoute++;
            packet.Release();
            return Errno.EHOSTUNREACH;
        }

        if ((route.Flags & (Routing.RouteFlags.Reject | Routing.RouteFlags.Blackhole)) != 0)
        {
            packet.Release();
            return (route.Flags & Routing.RouteFlags.Reject) != 0 ? Errno.EHOSTUNREACH : Errno.None;
        }

        route.Uses++;
        return IPv4Transmit(packet, route, forwarded: false);
    }

    private Errno IPv4Transmit(Packet packet, Routing.Route<IPv4Address> route, bool forwarded)
    {
        var ifp = InterfaceByIndex(route.InterfaceIndex);
        if (ifp is null || !ifp.IsUp)
        {
            if (forwarded)
            {
                IcmpError(packet, IcmpV4Type.DestinationUnreachable, (byte)IcmpV4Unreachable.Host);
                Ip.CantForward++;
            }

            Ip.NoRoute++;
            packet.Release();
            return ifp is null ? Errno.EHOSTUNREACH : Errno.ENETDOWN;
        }

        if (ifp.IsLoopback)
        {
            return LoopbackOutput(packet);
        }

        if (!RunOutputFilter(packet, ifp, ipv6: false, out var gone))
        {
            return gone;
        }

        return IPv4TransmitFiltered(ifp, packet, route, forwarded);
    }

    /// <summary>ip_output after the pfil hooks: fragmentation and link-layer resolution. Takes ownership.</summary>
    private Errno IPv4TransmitFiltered(NetworkInterface ifp, Packet packet, Routing.Route<IPv4Address> route, bool forwarded)
    {
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        var destination = ip.Destination;
        var nextHop = (route.Flags & Routing.RouteFlags.Gateway) != 0 && route.Gateway is { } gw ? gw : destination;
        var mtu = route.Mtu > 0 ? Math.Min(route.Mtu, ifp.Mtu) : ifp.Mtu;
        if (packet.Length > mtu && !IsSegmentOffload(ifp, packet))
        {
            if (ip.DontFragment)
            {
                Ip.CantFragment++;
                if (forwarded)
                {
                    IcmpError(packet, IcmpV4Type.DestinationUnreachable, (byte)IcmpV4Unreachable.FragmentationNeeded, mtu);
                }

                packet.Release();
                return Errno.EMSGSIZE;
            }

            return FragmentAndSend(ifp, packet, nextHop, mtu, route.Ifa);
        }

        // ip_output: "Record statistics for this interface address" (the nexthop's ifa), per packet sent.
        route.Ifa?.CountOut(packet.Length);
        SendToNextHop(ifp, packet, nextHop);
        return Errno.None;
    }

    /// <summary>True for a TCP super-segment (<see cref="Packet.GsoSize"/>) that the interface's link segments itself (TSO).</summary>
    private static bool IsSegmentOffload(NetworkInterface ifp, Packet packet) =>
        packet.GsoSize != 0 && ifp.Link is { } link && packet.Length <= link.MaxSegmentOffload;

    /// <summary>
    /// Sends a complete IPv4 packet (header included) to <paramref name="nextHop"/> instead of the destination's route
    /// (ipfw `fwd`, pf `route-to`): the next hop must be reachable (a connected network, a host route, or a gateway
    /// route, whose gateway is then used). No filters run. Takes ownership.
    /// </summary>
    public Errno SendVia(Packet packet, IPv4Address nextHop)
    {
        if (_localV4.ContainsKey(nextHop.Value))
        {
            return LoopbackOutput(packet);
        }

        var route = Routes4.Lookup(nextHop);
        var ifp = route is null ? null : InterfaceByIndex(route.InterfaceIndex);
        if (route is null || ifp is null || !ifp.IsUp || ifp.IsLoopback)
        {
            Ip.NoRoute++;
            packet.Release();
            return Errno.EHOSTUNREACH;
        }

        var hop = (route.Flags & Routing.RouteFlags.Gateway) != 0 && route.Gateway is { } gw ? gw : nextHop;
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        if (packet.Length > ifp.Mtu)
        {
            if (ip.DontFragment)
            {
                Ip.CantFragment++;
                packet.Release();
                return Errno.EMSGSIZE;
            }

            return FragmentAndSend(ifp, packet, hop, ifp.Mtu);
        }

        SendToNextHop(ifp, packet, hop);
        return Errno.None;
    }

    private void SendToNextHop(NetworkInterface ifp, Packet packet, IPv4Address nextHop)
    {
        foreach (var a in ifp.IPv4Addresses)
        {
            if (a.Broadcast is { } b && b == nextHop)
            {
                EthernetOutput(ifp, packet, MacAddress.Broadcast, EtherType.IPv4);
                return;
            }
        }

        Arp.Resolve(ifp, nextHop, packet);
    }

    /// <summary>Runs the input hooks from <paramref name="start"/>; false when the packet was dropped (and released) or taken.</summary>
    private bool RunInputFilter(Packet packet, NetworkInterface ifp, bool ipv6, int start)
    {
        var verdict = Pfil.Run(packet, ifp, PfilDirection.In, ipv6, start);
        if (verdict == PfilVerdict.Pass)
        {
            return true;
        }

        if (verdict == PfilVerdict.Drop)
        {
            if (ipv6)
            {
                Ip6.FilterDropped++;
            }
            else
            {
                Ip.FilterDropped++;
            }

            packet.Release();
        }

        return false;
    }

    /// <summary>
    /// Continues a packet that <paramref name="filter"/> took (<see cref="PfilVerdict.Consumed"/>, e.g. into a dummynet
    /// pipe) where it left off: the remaining hooks run, then input or output processing goes on. The packet starts at
    /// its IP header. Takes ownership.
    /// </summary>
    /// <param name="packet">The packet, starting at its IP header.</param>
    /// <param name="ifp">The interface the packet was crossing when the filter took it.</param>
    /// <param name="direction">Which hook took it.</param>
    /// <param name="ipv6">Address family.</param>
    /// <param name="filter">The filter that took it.</param>
    /// <param name="rerunFilter">
    /// Run <paramref name="filter"/> itself again first (ipfw with net.inet.ip.fw.one_pass=0 continues at the rule after
    /// the pipe; it recognises the packet by its dummynet cookie).
    /// </param>
    public void Reinject(Packet packet, NetworkInterface ifp, PfilDirection direction, bool ipv6, IPacketFilter filter, bool rerunFilter = false)
    {
        var index = Pfil.IndexOf(filter);
        var start = index + (rerunFilter ? 0 : 1);
        if (index < 0 || ifp.Stack != this)
        {
            // The filter was removed or the interface moved meanwhile: FreeBSD frees the packet.
            packet.Release();
            return;
        }

        if (direction == PfilDirection.In)
        {
            if (!RunInputFilter(packet, ifp, ipv6, start))
            {
                return;
            }

            if (ipv6)
            {
                IPv6InputFiltered(ifp, packet);
            }
            else
            {
                IPv4InputFiltered(ifp, packet);
            }

            return;
        }

        if (!RunOutputFilter(packet, ifp, ipv6, out _, start))
        {
            return;
        }

        if (ipv6)
        {
            IPv6TransmitFiltered(ifp, packet);
            return;
        }

        var destination = IPv4Packet.CreateUnchecked(packet.Data).Destination;
        if (destination.IsBroadcast || destination.IsMulticast)
        {
            EthernetOutput(ifp, packet, destination.IsBroadcast ? MacAddress.Broadcast : MacAddress.FromIPv4Multicast(destination), EtherType.IPv4);
            return;
        }

        var route = Routes4.Lookup(destination);
        if (route is null)
        {
            Ip.NoRoute++;
            packet.Release();
            return;
        }

        IPv4TransmitFiltered(ifp, packet, route, (packet.Flags & PacketFlags.Forwarded) != 0);
    }

    private bool RunOutputFilter(Packet packet, NetworkInterface ifp, bool ipv6, out Errno error, int start = 0)
    {
        error = Errno.None;
        if (!Pfil.Any)
        {
            return true;
        }

        var verdict = Pfil.Run(packet, ifp, PfilDirection.Out, ipv6, start);
        if (verdict == PfilVerdict.Pass)
        {
            if ((packet.Flags & PacketFlags.LocalNextHop) != 0)
            {
                // ip_output/ip6_output: a filter chose one of our addresses as next hop (M_FASTFWD_OURS): the packet
                // goes back to input through the loopback and is delivered locally.
                error = LoopbackOutput(packet);
                return false;
            }

            return true;
        }

        if (verdict == PfilVerdict.Drop)
        {
            if (ipv6)
            {
                Ip6.FilterDropped++;
            }
            else
            {
                Ip.FilterDropped++;
            }

            packet.Release();
            error = Errno.EACCES;
        }

        return false;
    }

    /// <summary>ip_fragment: splits an oversized packet into fragments of at most <paramref name="mtu"/> bytes.</summary>
    private Errno FragmentAndSend(NetworkInterface ifp, Packet packet, IPv4Address nextHop, int mtu, AddressCounters? ifa = null)
    {
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        var hlen = ip.HeaderLength;
        var chunk = (mtu - hlen) & ~7;
        if (chunk < 8)
        {
            Ip.CantFragment++;
            packet.Release();
            return Errno.EMSGSIZE;
        }

        var payload = ip.Payload;
        var baseOffset = ip.FragmentOffset;
        var lastHasMore = ip.MoreFragments;
        for (var offset = 0; offset < payload.Length; offset += chunk)
        {
            var length = Math.Min(chunk, payload.Length - offset);
            var more = offset + length < payload.Length || lastHasMore;
            var fragment = Pool.Rent(hlen + length);
            fragment.CopyMetadataFrom(packet);
            var data = fragment.Data;
            ip.Header.CopyTo(data);
            payload.Slice(offset, length).CopyTo(data[hlen..]);
            var f = IPv4Packet.CreateUnchecked(data);
            f.TotalLength = (ushort)(hlen + length);
            f.SetFragment(false, more, baseOffset + offset);
            f.FillChecksum();
            Ip.OutputFragments++;
            ifa?.CountOut(fragment.Length);
            SendToNextHop(ifp, fragment, nextHop);
        }

        Ip.Fragmented++;
        packet.Release();
        return Errno.None;
    }

    private Errno LoopbackOutput(Packet packet)
    {
        var lo = Loopback;
        if (!lo.IsUp)
        {
            packet.Release();
            return Errno.ENETDOWN;
        }

        lo.Counters.OutputPackets++;
        lo.Counters.OutputBytes += packet.Length;
        packet.Flags |= PacketFlags.Loopback | PacketFlags.ChecksumVerified;
        Loop.Post(_loopbackSink, packet);
        return Errno.None;
    }

    private IPv4Address? SelectSourceV4(IPv4Address destination)
    {
        if (_localV4.ContainsKey(destination.Value))
        {
            return destination;
        }

        if (destination.IsLoopback)
        {
            return IPv4Address.Loopback;
        }

        var route = Routes4.Lookup(destination);
        var ifp = route is null ? null : InterfaceByIndex(route.InterfaceIndex);
        if (ifp is null)
        {
            return null;
        }

        var nextHop = (route!.Flags & Routing.RouteFlags.Gateway) != 0 && route.Gateway is { } gw ? gw : destination;
        foreach (var a in ifp.IPv4Addresses)
        {
            if (a.Contains(nextHop))
            {
                return a.Address;
            }
        }

        return ifp.PrimaryIPv4?.Address;
    }

    private NetworkInterface? InterfaceForSourceV4(IPv4Address source)
    {
        foreach (var ifp in _interfaces)
        {
            foreach (var a in ifp.IPv4Addresses)
            {
                if (a.Address == source)
                {
                    return ifp;
                }
            }
        }

        foreach (var ifp in _interfaces)
        {
            if (!ifp.IsLoopback && ifp.IsUp && ifp.IPv4Addresses.Count > 0)
            {
                return ifp;
            }
        }

        return null;
    }

    private ushort NextIpId()
    {
        // FreeBSD randomises IP ids (net.inet.ip.random_id) or counts; a counter seeded from the stack's RNG.
        if (_ipId == 0)
        {
            _ipId = (ushort)_random.Next(1, 65536);
        }

        return _ipId++;
    }
}
