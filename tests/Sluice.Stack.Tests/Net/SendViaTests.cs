using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;
using static Sluice.Stack.Tests.Net.TestNet;

namespace Sluice.Stack.Tests.Net;

public sealed class SendViaTests
{
    [Fact]
    public void SendViaDeliversToTheGivenNextHopInsteadOfTheRoute()
    {
        var net = new TestNet();
        var r = net.Stack("r");
        var b = net.Stack("b");
        var c = net.Stack("c");
        var (rb, br) = net.Connect(r, b);
        var (rc, cr) = net.Connect(r, c);
        rb.AddAddress(V4("192.0.2.1"), 24);
        br.AddAddress(V4("192.0.2.2"), 24);
        rc.AddAddress(V4("198.51.100.1"), 24);
        cr.AddAddress(V4("198.51.100.2"), 24);
        c.Sysctl.TrySet("net.inet.ip.forwarding", "0");
        net.Loop.RunFor(Nanos.PerSecond);

        var packet = net.Loop.Pool.Rent(IPv4Packet.MinimumHeaderLength + 8);
        new IPv4Header(V4("192.0.2.1"), V4("192.0.2.2"), IPProtocol.Udp, 8).Emit(packet.Data);
        new UdpHeader(1000, 2000).Emit(packet.Data[IPv4Packet.MinimumHeaderLength..], 0);
        var beforeB = b.Ip.Total;
        Assert.Equal(Errno.None, r.SendVia(packet, V4("198.51.100.2")));
        net.Loop.RunFor(2 * Nanos.PerSecond);

        Assert.Equal(beforeB, b.Ip.Total);
        Assert.Equal(1, c.Ip.CantForward); // c got a packet for 192.0.2.2 and does not forward
        Assert.Equal(0, net.Loop.Pool.Outstanding);
    }

    [Fact]
    public void SendViaAnUnreachableNextHopFails()
    {
        var net = new TestNet();
        var r = net.Stack("r");
        var packet = net.Loop.Pool.Rent(IPv4Packet.MinimumHeaderLength);
        new IPv4Header(V4("192.0.2.1"), V4("192.0.2.2"), IPProtocol.Udp, 0).Emit(packet.Data);
        Assert.Equal(Errno.EHOSTUNREACH, r.SendVia(packet, V4("203.0.113.9")));
        Assert.Equal(0, net.Loop.Pool.Outstanding);
    }
}

public sealed class SendVia6Tests
{
    [Fact]
    public void SendViaIPv6DeliversToTheGivenNextHop()
    {
        var net = new TestNet();
        var r = net.Stack("r");
        var b = net.Stack("b");
        var c = net.Stack("c");
        var (rb, br) = net.Connect(r, b);
        var (rc, cr) = net.Connect(r, c);
        rb.AddAddress(V6("2001:db8:1::1"), 64);
        br.AddAddress(V6("2001:db8:1::2"), 64);
        rc.AddAddress(V6("2001:db8:2::1"), 64);
        cr.AddAddress(V6("2001:db8:2::2"), 64);
        net.Loop.RunFor(10 * Nanos.PerSecond); // DAD and the MLD state-change reports (retransmitted within 3 s) are over

        var packet = net.Loop.Pool.Rent(IPv6Packet.HeaderLength + 8);
        new IPv6Header(V6("2001:db8:1::1"), V6("2001:db8:1::2"), IPProtocol.Udp, 8).Emit(packet.Data);
        new UdpHeader(1000, 2000).Emit(packet.Data[IPv6Packet.HeaderLength..], 0);
        var beforeB = b.Ip6.Total;
        Assert.Equal(Errno.None, r.SendVia(packet, V6("2001:db8:2::2")));
        net.Loop.RunFor(2 * Nanos.PerSecond);

        Assert.Equal(beforeB, b.Ip6.Total);
        Assert.Equal(1, c.Ip6.CantForward);
        Assert.Equal(0, net.Loop.Pool.Outstanding);
    }
}
