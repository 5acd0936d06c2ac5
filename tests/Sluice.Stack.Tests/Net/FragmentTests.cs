using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Time;
using Sluice.Wire;
using static Sluice.Stack.Tests.Net.TestNet;

namespace Sluice.Stack.Tests.Net;

public sealed class FragmentTests
{
    private static (TestNet Net, NetStack A, NetStack R, NetStack B, NetworkInterface RToB) Routed()
    {
        var net = new TestNet();
        var a = net.Stack("a");
        var r = net.Stack("r");
        var b = net.Stack("b");
        var (a0, r0) = net.Connect(a, r);
        var (r1, b1) = net.Connect(r, b);
        a0.AddAddress(V4("192.0.2.2"), 24);
        r0.AddAddress(V4("192.0.2.1"), 24);
        r1.AddAddress(V4("198.51.100.1"), 24);
        b1.AddAddress(V4("198.51.100.2"), 24);
        a0.AddAddress(V6("2001:db8:1::2"), 64);
        r0.AddAddress(V6("2001:db8:1::1"), 64);
        r1.AddAddress(V6("2001:db8:2::1"), 64);
        b1.AddAddress(V6("2001:db8:2::2"), 64);
        Assert.True(a.TryAddRoute(IPv4Address.Any, 0, V4("192.0.2.1"), out _));
        Assert.True(b.TryAddRoute(IPv4Address.Any, 0, V4("198.51.100.1"), out _));
        Assert.True(a.TryAddRoute(IPv6Address.Any, 0, V6("2001:db8:1::1"), out _));
        Assert.True(b.TryAddRoute(IPv6Address.Any, 0, V6("2001:db8:2::1"), out _));
        r.Sysctl.TrySet("net.inet.ip.forwarding", "1");
        r.Sysctl.TrySet("net.inet6.ip6.forwarding", "1");
        net.Loop.RunFor(2 * Nanos.PerSecond);
        return (net, a, r, b, r1);
    }

    [Fact]
    public void LargeIPv4EchoIsFragmentedAndReassembledBothWays()
    {
        var (net, a, _, b, _) = Routed();
        var result = net.Ping(a, V4("198.51.100.2"), count: 2, dataLength: 4000);
        Assert.Equal(2, result.Received);
        Assert.All(result.Replies, r => Assert.Equal(4008, r.Bytes));
        Assert.Equal(2, b.Ip.Reassembled);
        Assert.Equal(2, a.Ip.Reassembled);
        Assert.True(a.Ip.OutputFragments >= 6);
        Assert.Equal(0, net.Loop.Pool.Outstanding);
    }

    [Fact]
    public void RouterFragmentsWhenTheNextLinkHasASmallerMtu()
    {
        var (net, a, r, b, rToB) = Routed();
        Assert.Null(rToB.TrySetMtu(576));
        var result = net.Ping(a, V4("198.51.100.2"), count: 1, dataLength: 1400);
        Assert.Equal(1, result.Received);
        Assert.True(r.Ip.OutputFragments >= 3);
        Assert.Equal(1, b.Ip.Reassembled);
    }

    [Fact]
    public void LargeIPv6EchoIsFragmentedAtTheSourceAndReassembled()
    {
        var (net, a, _, b, _) = Routed();
        var result = net.Ping(a, V6("2001:db8:2::2"), count: 2, dataLength: 3000);
        Assert.Equal(2, result.Received);
        Assert.Equal(2, b.Ip6.Reassembled);
        Assert.Equal(2, a.Ip6.Reassembled);
    }

    [Fact]
    public void IPv6RouterSendsPacketTooBigInsteadOfFragmenting()
    {
        var (net, a, r, _, rToB) = Routed();
        Assert.Null(rToB.TrySetMtu(1280));
        var result = net.Ping(a, V6("2001:db8:2::2"), count: 1, dataLength: 1400);
        Assert.Equal(0, result.Received);
        var error = Assert.Single(result.Errors);
        Assert.Equal((byte)IcmpV6Type.PacketTooBig, error.Type);
        Assert.Equal(1280, error.Mtu);
        Assert.Equal(1, r.Ip6.CantForward);
    }

    [Fact]
    public void OverlappingFragmentsDiscardTheDatagram()
    {
        var net = new TestNet();
        var victim = net.Stack("v");
        var peer = net.Stack("p");
        var (vi, pi) = net.Connect(victim, peer);
        vi.AddAddress(V4("192.0.2.1"), 24);
        pi.AddAddress(V4("192.0.2.2"), 24);
        net.Loop.RunFor(Nanos.PerSecond);

        void Send(int offset, int length, bool more)
        {
            var frame = new byte[14 + 20 + length];
            vi.HardwareAddress.WriteTo(frame);
            pi.HardwareAddress.WriteTo(frame.AsSpan(6));
            frame[12] = 0x08;
            new IPv4Header(V4("192.0.2.2"), V4("192.0.2.1"), IPProtocol.Udp, length, Identification: 77) { MoreFragments = more, FragmentOffset = offset }.Emit(frame.AsSpan(14));
            vi.Deliver(net.Loop.Pool.RentCopy(frame));
            net.Loop.RunPending();
        }

        Send(0, 64, more: true);
        Send(32, 64, more: false); // overlaps bytes 32..63
        Assert.Equal(0, victim.Ip.Reassembled);
        Assert.Equal(2, victim.Ip.FragmentsDropped);
        Assert.Equal(0, net.Loop.Pool.Outstanding);
    }

    [Fact]
    public void IncompleteDatagramsTimeOutAndAreCounted()
    {
        var net = new TestNet();
        var victim = net.Stack("v");
        var peer = net.Stack("p");
        var (vi, pi) = net.Connect(victim, peer);
        vi.AddAddress(V4("192.0.2.1"), 24);
        pi.AddAddress(V4("192.0.2.2"), 24);
        net.Loop.RunFor(Nanos.PerSecond);
        var frame = new byte[14 + 20 + 64];
        vi.HardwareAddress.WriteTo(frame);
        pi.HardwareAddress.WriteTo(frame.AsSpan(6));
        frame[12] = 0x08;
        new IPv4Header(V4("192.0.2.2"), V4("192.0.2.1"), IPProtocol.Udp, 64, Identification: 9) { MoreFragments = true }.Emit(frame.AsSpan(14));
        vi.Deliver(net.Loop.Pool.RentCopy(frame));
        net.Loop.RunFor(29 * Nanos.PerSecond);
        Assert.Equal(0, victim.Ip.FragmentsTimedOut);
        net.Loop.RunFor(2 * Nanos.PerSecond);
        Assert.Equal(1, victim.Ip.FragmentsTimedOut);
        Assert.Equal(0, net.Loop.Pool.Outstanding);
    }

    [Fact]
    public void TooManyFragmentsPerDatagramAreDropped()
    {
        var net = new TestNet();
        var victim = net.Stack("v");
        var peer = net.Stack("p");
        var (vi, pi) = net.Connect(victim, peer);
        vi.AddAddress(V4("192.0.2.1"), 24);
        pi.AddAddress(V4("192.0.2.2"), 24);
        net.Loop.RunFor(Nanos.PerSecond);
        for (var i = 0; i < 20; i++)
        {
            var frame = new byte[14 + 20 + 8];
            vi.HardwareAddress.WriteTo(frame);
            pi.HardwareAddress.WriteTo(frame.AsSpan(6));
            frame[12] = 0x08;
            new IPv4Header(V4("192.0.2.2"), V4("192.0.2.1"), IPProtocol.Udp, 8, Identification: 5) { MoreFragments = true, FragmentOffset = i * 8 }.Emit(frame.AsSpan(14));
            vi.Deliver(net.Loop.Pool.RentCopy(frame));
        }

        net.Loop.RunPending();
        Assert.True(victim.Ip.FragmentsDropped >= 16, $"dropped {victim.Ip.FragmentsDropped}");
        net.Loop.RunFor(40 * Nanos.PerSecond);
        Assert.Equal(0, net.Loop.Pool.Outstanding);
    }
}
