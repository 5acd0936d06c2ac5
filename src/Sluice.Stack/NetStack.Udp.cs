using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Sockets;
using Sluice.Wire;

namespace Sluice.Stack;

public sealed partial class NetStack
{
    private readonly Dictionary<ushort, List<UdpSocket>> _udpPorts = [];
    private readonly List<RawSocket> _rawSockets = [];
    private int _nextEphemeral;

    /// <summary>socket(AF_INET|AF_INET6, SOCK_DGRAM, 0).</summary>
    public UdpSocket OpenUdp(bool ipv6 = false) => new(this, ipv6);

    /// <summary>socket(AF_INET|AF_INET6, SOCK_RAW, protocol).</summary>
    public RawSocket OpenRaw(IPProtocol protocol, bool ipv6 = false)
    {
        var s = new RawSocket(this, protocol, ipv6);
        _rawSockets.Add(s);
        return s;
    }

    /// <summary>UDP sockets, for netstat.</summary>
    public IEnumerable<UdpSocket> UdpSockets
    {
        get
        {
            foreach (var list in _udpPorts.Values)
            {
                foreach (var s in list)
                {
                    yield return s;
                }
            }
        }
    }

    internal void CloseRaw(RawSocket socket) => _rawSockets.Remove(socket);

    internal Errno UdpBind(UdpSocket socket, InetAddress address, ushort port)
    {
        var zoneError = CheckZone(address, out _);
        if (zoneError != Errno.None)
        {
            return zoneError;
        }

        // in6_pcbbind: a link-local address names one interface's address only with its zone (ifa_ifwithaddr).
        if (!address.IsUnspecified && !socket.BindAny && !(address.IsIPv6
                ? (address.V6.IsLinkLocal ? address.ScopeId != 0 && IsLocalAddress(address.V6, (int)address.ScopeId) : IsLocalAddress(address.V6)) || address.V6.IsMulticast
                : IsLocalAddress(address.V4) || address.V4.IsMulticast))
        {
            return Errno.EADDRNOTAVAIL;
        }

        if (port == 0)
        {
            var first = (int)SysctlPortFirst.Value;
            var last = (int)SysctlPortLast.Value;
            var span = last - first + 1;
            if (_nextEphemeral == 0)
            {
                _nextEphemeral = first + _random.Next(span);
            }

            for (var i = 0; i < span; i++)
            {
                var candidate = (ushort)(first + ((_nextEphemeral - first + i) % span));
                if (!_udpPorts.ContainsKey(candidate))
                {
                    port = candidate;
                    _nextEphemeral = candidate + 1;
                    break;
                }
            }

            if (port == 0)
            {
                return Errno.EADDRNOTAVAIL;
            }
        }
        else if (_udpPorts.TryGetValue(port, out var existing))
        {
            foreach (var other in existing)
            {
                if (other.IsIPv6 == socket.IsIPv6 && (other.LocalEndpoint.Address.IsUnspecified || address.IsUnspecified || other.LocalEndpoint.Address == address))
                {
                    return Errno.EADDRINUSE;
                }
            }
        }

        if (!_udpPorts.TryGetValue(port, out var list))
        {
            list = [];
            _udpPorts.Add(port, list);
        }

        list.Add(socket);
        socket.LocalEndpoint = new InetEndpoint(address, port);
        return Errno.None;
    }

    internal void UdpUnbind(UdpSocket socket)
    {
        var port = socket.LocalEndpoint.Port;
        if (port != 0 && _udpPorts.TryGetValue(port, out var list))
        {
            list.Remove(socket);
            if (list.Count == 0)
            {
                _udpPorts.Remove(port);
            }
        }
    }

    internal bool IsDirectedBroadcast(IPv4Address address)
    {
        foreach (var ifp in _interfaces)
        {
            foreach (var a in ifp.IPv4Addresses)
            {
                if (a.Broadcast is { } b && b == address)
                {
                    return true;
                }
            }
        }

        return false;
    }

    internal Errno UdpOutput(UdpSocket socket, ReadOnlySpan<byte> data, InetEndpoint remote)
    {
        var packet = Pool.Rent(UdpPacket.HeaderLength + data.Length, PacketPool.DefaultHeadroom);
        var span = packet.Data;
        data.CopyTo(span[UdpPacket.HeaderLength..]);
        new UdpHeader(socket.LocalEndpoint.Port, remote.Port).Emit(span, data.Length);
        var udp = UdpPacket.CreateUnchecked(span);
        Udp.Sent++;
        if (socket.IsIPv6)
        {
            // The destination's zone picks the interface (fe80::1%epair0a); else a bound link-local source's zone.
            var local = socket.LocalEndpoint.Address;
            var zone = ZoneInterface(remote.Address) ?? ZoneInterface(local);
            var source = local.V6;
            if (local.IsUnspecified)
            {
                var error = SelectSource(remote.Address.V6, zone, out var chosen);
                if (error != Errno.None)
                {
                    packet.Release();
                    return error;
                }

                source = chosen.V6;
            }

            udp.FillChecksumV6(source, remote.Address.V6);
            return OutputIPv6(packet, source, remote.Address.V6, IPProtocol.Udp, socket.Ttl, outInterface: zone);
        }
        else
        {
            var source = socket.LocalEndpoint.Address.IsUnspecified ? SelectSourceV4(remote.Address.V4) : socket.LocalEndpoint.Address.V4;
            if (source is null)
            {
                packet.Release();
                Ip.NoRoute++;
                return Errno.EHOSTUNREACH;
            }

            udp.FillChecksumV4(source.Value, remote.Address.V4);
            return OutputIPv4(packet, source.Value, remote.Address.V4, IPProtocol.Udp, socket.Ttl);
        }
    }

    /// <summary>UDP input for IPv4 (udp_input). The packet starts at the IP header. Takes ownership.</summary>
    private void UdpInput4(NetworkInterface ifp, Packet packet)
    {
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        var hlen = ip.HeaderLength;
        var source = ip.Source;
        var destination = ip.Destination;
        if (!UdpPacket.TryCreate(ip.Payload, out var udp))
        {
            Udp.HeaderDropped++;
            packet.Release();
            return;
        }

        Udp.Received++;
        if (udp.Length != ip.Payload.Length)
        {
            Udp.BadLength++;
            packet.Release();
            return;
        }

        if (udp.Checksum == 0)
        {
            Udp.NoChecksum++;
        }
        else if ((packet.Flags & PacketFlags.ChecksumVerified) == 0 && !udp.VerifyChecksumV4(source, destination))
        {
            Udp.BadSum++;
            packet.Release();
            return;
        }

        var sport = udp.SourcePort;
        var dport = udp.DestinationPort;
        var length = udp.Length - UdpPacket.HeaderLength;
        var multi = destination.IsBroadcast || destination.IsMulticast || (packet.Flags & (PacketFlags.Broadcast | PacketFlags.Multicast)) != 0 || IsDirectedBroadcast(destination);
        var from = new InetEndpoint(source, sport);
        if (!DeliverUdp(packet, hlen + UdpPacket.HeaderLength, length, destination, dport, from, multi, ipv6: false))
        {
            if (multi)
            {
                Udp.NoPortBroadcast++;
            }
            else
            {
                Udp.NoPort++;
                IcmpError(packet, IcmpV4Type.DestinationUnreachable, (byte)IcmpV4Unreachable.Port);
            }

            packet.Release();
        }
    }

    /// <summary>Hands a datagram to matching sockets. Returns false (keeping ownership with the caller) when none matched.</summary>
    private bool DeliverUdp(Packet packet, int payloadOffset, int length, InetAddress destination, ushort port, InetEndpoint from, bool multi, bool ipv6)
    {
        var to = new InetEndpoint(destination, port);
        if ((packet.Flags & PacketFlags.NextHop) != 0 && !multi)
        {
            // udp_input with a PACKET_TAG_IPFORWARD tag (ipfw fwd to a local address): a socket connected exactly to this
            // datagram's addresses takes it ("already got one like this?"), else the socket at the next hop and its port
            // (the datagram's own port without one), wildcards allowed. The tag is not needed after that.
            var hop = packet.NextHop;
            packet.ClearNextHop();
            if (FindUdpConnected(destination, port, from, ipv6) is { } exact)
            {
                return DeliverUdpTo(exact, packet, payloadOffset, length, from, to, ipv6);
            }

            destination = hop.Address;
            port = hop.Port != 0 ? hop.Port : port;
        }

        if (!_udpPorts.TryGetValue(port, out var list))
        {
            return false;
        }

        UdpSocket? best = null;
        var bestScore = -1;
        var matched = 0;
        for (var i = 0; i < list.Count; i++)
        {
            var s = list[i];
            if (s.IsIPv6 != ipv6)
            {
                continue;
            }

            var score = 0;
            var local = s.LocalEndpoint.Address;
            if (!local.IsUnspecified)
            {
                if (local != destination && !multi)
                {
                    continue;
                }

                score += 2;
            }

            if (s.RemoteEndpoint is { } r)
            {
                if (r != from)
                {
                    continue;
                }

                score += 4;
            }

            if (multi)
            {
                matched++;
                var copy = matched == 1 ? null : packet.Clone();
                if (copy is not null)
                {
                    QueueUdp(s, copy, payloadOffset, length, from, to);
                }
                else
                {
                    best = s;
                }

                continue;
            }

            if (score > bestScore)
            {
                best = s;
                bestScore = score;
            }
        }

        return best is not null && DeliverUdpTo(best, packet, payloadOffset, length, from, to, ipv6);
    }

    private bool DeliverUdpTo(UdpSocket socket, Packet packet, int payloadOffset, int length, InetEndpoint from, InetEndpoint to, bool ipv6)
    {
        if (socket.Tunnel is { } tunnel)
        {
            // udp_append: a kernel tunneling socket hands the whole datagram to its consumer.
            Udp.Delivered++;
            tunnel.TunnelInput(packet, payloadOffset - UdpPacket.HeaderLength, ipv6);
            return true;
        }

        QueueUdp(socket, packet, payloadOffset, length, from, to);
        return true;
    }

    /// <summary>in_pcblookup without INPLOOKUP_WILDCARD: the socket bound to exactly <paramref name="local"/> and connected to <paramref name="remote"/>.</summary>
    private UdpSocket? FindUdpConnected(InetAddress local, ushort port, InetEndpoint remote, bool ipv6)
    {
        if (!_udpPorts.TryGetValue(port, out var list))
        {
            return null;
        }

        foreach (var s in list)
        {
            if (s.IsIPv6 == ipv6 && s.LocalEndpoint.Address == local && s.RemoteEndpoint == remote)
            {
                return s;
            }
        }

        return null;
    }

    /// <summary>
    /// udp_common_ctlinput: an ICMP error quoting a datagram from a kernel tunneling socket's port goes to that tunnel.
    /// Returns false when no tunnel socket is bound to <paramref name="localPort"/>.
    /// </summary>
    private bool UdpTunnelControlInput(InetAddress localAddress, ushort localPort, byte type, byte code, int mtu, ReadOnlySpan<byte> quoted, bool ipv6)
    {
        if (!_udpPorts.TryGetValue(localPort, out var list))
        {
            return false;
        }

        foreach (var s in list)
        {
            if (s.Tunnel is { } tunnel && s.IsIPv6 == ipv6 && (s.LocalEndpoint.Address.IsUnspecified || s.LocalEndpoint.Address == localAddress))
            {
                tunnel.TunnelControlInput(type, code, mtu, quoted, ipv6);
                return true;
            }
        }

        return false;
    }

    private void QueueUdp(UdpSocket socket, Packet packet, int payloadOffset, int length, InetEndpoint from, InetEndpoint to)
    {
        packet.TrimFront(payloadOffset);
        packet.Truncate(length);
        if (!socket.Enqueue(packet, from, to))
        {
            Udp.FullSocket++;
            packet.Release();
            return;
        }

        Udp.Delivered++;
    }

    private void UdpControlInput(InetAddress localAddress, ushort localPort, InetAddress remoteAddress, ushort remotePort, Errno error)
    {
        if (!_udpPorts.TryGetValue(localPort, out var list))
        {
            return;
        }

        var remote = new InetEndpoint(remoteAddress, remotePort);
        foreach (var s in list)
        {
            if (s.RemoteEndpoint == remote && (s.LocalEndpoint.Address.IsUnspecified || s.LocalEndpoint.Address == localAddress))
            {
                s.SetRemoteError(error);
            }
        }
    }

    private bool HasRawListener(IPProtocol protocol, bool ipv6)
    {
        foreach (var s in _rawSockets)
        {
            if (s.Protocol == protocol && s.IsIPv6 == ipv6)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Gives raw sockets a zero-copy clone of a delivered packet (IPv4: from the IP header).</summary>
    private void DeliverRaw(Packet packet, IPProtocol protocol, bool ipv6)
    {
        if (_rawSockets.Count == 0 || ipv6)
        {
            return;
        }

        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        for (var i = 0; i < _rawSockets.Count; i++)
        {
            var s = _rawSockets[i];
            if (s.Protocol == protocol && !s.IsIPv6)
            {
                s.Enqueue(packet.Clone(), new RawDatagram(null!, ip.Source, ip.Destination, ip.Ttl, packet.ReceiveInterfaceIndex));
            }
        }
    }

    /// <summary>Gives IPv6 raw sockets a clone of the upper-layer message (starting at <paramref name="offset"/>).</summary>
    private void DeliverRaw6(Packet packet, int offset, IPProtocol protocol, IPv6Address source, IPv6Address destination, int hopLimit, int zone)
    {
        for (var i = 0; i < _rawSockets.Count; i++)
        {
            var s = _rawSockets[i];
            if (s.Protocol == protocol && s.IsIPv6)
            {
                var clone = packet.Clone();
                clone.TrimFront(offset);
                s.Enqueue(clone, new RawDatagram(null!, ScopeOf(source, zone), ScopeOf(destination, zone), hopLimit, packet.ReceiveInterfaceIndex));
            }
        }
    }
}
