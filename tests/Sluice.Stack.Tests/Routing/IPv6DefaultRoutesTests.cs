using Sluice.Stack.Interfaces;
using Sluice.Stack.Routing;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tests.Net;
using Sluice.Wire;
using static Sluice.Stack.Tests.Net.TestNet;

namespace Sluice.Stack.Tests.Routing;

/// <summary>
/// The IPv6 routes a FreeBSD 13/14 host shows in <c>netstat -rn -f inet6</c> after boot and after addresses are
/// configured (samples: an EC2 host with xn0, a vnet jail without rc), the scoped keys, reject routes and the
/// per-address counters.
/// </summary>
public sealed class IPv6DefaultRoutesTests
{
    private static string Row(Route<IPv6Address> r, NetStack s) =>
        $"{r.Destination}{(r.Zone != 0 ? "%" + s.InterfaceByIndex(r.Zone)!.Name : string.Empty)}/{r.PrefixLength} "
        + $"{(r.Gateway is { } g ? g.ToString() : $"link#{(r.GatewayInterfaceIndex != 0 ? r.GatewayInterfaceIndex : r.InterfaceIndex)}")} "
        + $"{r.Flags.FormatNetstatFlags()} {s.InterfaceByIndex(r.InterfaceIndex)!.Name}";

    [Fact]
    public void BootedStackHasTheRcRejectRoutesAndLoopbackRowsInRadixOrder()
    {
        var net = new TestNet();
        var s = net.Stack("h");
        var rows = s.Routes6.Entries.Select(r => Row(r, s)).ToArray();
        Assert.Equal(
        [
            "::/96 ::1 URS lo0",
            "::1/128 link#1 UHS lo0",
            "::ffff:0.0.0.0/96 ::1 URS lo0",
            "fe80::/10 ::1 URS lo0",
            "fe80::%lo0/64 link#1 U lo0",
            "fe80::1%lo0/128 link#1 UHS lo0",
            "ff02::/16 ::1 URS lo0",
        ], rows);
    }

    [Fact]
    public void WithoutRcTheVnetJailShowsOnlyTheKernelLoopbackRoutes()
    {
        var net = new TestNet();
        var s = new NetStack(net.Loop, new NetStackOptions { Name = "bare", StaticInet6Routes = false });
        var rows = s.Routes6.Entries.Select(r => Row(r, s)).ToArray();
        Assert.Equal(["::1/128 link#1 UH lo0", "fe80::%lo0/64 link#1 U lo0", "fe80::1%lo0/128 link#1 UHS lo0"], rows);
    }

    [Fact]
    public void GlobalAddressBringsLinkLocalPrefixAndHostRoutesPerInterface()
    {
        var net = new TestNet();
        var a = net.Stack("a");
        var b = net.Stack("b");
        var (ia, _) = net.Connect(a, b);
        ia.AddAddress(V6("2001:db8::1"), 64);
        var ll = IPv6Address.LinkLocalFromMac(ia.HardwareAddress);
        var rows = a.Routes6.Entries.Select(r => Row(r, a)).ToArray();
        Assert.Contains("2001:db8::/64 link#2 U epair0a", rows);
        Assert.Contains("2001:db8::1/128 link#2 UHS lo0", rows);
        Assert.Contains("fe80::%epair0a/64 link#2 U epair0a", rows);
        Assert.Contains($"{ll}%epair0a/128 link#2 UHS lo0", rows);

        // fe80::%lo0/64 (zone 1) sorts before fe80::%epair0a/64 (zone 2), both after fe80::/10.
        var order = rows.Select((r, i) => (r, i)).ToDictionary(x => x.r, x => x.i);
        Assert.True(order["fe80::/10 ::1 URS lo0"] < order["fe80::%lo0/64 link#1 U lo0"]);
        Assert.True(order["fe80::%lo0/64 link#1 U lo0"] < order["fe80::%epair0a/64 link#2 U epair0a"]);

        Assert.True(ia.RemoveAddress(V6("2001:db8::1")));
        rows = a.Routes6.Entries.Select(r => Row(r, a)).ToArray();
        Assert.DoesNotContain(rows, r => r.StartsWith("2001:db8::", StringComparison.Ordinal));
        Assert.Contains("fe80::%epair0a/64 link#2 U epair0a", rows);
    }

    [Fact]
    public void InterfaceUpConfiguresTheEui64LinkLocalOnlyWhenIPv6IsEnabled()
    {
        var net = new TestNet();
        var a = net.Stack("a");
        var b = net.Stack("b");
        var (ia, _) = net.Connect(a, b);
        ia.SetUp(true);
        Assert.Null(ia.LinkLocal); // nd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>

        ia.SetUp(false);
        ia.SetNd6Flags(ia.Nd6Flags & ~Nd6Flags.IfDisabled);
        Assert.Null(ia.LinkLocal); // still down
        ia.SetUp(true);
        Assert.NotNull(ia.LinkLocal);

        // RFC 4291 2.5.1 modified EUI-64: 02:5e:1c:00:00:0a → fe80::5e:1cff:fe00:a (universal/local bit flipped).
        var mac = ia.HardwareAddress.ToString().Split(':').Select(h => Convert.ToByte(h, 16)).ToArray();
        var expected = new IPv6Address(0xFE80_0000_0000_0000UL,
            ((ulong)(mac[0] ^ 0x02) << 56) | ((ulong)mac[1] << 48) | ((ulong)mac[2] << 40) | (0xFFUL << 32) | (0xFEUL << 24)
            | ((ulong)mac[3] << 16) | ((ulong)mac[4] << 8) | mac[5]);
        Assert.Equal(expected, ia.LinkLocal!.Address);
        Assert.Equal(64, ia.LinkLocal.PrefixLength);
        Assert.NotNull(a.Routes6.Find(V6("fe80::"), 64, ia.Index));
        Assert.Null(a.Routes6.Find(V6("fe80::"), 64)); // no unscoped fe80::/64
    }

    [Fact]
    public void ZonedLookupFindsTheInterfacePrefixAndZonelessLookupTheRejectRoute()
    {
        var net = new TestNet();
        var a = net.Stack("a");
        var b = net.Stack("b");
        var (ia, _) = net.Connect(a, b);
        ia.AddAddress(V6("2001:db8::1"), 64);
        var scoped = a.Routes6.Lookup(V6("fe80::1234"), ia.Index);
        Assert.NotNull(scoped);
        Assert.Equal(64, scoped!.PrefixLength);
        Assert.Equal(ia.Index, scoped.InterfaceIndex);

        var unscoped = a.Routes6.Lookup(V6("fe80::1234"));
        Assert.NotNull(unscoped);
        Assert.Equal(10, unscoped!.PrefixLength);
        Assert.True((unscoped.Flags & RouteFlags.Reject) != 0);

        Assert.Equal(96, a.Routes6.Lookup(V6("::ffff:192.0.2.1"))!.PrefixLength);
        Assert.Equal(16, a.Routes6.Lookup(V6("ff02::1"))!.PrefixLength);
        Assert.Null(a.Routes6.Lookup(V6("2001:db9::1"))); // no default route: nothing
    }

    [Fact]
    public void ZoneOnAGlobalDestinationIsRefusedByTheTable()
    {
        var table = new IPv6RouteTable();
        Assert.False(table.TryAdd(new Route<IPv6Address>(V6("2001:db8::"), 64, null, 2, RouteFlags.Up) { Zone = 2 }, out var error));
        Assert.Equal(RouteErrors.InvalidArgument, error);
        Assert.False(table.TryAdd(new Route<IPv6Address>(V6("fe80::"), 64, null, 2, RouteFlags.Up) { Zone = 70000 }, out _));
        Assert.True(table.TryAdd(new Route<IPv6Address>(V6("fe80::"), 64, null, 2, RouteFlags.Up) { Zone = 2 }, out _));
        Assert.True(table.TryAdd(new Route<IPv6Address>(V6("fe80::"), 64, null, 3, RouteFlags.Up) { Zone = 3 }, out _)); // other zone
        Assert.Equal(3, table.Lookup(V6("fe80::9"), 3)!.InterfaceIndex);
        Assert.Null(table.Lookup(V6("fe80::9"), 4));
        Assert.Equal(2, table.RemoveInterface(3) + table.RemoveInterface(2));
    }

    [Fact]
    public void PacketsToRejectedPrefixesFailWithEnetunreachAndForwardingAnswersUnreachable()
    {
        var net = new TestNet();
        var a = net.Stack("a");
        var b = net.Stack("b");
        var (ia, ib) = net.Connect(a, b);
        ia.AddAddress(V6("2001:db8::1"), 64, IPv6AddressFlags.NoDad);
        ib.AddAddress(V6("2001:db8::2"), 64, IPv6AddressFlags.NoDad);

        // in6_selectif refuses a reject route for the source: a network route gives ENETUNREACH (a host route EHOSTUNREACH).
        var mapped = net.Ping(a, V6("::ffff:192.0.2.1"), count: 1);
        Assert.Equal([Errno.ENETUNREACH], mapped.SendErrors);
        var zoneless = net.Ping(a, V6("fe80::5"), count: 1);
        Assert.Equal([Errno.ENETUNREACH], zoneless.SendErrors);

        // A router forwarding into a rejected prefix answers ICMPv6 unreachable (ip6_forward).
        b.Sysctl.TrySet("net.inet6.ip6.forwarding", "1");
        Assert.True(a.TryAddRoute(V6("::"), 0, V6("2001:db8::2"), out _));
        var viaRouter = net.Ping(a, V6("::ffff:192.0.2.1"), count: 1);
        Assert.Equal([Errno.ENETUNREACH], viaRouter.SendErrors); // still rejected locally first: the /96 beats ::/0
        Assert.True(a.Routes6.TryDelete(V6("::ffff:0.0.0.0"), 96, out _));
        var forwarded = net.Ping(a, V6("::ffff:192.0.2.1"), count: 1);
        Assert.Empty(forwarded.SendErrors);
        var error = Assert.Single(forwarded.Errors);
        Assert.Equal((byte)IcmpV6Type.DestinationUnreachable, error.Type);
    }

    [Fact]
    public void ZonedPingReachesTheNeighboursLinkLocalAndCountsPerAddress()
    {
        var net = new TestNet();
        var a = net.Stack("a");
        var b = net.Stack("b");
        var (ia, ib) = net.Connect(a, b);
        ia.AddAddress(V6("2001:db8::1"), 64, IPv6AddressFlags.NoDad);
        ib.AddAddress(V6("2001:db8::2"), 64, IPv6AddressFlags.NoDad);
        Assert.Equal(1, PingZoned(net, a, ib.LinkLocal!.Address, ia, 1)); // resolves the neighbour first (NS/NA count too)
        net.Loop.RunFor(10 * Sluice.Stack.Time.Nanos.PerSecond); // the MLD reports from the link-local addresses count too: let them pass
        var la = ia.LinkLocal!.Counters;
        var lb = ib.LinkLocal.Counters;
        var before = (la.OutputPackets, la.InputPackets, la.OutputBytes, lb.OutputPackets, lb.InputPackets);
        Assert.Equal(2, PingZoned(net, a, ib.LinkLocal.Address, ia, 2));

        // ip6_output counts on the source's ifa, ip6_input on the destination's: 2 echo requests, 2 replies.
        Assert.Equal(before.Item1 + 2, la.OutputPackets);
        Assert.Equal(before.Item2 + 2, la.InputPackets);
        Assert.Equal(before.Item3 + (2 * (40 + 8 + 56)), la.OutputBytes);
        Assert.Equal(before.Item4 + 2, lb.OutputPackets);
        Assert.Equal(before.Item5 + 2, lb.InputPackets);

        var ga = ia.IPv6Addresses.Single(x => x.Address == V6("2001:db8::1")).Counters;
        var gb = ib.IPv6Addresses.Single(x => x.Address == V6("2001:db8::2")).Counters;
        Assert.Equal(1, net.Ping(a, V6("2001:db8::2"), count: 1).Received);
        var g = (ga.OutputPackets, ga.InputPackets, gb.OutputPackets, gb.InputPackets);
        Assert.Equal(3, net.Ping(a, V6("2001:db8::2"), count: 3).Received);
        Assert.Equal((g.Item1 + 3, g.Item2 + 3), (ga.OutputPackets, ga.InputPackets));
        Assert.Equal((g.Item3 + 3, g.Item4 + 3), (gb.OutputPackets, gb.InputPackets));
    }

    private static int PingZoned(TestNet net, NetStack from, IPv6Address to, NetworkInterface zone, int count)
    {
        using var pinger = from.CreatePinger(new Icmp.PingOptions { Destination = to, Count = count, Interface = zone }, new Counter());
        pinger.Start();
        net.Loop.RunUntil(() => pinger.IsFinished, 60 * Sluice.Stack.Time.Nanos.PerSecond);
        return pinger.Received;
    }

    [Fact]
    public void IPv4AddressesCountInputByDestinationAndOutputByTheRoutesIfa()
    {
        var net = new TestNet();
        var a = net.Stack("a");
        var b = net.Stack("b");
        var (ia, ib) = net.Connect(a, b);
        ia.AddAddress(V4("192.0.2.1"), 24);
        ib.AddAddress(V4("192.0.2.2"), 24);
        Assert.Equal(1, net.Ping(a, V4("192.0.2.2"), count: 1).Received); // ARP first
        var ca = ia.PrimaryIPv4!.Counters;
        var cb = ib.PrimaryIPv4!.Counters;
        Assert.Equal((1L, 1L, 1L, 1L), (ca.OutputPackets, ca.InputPackets, cb.OutputPackets, cb.InputPackets));
        var result = net.Ping(a, V4("192.0.2.2"), count: 4);
        Assert.Equal(4, result.Received);
        Assert.Equal((5L, 5L), (ca.OutputPackets, ca.InputPackets));
        Assert.Equal((5L, 5L), (cb.OutputPackets, cb.InputPackets));
        Assert.Equal(5 * 84, ca.OutputBytes);

        // To itself via lo0: each echo request and each reply goes out and comes in on the same ifa.
        var self = net.Ping(a, V4("192.0.2.1"), count: 2);
        Assert.Equal(2, self.Received);
        Assert.Equal((9L, 9L), (ca.OutputPackets, ca.InputPackets));
    }

    private sealed class Counter : Icmp.IPingObserver
    {
        public void OnReply(in Icmp.PingReply reply)
        {
        }

        public void OnError(in Icmp.PingError error)
        {
        }

        public void OnSendError(ushort sequence, Errno error) => throw new InvalidOperationException(error.ToString());
    }
}
