using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Routing;
using Sluice.Stack.Sysctl;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack;

public sealed partial class NetStack
{
    private LoopbackSink? _loopback;

    private LoopbackSink _loopbackSink => _loopback ??= new LoopbackSink(this);

    internal SysctlInt SysctlIpForwarding = null!;
    internal SysctlInt SysctlIp6Forwarding = null!;
    internal SysctlInt SysctlIpTtl = null!;
    internal SysctlInt SysctlIp6HopLimit = null!;
    internal SysctlInt SysctlIcmpLimit = null!;
    internal SysctlInt SysctlIcmpBmcastEcho = null!;
    internal SysctlInt SysctlIcmpTimestampReply = null!;
    internal SysctlInt SysctlIcmpQuoteLength = null!;
    internal SysctlInt SysctlIcmp6NodeInfo = null!;
    internal SysctlInt SysctlArpMaxAge = null!;
    internal SysctlInt SysctlArpMaxTries = null!;
    internal SysctlInt SysctlArpWait = null!;
    internal SysctlInt SysctlArpMaxHold = null!;
    internal SysctlInt SysctlIpMaxFragPackets = null!;
    internal SysctlInt SysctlIpMaxFragsPerPacket = null!;
    internal SysctlInt SysctlIp6MaxFragPackets = null!;
    internal SysctlInt SysctlIp6MaxFragsPerPacket = null!;
    internal SysctlInt SysctlUdpRecvSpace = null!;
    internal SysctlInt SysctlUdpMaxDgram = null!;
    internal SysctlInt SysctlPortFirst = null!;
    internal SysctlInt SysctlPortLast = null!;
    internal SysctlInt SysctlDadCount = null!;
    internal SysctlInt SysctlNd6GcTimer = null!;

    /// <summary>Registers this VNET's sysctls with FreeBSD's names, defaults and descriptions.</summary>
    private void RegisterSysctls()
    {
        var t = Sysctl;
        t.AddString("kern.hostname", "Hostname", () => Hostname, v =>
        {
            Hostname = v;
            return null;
        });
        t.AddComputed("kern.ostype", "Operating system type", static () => "FreeBSD");
        t.AddComputed("kern.osrelease", "Operating system release", static () => "14.3-RELEASE");
        t.AddComputed("kern.msgbuf", "Contents of kernel message buffer", () => Messages.Read(all: true));
        SysctlIpForwarding = t.AddInt("net.inet.ip.forwarding", "Enable IP forwarding between interfaces", 0, 0, 1);
        SysctlIpTtl = t.AddInt("net.inet.ip.ttl", "Maximum TTL on IP packets", 64, 1, 255);
        SysctlIpMaxFragPackets = t.AddInt("net.inet.ip.maxfragpackets", "Maximum number of IPv4 fragment reassembly queue entries", 1024, 0, 1 << 20);
        SysctlIpMaxFragsPerPacket = t.AddInt("net.inet.ip.maxfragsperpacket", "Maximum number of IPv4 fragments allowed per packet", 16, 1, 1024);
        SysctlPortFirst = t.AddInt("net.inet.ip.portrange.first", "", 10000, 1, 65535);
        SysctlPortLast = t.AddInt("net.inet.ip.portrange.last", "", 65535, 1, 65535);
        SysctlIcmpLimit = t.AddInt("net.inet.icmp.icmplim", "Maximum number of ICMP responses per second", 200, 0, 1_000_000);
        SysctlIcmpBmcastEcho = t.AddInt("net.inet.icmp.bmcastecho", "Reply to multicast/broadcast ICMP echo", 0, 0, 1);
        SysctlIcmpTimestampReply = t.AddInt("net.inet.icmp.tstamprepl", "Respond to ICMP Timestamp packets", 1, 0, 1);
        SysctlIcmpQuoteLength = t.AddInt("net.inet.icmp.quotelen", "Number of bytes from original packet to quote in ICMP reply", 548, 8, 1500);
        SysctlUdpRecvSpace = t.AddInt("net.inet.udp.recvspace", "Maximum space for incoming UDP datagrams", 42080, 1, 1 << 24);
        SysctlUdpMaxDgram = t.AddInt("net.inet.udp.maxdgram", "Maximum outgoing UDP datagram size", 9216, 1, 65535);
        SysctlArpMaxAge = t.AddInt("net.link.ether.inet.max_age", "ARP entry lifetime in seconds", 1200, 1, int.MaxValue);
        SysctlArpMaxTries = t.AddInt("net.link.ether.inet.maxtries", "ARP resolution attempts before returning error", 5, 1, 100);
        SysctlArpWait = t.AddInt("net.link.ether.inet.wait", "Incomplete ARP entry lifetime in seconds", 20, 1, 3600);
        SysctlArpMaxHold = t.AddInt("net.link.ether.inet.maxhold", "Number of packets to hold per ARP entry", 16, 1, 1024);
        SysctlIp6Forwarding = t.AddInt("net.inet6.ip6.forwarding", "Enable forwarding of IPv6 packets between interfaces", 0, 0, 1);
        SysctlIp6HopLimit = t.AddInt("net.inet6.ip6.hlim", "Default hop limit to use for outgoing IPv6 packets", 64, 1, 255);
        SysctlIp6MaxFragPackets = t.AddInt("net.inet6.ip6.maxfragpackets", "Default maximum number of outstanding fragmented IPv6 packets", 1024, 0, 1 << 20);
        SysctlIp6MaxFragsPerPacket = t.AddInt("net.inet6.ip6.maxfragsperpacket", "Maximum allowed number of fragments per packet", 16, 1, 1024);
        SysctlDadCount = t.AddInt("net.inet6.ip6.dad_count", "Number of times to probe for duplicate addresses", 1, 0, 15);
        SysctlNd6GcTimer = t.AddInt("net.inet6.ip6.nd6_gctimer", "Lifetime of stale neighbour entries in seconds", 86400, 1, int.MaxValue);
        RegisterMldSysctls(t);
        SysctlIcmp6NodeInfo = t.AddInt("net.inet6.icmp6.nodeinfo", "Enable replies to ICMPv6 node information queries", 0, -1, 3);
    }

    internal void OnAddressAdded(NetworkInterface ifp, IPv4InterfaceAddress ifa)
    {
        _localV4[ifa.Address.Value] = ifa;
        if (ifp.IsLoopback)
        {
            // lo0: 127.0.0.1 is reachable as a host route via lo0 (127.0.0.1 link#1 UH lo0).
            Routes4.TryAdd(new Route<IPv4Address>(ifa.Address, 32, null, ifp.Index, RouteFlags.Up | RouteFlags.Host) { Ifa = ifa.Counters }, out _);
            return;
        }

        if (ifa.PrefixLength < 32)
        {
            Routes4.TryAdd(new Route<IPv4Address>(ifa.Network, ifa.PrefixLength, null, ifp.Index, RouteFlags.Up) { Ifa = ifa.Counters }, out _);
        }

        // The address itself is reached through lo0 (FreeBSD: "192.0.2.1 link#2 UHS lo0").
        Routes4.TryAdd(new Route<IPv4Address>(ifa.Address, 32, null, Loopback.Index, RouteFlags.Up | RouteFlags.Host | RouteFlags.Static) { GatewayInterfaceIndex = ifp.Index, Ifa = ifa.Counters }, out _);
        Arp.Announce(ifp, ifa.Address);
    }

    internal void OnAddressRemoved(NetworkInterface ifp, IPv4InterfaceAddress ifa)
    {
        if (_localV4.TryGetValue(ifa.Address.Value, out var owner) && ReferenceEquals(owner, ifa))
        {
            _localV4.Remove(ifa.Address.Value);
        }

        Routes4.TryDelete(ifa.Address, 32, out _);
        if (!ifp.IsLoopback && ifa.PrefixLength < 32)
        {
            var route = Routes4.Find(ifa.Network, ifa.PrefixLength);
            if (route is not null && route.InterfaceIndex == ifp.Index && route.Gateway is null)
            {
                Routes4.TryDelete(ifa.Network, ifa.PrefixLength, out _);
            }
        }
    }

    internal void OnAddressAdded(NetworkInterface ifp, IPv6InterfaceAddress ifa)
    {
        _localV6[KeyFor(ifa.Address, ifp.Index)] = (ifp, ifa);
        var zone = Routing.IPv6RouteTable.IsScoped(ifa.Address) ? ifp.Index : 0;

        // in6_update_ifa → nd6_prefix_onlink: the prefix route (fe80::%lo0/64 link#1 U lo0, 2001:db8::/64 link#2 U em0).
        if (ifa.PrefixLength < 128)
        {
            Routes6.TryAdd(new Route<IPv6Address>(ifa.Address.Mask(ifa.PrefixLength), ifa.PrefixLength, null, ifp.Index, RouteFlags.Up)
            {
                Zone = zone,
                Ifa = ifa.Counters,
            }, out _);
        }

        if (ifp.IsLoopback && ifa.PrefixLength == 128)
        {
            // A /128 on lo0 is its own interface route: "::1 link#1 UH lo0" [sample, vnet jail without rc]. The
            // ::1 route that /etc/rc.d/routing adds again (-iface lo0) shows as UHS on a booted host [sample].
            var flags = RouteFlags.Up | RouteFlags.Host | (ifa.Address.IsLoopback && _staticInet6Routes ? RouteFlags.Static : 0);
            Routes6.TryAdd(new Route<IPv6Address>(ifa.Address, 128, null, ifp.Index, flags) { Zone = zone, Ifa = ifa.Counters }, out _);
        }
        else
        {
            // ifa_maintain_loopback_route: the address itself via lo0, gateway link#N of its interface
            // ("fe80::1%lo0 link#1 UHS lo0", "fe80::8db:f4ff:fe5b:2fd3%xn0 link#2 UHS lo0") [sample].
            Routes6.TryAdd(new Route<IPv6Address>(ifa.Address, 128, null, Loopback.Index, RouteFlags.Up | RouteFlags.Host | RouteFlags.Static)
            {
                GatewayInterfaceIndex = ifp.Index,
                Zone = zone,
                Ifa = ifa.Counters,
            }, out _);
        }

        // in6_update_ifa joins the address's multicast groups (MLD reports them) before nd6_dad_start.
        JoinAddressGroups(ifp, ifa);
        if (!ifp.IsLoopback && (ifa.Flags & IPv6AddressFlags.NoDad) == 0)
        {
            StartDad(ifp, ifa);
        }
    }

    internal void OnAddressRemoved(NetworkInterface ifp, IPv6InterfaceAddress ifa)
    {
        if (_localV6.TryGetValue(KeyFor(ifa.Address, ifp.Index), out var owner) && ReferenceEquals(owner.Address, ifa))
        {
            _localV6.Remove(KeyFor(ifa.Address, ifp.Index));
            LeaveAddressGroups(ifp, ifa);
        }

        var zone = Routing.IPv6RouteTable.IsScoped(ifa.Address) ? ifp.Index : 0;
        var host = Routes6.Find(ifa.Address, 128, zone);
        if (host is not null && host.Gateway is null && (host.GatewayInterfaceIndex == ifp.Index || host.InterfaceIndex == ifp.Index))
        {
            Routes6.TryDelete(ifa.Address, 128, out _, zone);
        }

        if (ifa.PrefixLength < 128)
        {
            var prefix = ifa.Address.Mask(ifa.PrefixLength);
            var route = Routes6.Find(prefix, ifa.PrefixLength, zone);
            if (route is not null && route.InterfaceIndex == ifp.Index && route.Gateway is null && !OtherAddressOnPrefix(ifp, ifa))
            {
                Routes6.TryDelete(prefix, ifa.PrefixLength, out _, zone);
            }
        }
    }

    private static bool OtherAddressOnPrefix(NetworkInterface ifp, IPv6InterfaceAddress removed)
    {
        foreach (var a in ifp.IPv6Addresses)
        {
            if (!ReferenceEquals(a, removed) && a.PrefixLength == removed.PrefixLength && a.Address.MatchesPrefix(removed.Address, removed.PrefixLength))
            {
                return true;
            }
        }

        return false;
    }

    private bool _staticInet6Routes;

    /// <summary>
    /// The IPv6 routes /etc/rc.d/routing (static_inet6) installs at boot: reject routes via ::1 for the IPv4-compatible
    /// and IPv4-mapped prefixes, link-local unicast without a zone and link-local multicast, shown by FreeBSD 13/14 as
    /// <c>::/96 ::1 URS lo0</c> (route(8) asks for a gateway; nhop_set_blackhole clears RTF_GATEWAY and points the
    /// nexthop at lo0 and ::1, sys/net/route/nhop.c).
    /// </summary>
    private void AddStaticInet6Routes()
    {
        _staticInet6Routes = true;
        if (Routes6.Find(IPv6Address.Loopback, 128) is { } loopback)
        {
            loopback.Flags |= RouteFlags.Static;
        }

        ReadOnlySpan<(ulong High, ulong Low, int Length)> rejects =
        [
            (0, 0, 96),                                  // ::/96 (_v4compat)
            (0, 0x0000_FFFF_0000_0000UL, 96),            // ::ffff:0.0.0.0/96 (_v4mapped)
            (0xFE80_0000_0000_0000UL, 0, 10),            // fe80::/10 (_lla)
            (0xFF02_0000_0000_0000UL, 0, 16),            // ff02::/16 (_llma)
        ];
        foreach (var (high, low, length) in rejects)
        {
            Routes6.TryAdd(new Route<IPv6Address>(new IPv6Address(high, low), length, IPv6Address.Loopback, Loopback.Index,
                RouteFlags.Up | RouteFlags.Reject | RouteFlags.Static), out _);
        }
    }

    /// <summary>Delivers looped-back packets as input on lo0.</summary>
    private sealed class LoopbackSink(NetStack stack) : IPacketSink
    {
        public void Deliver(Packet packet)
        {
            var lo = stack.Loopback;
            lo.Counters.InputPackets++;
            lo.Counters.InputBytes += packet.Length;
            packet.ReceiveInterfaceIndex = lo.Index;
            if (packet.Length > 0 && (packet.Data[0] >> 4) == 6)
            {
                stack.IPv6Input(lo, packet);
            }
            else
            {
                stack.IPv4Input(lo, packet);
            }
        }
    }
}

public sealed partial class NetStack
{
    private readonly Ip.IIpProtocolHandler?[] _protocols = new Ip.IIpProtocolHandler?[256];

    /// <summary>Registers the handler of an IP protocol number (TCP, CARP, pfsync); UDP and ICMP are built in.</summary>
    public void RegisterProtocol(IPProtocol protocol, Ip.IIpProtocolHandler handler)
    {
        if (protocol is IPProtocol.Udp or IPProtocol.Icmp or IPProtocol.IcmpV6)
        {
            throw new ArgumentException($"{protocol} is built into the stack", nameof(protocol));
        }

        _protocols[(byte)protocol] = handler;
    }

    /// <summary>The registered handler of <paramref name="protocol"/>, if any.</summary>
    public Ip.IIpProtocolHandler? ProtocolHandler(IPProtocol protocol) => _protocols[(byte)protocol];

    /// <summary>Creates a ping engine (ping(8)) on this stack; call <see cref="Icmp.Pinger.Start"/>.</summary>
    public Icmp.Pinger CreatePinger(Icmp.PingOptions options, Icmp.IPingObserver? observer = null) => new(this, options, observer);

    /// <summary>The source address the stack would use toward <paramref name="destination"/> (in zone <paramref name="zone"/> when scoped).</summary>
    public IPv6Address? SourceFor(IPv6Address destination, NetworkInterface? zone = null) => SelectSourceV6(destination, zone);

    /// <summary>The source address the stack would use toward <paramref name="destination"/>.</summary>
    public IPv4Address? SourceFor(IPv4Address destination) => SelectSourceV4(destination);
}

public sealed partial class NetStack
{
    /// <summary>
    /// route add: adds a static route via <paramref name="gateway"/>, which must be on a connected subnet (the kernel
    /// picks the interface as rtrequest does). Returns route(8)'s error text on failure.
    /// </summary>
    public bool TryAddRoute(IPv4Address destination, int prefixLength, IPv4Address gateway, out string? error)
    {
        var via = Routes4.Lookup(gateway);
        if (via is null || (via.Flags & RouteFlags.Gateway) != 0)
        {
            error = "writing to routing socket: Network is unreachable";
            return false;
        }

        var flags = RouteFlags.Up | RouteFlags.Gateway | RouteFlags.Static | (prefixLength == 32 ? RouteFlags.Host : 0);
        return Routes4.TryAdd(new Route<IPv4Address>(destination.Mask(prefixLength), prefixLength, gateway, via.GatewayInterfaceIndex != 0 ? via.GatewayInterfaceIndex : via.InterfaceIndex, flags)
        {
            Ifa = via.Ifa, // rt_getifa_fib: the address whose subnet holds the gateway
        }, out error);
    }

    /// <summary>route add -inet6: adds a static route via <paramref name="gateway"/> (on-link or link-local via <paramref name="ifp"/>).</summary>
    public bool TryAddRoute(IPv6Address destination, int prefixLength, IPv6Address gateway, out string? error, NetworkInterface? ifp = null)
    {
        int index;
        if (ifp is not null)
        {
            index = ifp.Index;
        }
        else if (gateway.IsLinkLocal)
        {
            var first = FirstIPv6Interface();
            if (first is null)
            {
                error = "writing to routing socket: Network is unreachable";
                return false;
            }

            index = first.Index;
        }
        else
        {
            var via = Routes6.Lookup(gateway);
            if (via is null || (via.Flags & RouteFlags.Gateway) != 0)
            {
                error = "writing to routing socket: Network is unreachable";
                return false;
            }

            index = via.GatewayInterfaceIndex != 0 ? via.GatewayInterfaceIndex : via.InterfaceIndex;
        }

        var flags = RouteFlags.Up | RouteFlags.Gateway | RouteFlags.Static | (prefixLength == 128 ? RouteFlags.Host : 0);
        return Routes6.TryAdd(new Route<IPv6Address>(destination.Mask(prefixLength), prefixLength, gateway, index, flags), out error);
    }
}

public sealed partial class NetStack
{
    private readonly Dictionary<Type, object> _features = [];

    /// <summary>
    /// The per-VNET instance of a subsystem (pf, ipfw, dummynet, CARP), created on first use by
    /// <paramref name="factory"/>: every VNET gets its own, as FreeBSD virtualises their globals.
    /// </summary>
    public T Feature<T>(Func<NetStack, T> factory)
        where T : class
    {
        if (!_features.TryGetValue(typeof(T), out var value))
        {
            value = factory(this);
            _features.Add(typeof(T), value);
        }

        return (T)value;
    }

    /// <summary>The per-VNET instance of <typeparamref name="T"/> if one was created.</summary>
    public T? TryGetFeature<T>()
        where T : class => _features.TryGetValue(typeof(T), out var value) ? (T)value : null;
}
