using Sluice.Dummynet;
using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Pf.Tests.Engine;

/// <summary>pf's routing options (route-to, reply-to, dup-to) and dummynet pipes and queues (dnpipe, dnqueue).</summary>
public sealed class PfRouteTests
{
    private static InetEndpoint Ep(string a, ushort port) => new(PfNet.V4(a), port);

    [Fact]
    public void RouteToSendsPacketsTheRoutingTableCannotReachToThePoolsNextHop()
    {
        // fw has no route to 203.0.113.0/24; the rule sends that traffic to wan (192.0.2.2) through epair1a.
        var net = new PfNet();
        var log = new FrameLog();
        net.WanIf.AddTap(log);
        var pf = net.Load("pass in on $int_if route-to ($ext_if 192.0.2.2) proto udp from any to 203.0.113.0/24\npass out all\n");
        using var lanSock = PfNet.Bound(net.Lan, 4000);
        lanSock.SendTo("hello"u8, Ep("203.0.113.5", 53));
        net.Loop.RunFor(Nanos.PerSecond);
        var frame = log.Frames.Single(f => !f.Outbound && f.Frame.Length >= 34 && f.Frame[23] == 17).Frame;
        Assert.Equal(net.WanIf.HardwareAddress, EthernetFrame.CreateUnchecked(frame).Destination);
        var ip = IPv4Packet.CreateUnchecked(frame.AsSpan(14));
        Assert.Equal(PfNet.V4("203.0.113.5"), ip.Destination);
        Assert.Equal(63, ip.Ttl);
        Assert.True(ip.VerifyChecksum());
        Assert.Equal(1UL, pf.Engine.Routed);

        // Without route-to the router has no route and the datagram goes nowhere.
        var net2 = new PfNet();
        var log2 = new FrameLog();
        net2.WanIf.AddTap(log2);
        net2.Load("pass all\n");
        using var s2 = PfNet.Bound(net2.Lan, 4000);
        s2.SendTo("hello"u8, Ep("203.0.113.5", 53));
        net2.Loop.RunFor(Nanos.PerSecond);
        Assert.DoesNotContain(log2.Frames, f => f.Frame.Length >= 34 && f.Frame[23] == 17);
    }

    [Fact]
    public void ReplyToSendsRepliesBackThroughTheInterfaceTheRequestCameFrom()
    {
        // wan talks from 203.0.113.9, which fw routes to a next hop that does not answer (192.0.2.99): only reply-to,
        // applied when the reply leaves through epair1a and matches the inbound state, gets lan's answer to wan.
        static (bool Request, bool Reply) Exchange(string conf)
        {
            var net = new PfNet();
            net.WanIf.AddAddress(PfNet.V4("203.0.113.9"), 32);
            Assert.True(net.Fw.TryAddRoute(PfNet.V4("203.0.113.0"), 24, PfNet.V4("192.0.2.99"), out _));
            net.Load(conf);
            var wanSock = net.Wan.OpenUdp();
            Assert.Equal(Errno.None, wanSock.Bind(PfNet.V4("203.0.113.9"), 5000));
            using var lanSock = PfNet.Bound(net.Lan, 7);
            var (request, from) = net.Udp(wanSock, lanSock, Ep("10.0.0.2", 7), "ping");
            if (!request)
            {
                return (false, false);
            }

            var (reply, _) = net.Udp(lanSock, wanSock, from, "pong");
            wanSock.Dispose();
            return (true, reply);
        }

        Assert.Equal((true, false), Exchange("pass all\n"));
        Assert.Equal((true, true), Exchange("pass in on $ext_if reply-to ($ext_if 192.0.2.2) proto udp to 10.0.0.2\npass out all\n"));
    }

    [Fact]
    public void DupToSendsACopyWhileTheOriginalIsForwarded()
    {
        var net = new PfNet();
        var pf = net.Load("pass in on $int_if dup-to ($ext_if 192.0.2.2) proto udp to port 53\npass out all\n");
        using var lanSock = PfNet.Bound(net.Lan, 4000);
        using var wanSock = PfNet.Bound(net.Wan, 53);
        lanSock.SendTo("q"u8, Ep("192.0.2.2", 53));
        net.Loop.RunFor(Nanos.PerSecond);
        var buf = new byte[64];
        var n = 0;
        while (wanSock.TryReceive(buf, out _, out _))
        {
            n++;
        }

        Assert.Equal(2, n);
        Assert.Equal(1UL, pf.Engine.Routed);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RouteToForIPv6SendsToThePoolsNextHopIncludingALinkLocalOne(bool linkLocal)
    {
        // fw has no route to 2001:db8:99::/64; route-to hands it to wan through epair1a, by global or link-local address.
        var net = new PfNet();
        var log = new FrameLog();
        net.WanIf.AddTap(log);
        var wanLl = net.WanIf.IPv6Addresses.First(a => a.Address.IsLinkLocal).Address;
        var hop = linkLocal ? wanLl.ToString() : "2001:db8:2::2";
        var pf = net.Load($"pass in on $int_if route-to ($ext_if {hop}) inet6 proto udp from any to 2001:db8:99::/64\npass out all\n");
        using var lanSock = PfNet.Bound(net.Lan, 4000, v6: true);
        lanSock.SendTo("hello"u8, new InetEndpoint(PfNet.V6("2001:db8:99::5"), 53));
        net.Loop.RunFor(Nanos.PerSecond);
        var frame = log.Frames.Single(f => !f.Outbound && f.Frame.Length >= 54 && f.Frame[12] == 0x86 && f.Frame[13] == 0xdd && f.Frame[20] == 17).Frame;
        Assert.Equal(net.WanIf.HardwareAddress, EthernetFrame.CreateUnchecked(frame).Destination);
        var ip = IPv6Packet.CreateUnchecked(frame.AsSpan(14));
        Assert.Equal(PfNet.V6("2001:db8:99::5"), ip.Destination);
        Assert.Equal(63, ip.HopLimit);
        Assert.Equal(1UL, pf.Engine.Routed);

        // Without route-to fw has no route for it.
        var net2 = new PfNet();
        var log2 = new FrameLog();
        net2.WanIf.AddTap(log2);
        net2.Load("pass all\n");
        using var s2 = PfNet.Bound(net2.Lan, 4000, v6: true);
        s2.SendTo("hello"u8, new InetEndpoint(PfNet.V6("2001:db8:99::5"), 53));
        net2.Loop.RunFor(Nanos.PerSecond);
        Assert.DoesNotContain(log2.Frames, f => f.Frame.Length >= 54 && f.Frame[12] == 0x86 && f.Frame[20] == 17);
    }

    [Fact]
    public void ReplyToAndDupToWorkForIPv6()
    {
        var net = new PfNet();
        var pf = net.Load("pass in on $int_if dup-to ($ext_if 2001:db8:2::2) inet6 proto udp to port 53\npass out all\n");
        using var lanSock = PfNet.Bound(net.Lan, 4000, v6: true);
        using var wanSock = PfNet.Bound(net.Wan, 53, v6: true);
        lanSock.SendTo("q"u8, new InetEndpoint(PfNet.V6("2001:db8:2::2"), 53));
        net.Loop.RunFor(Nanos.PerSecond);
        var buf = new byte[64];
        var n = 0;
        while (wanSock.TryReceive(buf, out _, out _))
        {
            n++;
        }

        Assert.Equal(2, n);
        Assert.Equal(1UL, pf.Engine.Routed);

        // reply-to: wan talks from 2001:db8:3::9, which fw routes to a next hop that does not exist.
        static (bool Request, bool Reply) Exchange(string conf)
        {
            var net = new PfNet();
            net.WanIf.AddAddress(PfNet.V6("2001:db8:3::9"), 128);
            net.Loop.RunFor(3 * Nanos.PerSecond);
            Assert.True(net.Fw.TryAddRoute(PfNet.V6("2001:db8:3::"), 64, PfNet.V6("2001:db8:2::99"), out _));
            net.Load(conf);
            var wan = net.Wan.OpenUdp(true);
            Assert.Equal(Errno.None, wan.Bind(PfNet.V6("2001:db8:3::9"), 5000));
            using var lan = PfNet.Bound(net.Lan, 7, v6: true);
            var (request, from) = net.Udp(wan, lan, new InetEndpoint(PfNet.V6("2001:db8:1::2"), 7), "ping");
            if (!request)
            {
                return (false, false);
            }

            var (reply, _) = net.Udp(lan, wan, from, "pong");
            wan.Dispose();
            return (true, reply);
        }

        Assert.Equal((true, false), Exchange("pass all\n"));
        Assert.Equal((true, true), Exchange("pass in on $ext_if reply-to ($ext_if 2001:db8:2::2) inet6 proto udp to 2001:db8:1::2\npass out all\n"));
    }

    [Fact]
    public void DnpipeDelaysMatchingPacketsInTheVnetsDummynetPipe()
    {
        var net = new PfNet();
        var dn = DummynetInstance.Of(net.Fw);
        Assert.True(dn.TryConfigure(DnObjectKind.Pipe, ["1", "delay", "200ms"], out var e), e?.Message);
        net.Load("pass in on $int_if proto udp to port 53 dnpipe 1\npass out all\n");
        using var lanSock = PfNet.Bound(net.Lan, 4000);
        using var wanSock = PfNet.Bound(net.Wan, 53);
        var buf = new byte[64];
        lanSock.SendTo("q"u8, Ep("192.0.2.2", 53));
        net.Loop.RunFor(Nanos.PerSecond / 10);
        Assert.False(wanSock.TryReceive(buf, out _, out _));
        net.Loop.RunFor(Nanos.PerSecond / 5);
        Assert.True(wanSock.TryReceive(buf, out _, out _));
        Assert.Equal(1, dn.PacketsIn);

        // The reply matches the state and is not delayed (no reverse pipe): it arrives within 10 ms.
        var start = net.Loop.Now;
        wanSock.SendTo("a"u8, Ep("10.0.0.2", 4000));
        net.Loop.RunUntil(() => lanSock.TryReceive(buf, out _, out _), Nanos.PerSecond);
        Assert.True(net.Loop.Now - start < Nanos.PerSecond / 100);
        Assert.Equal(1, dn.PacketsIn);
    }

    [Fact]
    public void DnqueueWithAReversePipeShapesBothDirectionsOfTheState()
    {
        var net = new PfNet();
        var dn = DummynetInstance.Of(net.Fw);
        Assert.True(dn.TryConfigure(DnObjectKind.Pipe, ["1", "delay", "50ms"], out var e), e?.Message);
        Assert.True(dn.TryConfigure(DnObjectKind.Pipe, ["2", "delay", "300ms"], out e), e?.Message);
        Assert.True(dn.TryConfigure(DnObjectKind.Queue, ["5", "pipe", "1"], out e), e?.Message);
        Assert.True(dn.TryConfigure(DnObjectKind.Queue, ["6", "pipe", "2"], out e), e?.Message);
        net.Load("pass in on $int_if proto udp to port 53 dnqueue (5, 6)\npass out all\n");
        using var lanSock = PfNet.Bound(net.Lan, 4000);
        using var wanSock = PfNet.Bound(net.Wan, 53);
        var buf = new byte[64];
        lanSock.SendTo("q"u8, Ep("192.0.2.2", 53));
        var start = net.Loop.Now;
        net.Loop.RunUntil(() => wanSock.TryReceive(buf, out _, out _), Nanos.PerSecond);
        var forward = net.Loop.Now - start;
        Assert.InRange(forward, Nanos.PerSecond / 20, Nanos.PerSecond / 10);

        wanSock.SendTo("a"u8, Ep("10.0.0.2", 4000));
        start = net.Loop.Now;
        net.Loop.RunUntil(() => lanSock.TryReceive(buf, out _, out _), Nanos.PerSecond);
        Assert.InRange(net.Loop.Now - start, Nanos.PerSecond * 3 / 10, Nanos.PerSecond * 4 / 10);
        Assert.Equal(2, dn.PacketsIn);
    }
}
