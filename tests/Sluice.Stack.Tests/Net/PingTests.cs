using Sluice.Stack.Time;
using Sluice.Wire;
using static Sluice.Stack.Tests.Net.TestNet;

namespace Sluice.Stack.Tests.Net;

public sealed class PingTests
{
    private static (TestNet Net, NetStack H1, NetStack R, NetStack H2) Routed()
    {
        var net = new TestNet();
        var h1 = net.Stack("h1");
        var r = net.Stack("r");
        var h2 = net.Stack("h2");
        var (a, b) = net.Connect(h1, r);
        var (c, d) = net.Connect(r, h2);
        a.AddAddress(V4("192.0.2.2"), 24);
        b.AddAddress(V4("192.0.2.1"), 24);
        c.AddAddress(V4("198.51.100.1"), 24);
        d.AddAddress(V4("198.51.100.2"), 24);
        a.AddAddress(V6("2001:db8:1::2"), 64);
        b.AddAddress(V6("2001:db8:1::1"), 64);
        c.AddAddress(V6("2001:db8:2::1"), 64);
        d.AddAddress(V6("2001:db8:2::2"), 64);
        Assert.True(h1.TryAddRoute(IPv4Address.Any, 0, V4("192.0.2.1"), out _));
        Assert.True(h2.TryAddRoute(IPv4Address.Any, 0, V4("198.51.100.1"), out _));
        Assert.True(h1.TryAddRoute(IPv6Address.Any, 0, V6("2001:db8:1::1"), out _));
        Assert.True(h2.TryAddRoute(IPv6Address.Any, 0, V6("2001:db8:2::1"), out _));
        net.Loop.RunFor(2 * Nanos.PerSecond); // let DAD finish
        return (net, h1, r, h2);
    }

    [Fact]
    public void PingOnOneLinkGetsEveryReplyWithTtl64()
    {
        var (net, h1, _, _) = Routed();
        var result = net.Ping(h1, V4("192.0.2.1"));
        Assert.Equal(3, result.Transmitted);
        Assert.Equal(3, result.Received);
        Assert.All(result.Replies, r => Assert.Equal(64, r.HopLimit));
        Assert.All(result.Replies, r => Assert.Equal(64, r.Bytes));
        Assert.Equal([0, 1, 2], result.Replies.Select(r => (int)r.Sequence));
        Assert.Equal(0, net.Loop.Pool.Outstanding);
    }

    [Fact]
    public void PingAcrossRouterNeedsForwardingAndShowsTtl63()
    {
        var (net, h1, r, _) = Routed();
        var blocked = net.Ping(h1, V4("198.51.100.2"), count: 2);
        Assert.Equal(0, blocked.Received);
        Assert.True(r.Ip.CantForward >= 2);

        r.Sysctl.TrySet("net.inet.ip.forwarding", "1");
        var result = net.Ping(h1, V4("198.51.100.2"));
        Assert.Equal(3, result.Received);
        Assert.All(result.Replies, x => Assert.Equal(63, x.HopLimit));
        Assert.True(r.Ip.Forwarded >= 6);
    }

    [Fact]
    public void Ping6AcrossRouterResolvesNeighboursAndShowsHopLimit63()
    {
        var (net, h1, r, _) = Routed();
        r.Sysctl.TrySet("net.inet6.ip6.forwarding", "1");
        var result = net.Ping(h1, V6("2001:db8:2::2"));
        Assert.Equal(3, result.Received);
        Assert.All(result.Replies, x => Assert.Equal(63, x.HopLimit));
        Assert.NotNull(h1.Ndp.Find(h1.Interfaces[1].Index, V6("2001:db8:1::1"))?.HardwareAddress);
    }

    [Fact]
    public void TtlExpiryReturnsTimeExceededFromTheRouter()
    {
        var (net, h1, r, _) = Routed();
        r.Sysctl.TrySet("net.inet.ip.forwarding", "1");
        var observer = new List<Icmp.PingError>();
        var recorder = new ErrorRecorder(observer);
        using var pinger = h1.CreatePinger(new Icmp.PingOptions { Destination = V4("198.51.100.2"), Count = 1, Ttl = 1 }, recorder);
        pinger.Start();
        net.Loop.RunUntil(() => pinger.IsFinished, 30 * Nanos.PerSecond);
        var error = Assert.Single(observer);
        Assert.Equal((byte)IcmpV4Type.TimeExceeded, error.Type);
        Assert.Equal("192.0.2.1", error.From.ToString());
        Assert.Equal(0, pinger.Received);
    }

    [Fact]
    public void UnreachableNeighbourGivesHostUnreachableAfterArpGivesUp()
    {
        var (net, h1, _, _) = Routed();
        var result = net.Ping(h1, V4("192.0.2.77"), count: 1);
        Assert.Equal(0, result.Received);
        Assert.True(h1.ArpStats.TxRequests >= 5);
        Assert.Contains(result.Errors, e => e.Type == (byte)IcmpV4Type.DestinationUnreachable && e.Code == 1);
    }

    [Fact]
    public void VirtualTimeRunsFasterThanWallTime()
    {
        var (net, h1, r, _) = Routed();
        r.Sysctl.TrySet("net.inet.ip.forwarding", "1");
        var start = net.Loop.Now;
        var result = net.Ping(h1, V4("198.51.100.2"), count: 5);
        Assert.Equal(5, result.Received);
        Assert.Equal(4 * Nanos.PerSecond, net.Loop.Now - start); // last reply stops ping right after the 5th request
    }

    private sealed class ErrorRecorder(List<Icmp.PingError> errors) : Icmp.IPingObserver
    {
        public void OnReply(in Icmp.PingReply reply)
        {
        }

        public void OnError(in Icmp.PingError error) => errors.Add(error);

        public void OnSendError(ushort sequence, Sockets.Errno error)
        {
        }
    }
}
