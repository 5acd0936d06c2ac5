using Sluice.Stack.Icmp;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;
using static Sluice.Stack.Tests.Net.TestNet;

namespace Sluice.Stack.Tests.Net;

/// <summary>
/// sin6_scope_id on sockets (FreeBSD scope6.c, in6_pcb.c, in6_src.c): a zone picks the interface, arrivals carry the
/// zone they came in by, zoneless link-local peers fail with in6_selectif's errno, and one link-local address may
/// sit on two interfaces.
/// </summary>
public sealed class ScopedSocketTests
{
    private static readonly IPv6Address One = V6("fe80::1"), Two = V6("fe80::2");

    /// <summary>
    /// a has epair0a to b and epair1a to c; a's two interfaces both carry fe80::1, b and c both fe80::2 — the same
    /// addresses in two zones.
    /// </summary>
    private static (TestNet Net, NetStack A, NetStack B, NetStack C, NetworkInterface A0, NetworkInterface A1, NetworkInterface B0, NetworkInterface C0) Lab(bool rcRoutes = true)
    {
        var net = new TestNet();
        var a = rcRoutes ? net.Stack("a") : new NetStack(net.Loop, new NetStackOptions { Name = "a", StaticInet6Routes = false });
        var b = net.Stack("b");
        var c = net.Stack("c");
        var (a0, b0) = net.Connect(a, b);
        var (a1, c0) = net.Connect(a, c);
        foreach (var (ifp, address) in new[] { (a0, One), (a1, One), (b0, Two), (c0, Two) })
        {
            ifp.AddAddress(address, 64, IPv6AddressFlags.NoDad);
        }

        net.Loop.RunFor(10 * Nanos.PerSecond);
        return (net, a, b, c, a0, a1, b0, c0);
    }

    private static InetEndpoint Scoped(IPv6Address address, NetworkInterface zone, ushort port) =>
        new(InetAddress.Scoped(address, (uint)zone.Index), port);

    [Fact]
    public void TheSameLinkLocalAddressLivesOnTwoInterfaces()
    {
        var (_, a, _, _, a0, a1, _, _) = Lab();
        Assert.True(a.IsLocalAddress(One, a0.Index));
        Assert.True(a.IsLocalAddress(One, a1.Index));
        Assert.False(a.IsLocalAddress(Two, a0.Index));
        Assert.Equal(One, a0.LinkLocal!.Address);
        Assert.Equal(One, a1.LinkLocal!.Address);

        // Removing it from one interface leaves the other's.
        Assert.True(a1.RemoveAddress(One));
        Assert.False(a.IsLocalAddress(One, a1.Index));
        Assert.True(a.IsLocalAddress(One, a0.Index));
    }

    [Fact]
    public void UdpZonePicksTheInterfaceAndArrivalsCarryTheirZone()
    {
        var (net, a, b, c, a0, a1, b0, c0) = Lab();
        using var sb = b.OpenUdp(ipv6: true);
        using var sc = c.OpenUdp(ipv6: true);
        Assert.Equal(Errno.None, sb.Bind(IPv6Address.Any, 53));
        Assert.Equal(Errno.None, sc.Bind(IPv6Address.Any, 53));
        using var sa = a.OpenUdp(ipv6: true);

        Assert.Equal(Errno.None, sa.SendTo("to c"u8, Scoped(Two, a1, 53)));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(0, sb.Available);
        var buffer = new byte[64];
        Assert.True(sc.TryReceive(buffer, out var n, out var from));
        Assert.Equal("to c", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        Assert.Equal(One, from.Address.V6);
        Assert.Equal((uint)c0.Index, from.ScopeId); // recvfrom: sin6_scope_id of the arrival interface

        // The reply to that scoped address goes back the same way; a sees the zone of a1.
        Assert.Equal(Errno.None, sc.SendTo("reply"u8, from));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.True(sa.TryReceive(buffer, out n, out var back));
        Assert.Equal("reply", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        Assert.Equal(Scoped(Two, a1, 53), back);
        Assert.Equal($"[fe80::2%{a1.Name}]:53", back.ToString(a));
        Assert.Equal($"[fe80::2%{a1.Index}]:53", back.ToString());

        Assert.Equal(Errno.None, sa.SendTo("to b"u8, Scoped(Two, a0, 53)));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.True(sb.TryReceive(buffer, out _, out from));
        Assert.Equal((uint)b0.Index, from.ScopeId);
    }

    [Fact]
    public void ZonelessLinkLocalDestinationFailsAsIn6SelectifMakesIt()
    {
        // rc.d's fe80::/10 reject route is a network route: ENETUNREACH (in6_selectif: RTF_HOST ? EHOSTUNREACH : ENETUNREACH).
        var (_, a, _, _, _, _, _, _) = Lab();
        using var s = a.OpenUdp(ipv6: true);
        Assert.Equal(Errno.ENETUNREACH, s.SendTo("x"u8, new InetEndpoint(Two, 53)));
        Assert.Equal(Errno.ENETUNREACH, s.Connect(new InetEndpoint(Two, 53)));
        var t = a.OpenTcp(ipv6: true);
        Assert.Equal(Errno.ENETUNREACH, t.Connect(new InetEndpoint(Two, 80)));

        // Without the reject routes, two IPv6 interfaces leave the zone undecided: no route.
        var (_, bare, _, _, _, _, _, _) = Lab(rcRoutes: false);
        using var u = bare.OpenUdp(ipv6: true);
        Assert.Equal(Errno.EHOSTUNREACH, u.SendTo("x"u8, new InetEndpoint(Two, 53)));
    }

    [Fact]
    public void ZonesAreCheckedAsScope6DoesIt()
    {
        var (_, a, _, _, a0, _, _, _) = Lab();
        using var s = a.OpenUdp(ipv6: true);
        Assert.Equal(Errno.EINVAL, s.SendTo("x"u8, Scoped(V6("2001:db8::1"), a0, 53))); // sa6_checkzone: zone on a global address
        Assert.Equal(Errno.ENXIO, s.SendTo("x"u8, new InetEndpoint(InetAddress.Scoped(Two, 99), 53))); // no interface 99
        Assert.Equal(Errno.EADDRNOTAVAIL, s.Bind(One, 1000)); // a link-local address without its zone names nothing
        Assert.Equal(Errno.ENXIO, s.Bind(InetAddress.Scoped(One, 99), 1000));
        Assert.Equal(Errno.EADDRNOTAVAIL, s.Bind(InetAddress.Scoped(Two, (uint)a0.Index), 1000)); // not ours
    }

    [Fact]
    public void BindingBothZonesOfOneAddressSplitsTheTraffic()
    {
        var (net, a, b, c, a0, a1, _, _) = Lab();
        using var s0 = a.OpenUdp(ipv6: true);
        using var s1 = a.OpenUdp(ipv6: true);
        Assert.Equal(Errno.None, s0.Bind(InetAddress.Scoped(One, (uint)a0.Index), 5000));
        Assert.Equal(Errno.None, s1.Bind(InetAddress.Scoped(One, (uint)a1.Index), 5000));
        Assert.Equal(Scoped(One, a1, 5000), s1.LocalEndpoint); // getsockname

        using var fromC = c.OpenUdp(ipv6: true);
        Assert.Equal(Errno.None, fromC.SendTo("c"u8, new InetEndpoint(InetAddress.Scoped(One, (uint)c.Interfaces.First(i => !i.IsLoopback).Index), 5000)));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(0, s0.Available);
        Assert.Equal(1, s1.Available);

        // A socket bound to a link-local address sends in its zone, even to a zoneless link-local peer.
        using var sb = b.OpenUdp(ipv6: true);
        Assert.Equal(Errno.None, sb.Bind(IPv6Address.Any, 7));
        Assert.Equal(Errno.None, s0.SendTo("b"u8, new InetEndpoint(Two, 7)));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(1, sb.Available);
    }

    [Fact]
    public void ConnectShowsTheScopedSourceAndPeer()
    {
        var (net, a, b, _, a0, _, b0, _) = Lab();
        using var sb = b.OpenUdp(ipv6: true);
        Assert.Equal(Errno.None, sb.Bind(IPv6Address.Any, 9));
        using var sa = a.OpenUdp(ipv6: true);
        Assert.Equal(Errno.None, sa.Connect(Scoped(Two, a0, 9)));
        Assert.Equal(InetAddress.Scoped(One, (uint)a0.Index), sa.LocalEndpoint.Address); // getsockname after connect
        Assert.Equal(Scoped(Two, a0, 9), sa.RemoteEndpoint); // getpeername
        Assert.Equal(Errno.None, sa.Send("hi"u8));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.True(sb.TryReceive(new byte[8], out _, out var from));
        Assert.Equal(new InetEndpoint(InetAddress.Scoped(One, (uint)b0.Index), sa.LocalEndpoint.Port), from);

        // The connected socket takes the reply only from that zone's peer.
        Assert.Equal(Errno.None, sb.SendTo("ok"u8, from));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(1, sa.Available);
    }

    [Fact]
    public void TcpOverLinkLocalZonesReachesTheRightPeerAndReportsScopes()
    {
        var (net, a, b, c, a0, a1, b0, c0) = Lab();
        var lb = b.OpenTcp(ipv6: true);
        var lc = c.OpenTcp(ipv6: true);
        Assert.Equal(Errno.None, lb.Bind(IPv6Address.Any, 80));
        Assert.Equal(Errno.None, lb.Listen(4));
        Assert.Equal(Errno.None, lc.Bind(IPv6Address.Any, 80));
        Assert.Equal(Errno.None, lc.Listen(4));

        var toC = a.OpenTcp(ipv6: true);
        Assert.Equal(Errno.EINPROGRESS, toC.Connect(Scoped(Two, a1, 80)));
        TcpSocket? accepted = null;
        Assert.True(net.Loop.RunUntil(() => toC.State == TcpState.Established && lc.TryAccept(out accepted) == Errno.None, 10 * Nanos.PerSecond));
        Assert.NotNull(accepted);
        Assert.Equal(Scoped(Two, a1, 80), toC.RemoteEndpoint);
        Assert.Equal(InetAddress.Scoped(One, (uint)c0.Index), accepted!.RemoteEndpoint!.Value.Address);
        Assert.Equal(Scoped(Two, c0, 80), accepted.LocalEndpoint);
        Assert.NotEqual(Errno.None, lb.TryAccept(out _)); // nothing reached b

        Assert.True(toC.Send("GET"u8) > 0);
        var buffer = new byte[8];
        Assert.True(net.Loop.RunUntil(() => accepted.Available > 0, 5 * Nanos.PerSecond));
        Assert.Equal(3, accepted.Receive(buffer));
        _ = b0;
        _ = a0;
    }

    [Fact]
    public void RawIcmp6SocketSeesTheZoneOfTheReply()
    {
        var (net, a, _, _, _, a1, _, _) = Lab();
        using var raw = a.OpenRaw(IPProtocol.IcmpV6, ipv6: true);
        using var pinger = a.CreatePinger(new PingOptions { Destination = Two, Interface = a1, Count = 1 }, null);
        pinger.Start();
        net.Loop.RunUntil(() => pinger.IsFinished, 20 * Nanos.PerSecond);
        Assert.Equal(1, pinger.Received);
        RawDatagram reply = default;
        var found = false;
        while (raw.TryReceive(out var d))
        {
            if (d.Packet.Data[0] == (byte)IcmpV6Type.EchoReply)
            {
                reply = d;
                found = true;
            }
            else
            {
                d.Packet.Release();
            }
        }

        Assert.True(found);
        Assert.Equal(InetAddress.Scoped(Two, (uint)a1.Index), reply.Source);
        Assert.Equal(InetAddress.Scoped(One, (uint)a1.Index), reply.Destination);
        reply.Packet.Release();
    }
}
