using System.Buffers.Binary;
using Sluice.Pf.Engine;
using Sluice.Stack.Pfil;
using Sluice.Stack.Tcp;
using Sluice.Wire;

namespace Sluice.Pf.Tests.Engine;

/// <summary>pf normalization: fragment reassembly before the rules, no-df, random-id, min-ttl, max-mss, TCP flags.</summary>
public sealed class PfScrubTests
{
    private const string PortPolicy = "block all\npass in on $int_if proto udp to port 5000 keep state\npass out on $ext_if keep state\n";

    private static (bool Got, int Length) SendBig(PfNet net)
    {
        using var lanSock = PfNet.Bound(net.Lan, 4000);
        using var wanSock = PfNet.Bound(net.Wan, 5000);
        lanSock.SendTo(new byte[3000], new(PfNet.V4("192.0.2.2"), 5000));
        net.Loop.RunFor(Stack.Time.Nanos.PerSecond);
        var buf = new byte[4096];
        var got = wanSock.TryReceive(buf, out var n, out _);
        return (got, n);
    }

    [Fact]
    public void ScrubReassemblesSoThatAPortRuleSeesTheFragmentedDatagram()
    {
        var net = new PfNet();
        var pf = net.Load("scrub in all fragment reassemble\n" + PortPolicy);
        var (got, length) = SendBig(net);
        Assert.True(got);
        Assert.Equal(3000, length);
        Assert.Equal(0, pf.Engine.FragmentCount);
        Assert.Contains("all udp 192.0.2.2:5000 <- 10.0.0.2:4000", pf.Engine.FormatStates(), StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutReassemblyFragmentsMatchNoPortRuleAndAreBlocked()
    {
        // FreeBSD 14: no scrub rules and "set reassemble" off (the default) leave fragments as fragments.
        var net = new PfNet();
        var pf = net.Load(PortPolicy);
        Assert.False(SendBig(net).Got);
        Assert.Equal(0, pf.Engine.StateCount);

        // "set reassemble yes" reassembles without any scrub rule.
        var net2 = new PfNet();
        net2.Load("set reassemble yes\n" + PortPolicy);
        Assert.True(SendBig(net2).Got);
    }

    [Fact]
    public void NoScrubRuleOrNoReassembleLeavesFragmentsAlone()
    {
        var net = new PfNet();
        net.Load("scrub in on $ext_if all fragment reassemble\n" + PortPolicy);
        Assert.False(SendBig(net).Got);
        var net2 = new PfNet();
        net2.Load("scrub in all fragment no reassemble\n" + PortPolicy);
        Assert.False(SendBig(net2).Got);
    }

    [Fact]
    public void OverlappingFragmentsAreDroppedWithTheirDatagram()
    {
        var net = new PfNet();
        var pf = net.Load("scrub in all fragment reassemble\npass all no state\n");
        var e = pf.Engine;
        Stack.Buffers.Packet Frag(int offset, bool more, int length)
        {
            var p = net.Loop.Pool.Rent(20 + length);
            p.Data.Clear();
            new IPv4Header(PfNet.V4("10.0.0.2"), PfNet.V4("192.0.2.2"), IPProtocol.Udp, length, 64, 0, 77, false) { MoreFragments = more }.Emit(p.Data);
            var ip = IPv4Packet.CreateUnchecked(p.Data);
            ip.SetFragment(false, more, offset);
            ip.FillChecksum();
            return p;
        }

        Assert.Equal(PfilVerdict.Consumed, e.Filter(Frag(0, true, 16), net.Int, PfilDirection.In, false));
        Assert.Equal(1, e.FragmentCount);
        Assert.Equal(PfilVerdict.Consumed, e.Filter(Frag(8, false, 16), net.Int, PfilDirection.In, false));
        Assert.Equal(0, e.FragmentCount);
        Assert.Equal(1UL, e.Counters[(int)PfReason.Fragment]);

        // A fragment with DF set never enters the cache.
        var df = Frag(0, true, 16);
        var v = IPv4Packet.CreateUnchecked(df.Data);
        v.SetFragment(true, true, 0);
        v.FillChecksum();
        Assert.Equal(PfilVerdict.Drop, e.Filter(df, net.Int, PfilDirection.In, false));
        df.Release();
        Assert.Equal(2UL, e.Counters[(int)PfReason.Fragment]);
    }

    [Fact]
    public void ScrubOptionsRewriteThePassedPacketWithValidChecksums()
    {
        var net = new PfNet();
        var pf = net.Load("scrub in all no-df random-id min-ttl 100 max-mss 1200\npass all\n");
        var p = net.Loop.Pool.Rent(44);
        var d = p.Data;
        d.Clear();
        var src = PfNet.V4("10.0.0.2");
        var dst = PfNet.V4("192.0.2.2");
        new IPv4Header(src, dst, IPProtocol.Tcp, 24, 5, 0, 0x1234, true).Emit(d);
        var t = d[20..];
        BinaryPrimitives.WriteUInt16BigEndian(t, 4000);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], 22);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], 1000);
        t[12] = 0x60;
        t[13] = 0x02;
        BinaryPrimitives.WriteUInt16BigEndian(t[14..], 65535);
        t[20] = 2;
        t[21] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(t[22..], 1460);
        TcpPacket.CreateUnchecked(t).FillChecksumV4(src, dst);

        Assert.Equal(PfilVerdict.Pass, pf.Engine.Filter(p, net.Int, PfilDirection.In, false));
        var ip = IPv4Packet.CreateUnchecked(p.Data);
        Assert.False(ip.DontFragment);
        Assert.Equal(100, ip.Ttl);
        Assert.NotEqual(0x1234, ip.Identification);
        Assert.True(ip.VerifyChecksum());
        var tcp = p.Data[20..];
        Assert.Equal(1200, BinaryPrimitives.ReadUInt16BigEndian(tcp[22..]));
        Assert.True(TcpPacket.CreateUnchecked(tcp).VerifyChecksumV4(src, dst));
        p.Release();
    }

    [Fact]
    public void MaxMssClampsTheSynOfARealConnectionThroughTheRouter()
    {
        var net = new PfNet();
        net.Load("scrub in on $int_if all max-mss 1000\npass all\n");
        var log = new FrameLog();
        net.WanIf.AddTap(log);
        var listener = net.Wan.OpenTcp();
        Assert.Equal(Stack.Sockets.Errno.None, listener.Bind(PfNet.V4("192.0.2.2"), 80));
        Assert.Equal(Stack.Sockets.Errno.None, listener.Listen(4));
        var c = net.Lan.OpenTcp();
        c.Connect(new(PfNet.V4("192.0.2.2"), 80));
        net.Loop.RunFor(Stack.Time.Nanos.PerSecond);
        Assert.Equal(TcpState.Established, c.State);
        var syn = log.Frames.First(f => !f.Outbound && f.Frame.Length > 34 + 20 && f.Frame[23] == 6 && f.Frame[14 + 20 + 13] == 0x02).Frame;
        var opts = syn.AsSpan(14 + 40, ((syn[14 + 20 + 12] >> 4) * 4) - 20);
        var mss = -1;
        for (var i = 0; i < opts.Length && opts[i] != 0;)
        {
            if (opts[i] == 1)
            {
                i++;
                continue;
            }

            if (opts[i] == 2)
            {
                mss = BinaryPrimitives.ReadUInt16BigEndian(opts[(i + 2)..]);
            }

            i += Math.Max(2, (int)opts[i + 1]);
        }

        Assert.Equal(1000, mss);
    }

    [Fact]
    public void IllegalTcpFlagCombinationsAreNormalizedAway()
    {
        var net = new PfNet();
        var pf = net.Load("pass all no state\n");
        Stack.Buffers.Packet Seg(byte flags)
        {
            var p = net.Loop.Pool.Rent(40);
            p.Data.Clear();
            new IPv4Header(PfNet.V4("10.0.0.2"), PfNet.V4("192.0.2.2"), IPProtocol.Tcp, 20, 64, 0, 1, false).Emit(p.Data);
            p.Data[20 + 12] = 0x50;
            p.Data[20 + 13] = flags;
            return p;
        }

        foreach (var flags in new byte[] { 0x03, 0x06, 0x00, 0x01, 0x29 })
        {
            var p = Seg(flags);
            Assert.Equal(PfilVerdict.Drop, pf.Engine.Filter(p, net.Int, PfilDirection.In, false));
            p.Release();
        }

        Assert.Equal(5UL, pf.Engine.Counters[(int)PfReason.Normalize]);
        var ok = Seg(0x12);
        Assert.Equal(PfilVerdict.Pass, pf.Engine.Filter(ok, net.Int, PfilDirection.In, false));
        ok.Release();
    }
}
