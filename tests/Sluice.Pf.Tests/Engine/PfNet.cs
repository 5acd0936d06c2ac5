using Sluice.Pf.Config;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Links;
using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Pf.Tests.Engine;

/// <summary>
/// lan (10.0.0.2, 2001:db8:1::2) — fw (10.0.0.1 on epair0b "int", 192.0.2.1 on epair1a "ext") — wan (192.0.2.2, 2001:db8:2::2),
/// on one virtual-time loop with a diagnostic pool. pf runs on fw.
/// </summary>
internal sealed class PfNet
{
    public PfNet()
    {
        Loop = EventLoop.CreateVirtual(new PacketPool(new PacketPoolOptions { Diagnostic = true }));
        Lan = new NetStack(Loop, new NetStackOptions { Name = "lan", Seed = 11 });
        Fw = new NetStack(Loop, new NetStackOptions { Name = "fw", Seed = 12 });
        Wan = new NetStack(Loop, new NetStackOptions { Name = "wan", Seed = 13 });
        var (a0, b0) = EpairLink.CreatePair(Loop, 0);
        var (a1, b1) = EpairLink.CreatePair(Loop, 1);
        LanIf = Lan.CreateInterface("epair0a", a0, "epair");
        Int = Fw.CreateInterface("epair0b", b0, "epair");
        Ext = Fw.CreateInterface("epair1a", a1, "epair");
        WanIf = Wan.CreateInterface("epair1b", b1, "epair");
        LanIf.AddAddress(V4("10.0.0.2"), 24);
        Int.AddAddress(V4("10.0.0.1"), 24);
        Ext.AddAddress(V4("192.0.2.1"), 24);
        WanIf.AddAddress(V4("192.0.2.2"), 24);
        LanIf.AddAddress(V6("2001:db8:1::2"), 64);
        Int.AddAddress(V6("2001:db8:1::1"), 64);
        Ext.AddAddress(V6("2001:db8:2::1"), 64);
        WanIf.AddAddress(V6("2001:db8:2::2"), 64);
        foreach (var i in new[] { LanIf, Int, Ext, WanIf })
        {
            i.SetUp(true);
        }

        Assert.True(Lan.TryAddRoute(V4("0.0.0.0"), 0, V4("10.0.0.1"), out _));
        Assert.True(Wan.TryAddRoute(V4("10.0.0.0"), 24, V4("192.0.2.1"), out _));
        Assert.True(Lan.TryAddRoute(V6("::"), 0, V6("2001:db8:1::1"), out _));
        Assert.True(Wan.TryAddRoute(V6("2001:db8:1::"), 64, V6("2001:db8:2::1"), out _));
        Assert.Equal(Sluice.Stack.Sysctl.SysctlSetStatus.Ok, Fw.Sysctl.TrySet("net.inet.ip.forwarding", "1").Status);
        Assert.Equal(Sluice.Stack.Sysctl.SysctlSetStatus.Ok, Fw.Sysctl.TrySet("net.inet6.ip6.forwarding", "1").Status);
        Loop.RunFor(3 * Nanos.PerSecond); // DAD
    }

    public EventLoop Loop { get; }

    public NetStack Lan { get; }

    public NetStack Fw { get; }

    public NetStack Wan { get; }

    public NetworkInterface LanIf { get; }

    public NetworkInterface Int { get; }

    public NetworkInterface Ext { get; }

    public NetworkInterface WanIf { get; }

    public PfInstance Pf => PfInstance.Of(Fw);

    public static IPv4Address V4(string s) => IPv4Address.TryParse(s, out var a) ? a : throw new ArgumentException(s);

    public static IPv6Address V6(string s) => IPv6Address.TryParse(s, out var a) ? a : throw new ArgumentException(s);

    /// <summary>Loads <paramref name="conf"/> into fw (ext_if/int_if macros predefined) and enables pf.</summary>
    public PfInstance Load(string conf)
    {
        var res = PfParser.Parse(conf, "pf.conf", new PfParseOptions
        {
            Interfaces = new PfStackInterfaces(Fw),
            Defines = new Dictionary<string, string> { ["ext_if"] = "epair1a", ["int_if"] = "epair0b" },
        });
        Assert.True(res.Ruleset is not null, string.Join("\n", res.Diagnostics));
        var pf = Pf;
        pf.Commit(res.Ruleset!);
        pf.Enable();
        return pf;
    }

    /// <summary>Sends one UDP datagram and runs the loop; returns what <paramref name="server"/> got and from where.</summary>
    public (bool Got, InetEndpoint From) Udp(UdpSocket client, UdpSocket server, InetEndpoint to, string payload = "x")
    {
        client.SendTo(System.Text.Encoding.ASCII.GetBytes(payload), to);
        Loop.RunFor(Nanos.PerSecond);
        var buf = new byte[2048];
        var got = server.TryReceive(buf, out _, out var from);
        return (got, from);
    }

    public static UdpSocket Bound(NetStack s, ushort port, bool v6 = false)
    {
        var u = s.OpenUdp(v6);
        Assert.Equal(Errno.None, u.Bind(v6 ? IPv6Address.Any : IPv4Address.Any, port));
        return u;
    }
}

/// <summary>Keeps copies of the frames an interface sends or receives.</summary>
internal sealed class FrameLog : IFrameTap
{
    public List<(bool Outbound, byte[] Frame)> Frames { get; } = [];

    public void OnFrame(NetworkInterface ifp, ReadOnlySpan<byte> frame, bool outbound) => Frames.Add((outbound, frame.ToArray()));
}
