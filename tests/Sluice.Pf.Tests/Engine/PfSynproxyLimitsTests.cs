using System.Buffers.Binary;
using Sluice.Pf.Engine;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Pf.Tests.Engine;

/// <summary>
/// <c>synproxy state</c> against FreeBSD's pf.c: the MSS of its SYN-ACK (pf_get_mss/pf_calc_mss, not max-mss),
/// source-tracking limits (pf_create_state, pf_src_connlimit in pf_synproxy) and what happens to a lost SYN to the
/// server (no timer of pf's own).
/// </summary>
public sealed class PfSynproxyLimitsTests
{
    private static bool IsSyn(byte[] f) => f.Length >= 54 && f[23] == 6 && (f[47] & 0x12) == 0x02;

    private static bool IsSynAck(byte[] f) => f.Length >= 54 && f[23] == 6 && (f[47] & 0x12) == 0x12;

    private static ushort Mss(byte[] f) => (f[46] >> 4) * 4 > 20 && f[54] == 2 ? BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(56)) : (ushort)0;

    [Fact]
    public void TheSynAckCarriesPfCalcMssAndMaxMssClampsOnlySynsPfPasses()
    {
        // pf_create_state announces pf_calc_mss(src, dst, pf_get_mss(SYN)) and sends it with M_SKIP_FIREWALL: max-mss
        // (pf_normalize_mss, on packets pf passes) never touches it. The control: a keep-state rule's SYN is clamped.
        foreach (var synproxy in new[] { true, false })
        {
            var net = new PfNet();
            net.Load("pass out all\nmatch in on $ext_if scrub (max-mss 1200)\npass in on $ext_if proto tcp to port 22 "
                + (synproxy ? "synproxy" : "keep") + " state\n");
            var wan = new FrameLog();
            net.WanIf.AddTap(wan);
            var lan = new FrameLog();
            net.LanIf.AddTap(lan);
            using var listener = PfSynproxyTests.Listener(net.Lan);
            var client = net.Wan.OpenTcp();
            client.Connect(new InetEndpoint(PfNet.V4("10.0.0.2"), 22));
            net.Loop.RunFor(Nanos.PerSecond);
            Assert.Equal(TcpState.Established, client.State);
            Assert.Equal(1460, Mss(wan.Frames.First(f => f.Outbound && IsSyn(f.Frame)).Frame));
            var synAck = wan.Frames.First(f => !f.Outbound && IsSynAck(f.Frame)).Frame;
            var serverSyn = lan.Frames.First(f => !f.Outbound && IsSyn(f.Frame)).Frame;
            Assert.Equal(synproxy ? 1460 : 1200, Mss(serverSyn));
            Assert.Equal(synproxy ? 1460 : 1200, Mss(synAck)); // pf's own, or the server's clamped by the state's pf_scrub
            client.Dispose();
        }
    }

    [Fact]
    public void ASynWithoutOptionsGetsPfCalcMssFloorOf64()
    {
        // pf_get_mss returns 0 for a SYN without options; pf_calc_mss keeps min(max(mssdflt, route), 0) up at 64.
        var net = new PfNet();
        Assert.True(net.Wan.TryAddRoute(PfNet.V4("0.0.0.0"), 0, PfNet.V4("192.0.2.1"), out _));
        Assert.True(net.Fw.TryAddRoute(PfNet.V4("0.0.0.0"), 0, PfNet.V4("192.0.2.2"), out _));
        net.Load("pass out all\npass in on $ext_if proto tcp to port 22 synproxy state\n");
        var ext = new FrameLog();
        net.Ext.AddTap(ext);
        PfSynproxyTests.SpoofedSyn(net, 0);
        net.Loop.RunFor(Nanos.PerSecond / 10);
        var synAck = ext.Frames.First(f => f.Outbound && IsSynAck(f.Frame)).Frame;
        Assert.Equal(64, Mss(synAck));
    }

    [Fact]
    public void SynproxyStatesCountAgainstMaxSrcStatesAndMaxSrcNodes()
    {
        var net = new PfNet();
        Assert.True(net.Wan.TryAddRoute(PfNet.V4("0.0.0.0"), 0, PfNet.V4("192.0.2.1"), out _));
        var pf = net.Load("pass out all\npass in on $ext_if proto tcp to port 22 synproxy state (max-src-states 2, max-src-nodes 2)\n");
        foreach (var i in new[] { 0, 250, 500, 1, 2 })
        {
            PfSynproxyTests.SpoofedSyn(net, i); // i % 250 picks the source: .1, .1, .1, .2, .3
            net.Loop.RunFor(Nanos.PerSecond / 100);
        }

        Assert.Equal(3, pf.Engine.StateCount); // two of .1 (the third over max-src-states), one of .2, none of .3
        Assert.Equal(1UL, pf.Engine.LimitCounters[(int)PfLimitCounter.SrcStates]);
        Assert.Equal(1UL, pf.Engine.LimitCounters[(int)PfLimitCounter.SrcNodes]);
        Assert.Equal(2UL, pf.Engine.Counters[(int)PfReason.SrcLimit]);
        Assert.Equal(3UL, pf.Engine.Counters[(int)PfReason.Synproxy]);
    }

    [Fact]
    public void AClientOverMaxSrcConnThroughSynproxyIsOverloadedAndNeverReachesTheServer()
    {
        var net = new PfNet();
        var pf = net.Load("table <bad> persist\nblock quick from <bad>\npass out all\n"
            + "pass in on $ext_if proto tcp to port 22 synproxy state (max-src-conn 2, overload <bad>)\n");
        using var listener = PfSynproxyTests.Listener(net.Lan);
        var clients = new List<TcpSocket>();
        var accepted = 0;
        for (var i = 0; i < 3; i++)
        {
            var c = net.Wan.OpenTcp();
            c.Connect(new InetEndpoint(PfNet.V4("10.0.0.2"), 22));
            clients.Add(c);
            net.Loop.RunFor(Nanos.PerSecond);
            while (listener.TryAccept(out var a) == Errno.None)
            {
                accepted++;
                a!.Dispose();
            }
        }

        // The third client finished its handshake with pf, but pf_src_connlimit refused its ACK: no SYN to the server.
        Assert.Equal(2, accepted);
        Assert.Equal(1UL, pf.Engine.LimitCounters[(int)PfLimitCounter.SrcConn]);
        Assert.Contains(pf.Tables["bad"].Entries, e => e.Address.Address.Bits == PfNet.V4("192.0.2.2").Value);
        Assert.Equal(1UL, pf.Engine.Counters[(int)PfReason.SrcLimit]);
        foreach (var c in clients)
        {
            c.Dispose();
        }
    }

    /// <summary>Drops the first <c>n</c> IPv4 SYNs arriving at a stack and records every SYN's sequence number.</summary>
    private sealed class SynDropper(int n) : IPacketFilter
    {
        public List<(long At, uint Seq, bool Dropped)> Syns { get; } = [];

        public Func<long> Clock { get; init; } = () => 0;

        public string Name => "syndrop";

        public PfilVerdict Filter(Packet packet, NetworkInterface ifp, PfilDirection direction, bool ipv6)
        {
            var d = packet.Data;
            if (direction != PfilDirection.In || ipv6 || d.Length < 40 || d[9] != 6 || (d[33] & 0x12) != 0x02)
            {
                return PfilVerdict.Pass;
            }

            var drop = Syns.Count < n;
            Syns.Add((Clock(), BinaryPrimitives.ReadUInt32BigEndian(d[24..]), drop));
            return drop ? PfilVerdict.Drop : PfilVerdict.Pass;
        }
    }

    [Fact]
    public void ALostSynToTheServerIsSentAgainWithTheSameIsnWhenTheClientSendsData()
    {
        // pf_synproxy in PROXY:DST: a packet from the client with the handshake's seq/ack sends the SYN again
        // (dst.seqhi is kept), there is no retransmit timer in pf.
        var net = new PfNet();
        var pf = net.Load("pass out all\npass in on $ext_if proto tcp to port 22 synproxy state\n");
        var dropper = new SynDropper(1) { Clock = () => net.Loop.Clock.Now };
        net.Lan.Pfil.Add(dropper);
        using var listener = PfSynproxyTests.Listener(net.Lan);
        var client = net.Wan.OpenTcp();
        client.Connect(new InetEndpoint(PfNet.V4("10.0.0.2"), 22));
        net.Loop.RunFor(10 * Nanos.PerSecond);
        Assert.Equal(TcpState.Established, client.State); // with pf
        Assert.Single(dropper.Syns); // the lost SYN, and nothing since: pf keeps no timer
        Assert.Contains("PROXY:DST", pf.Engine.FormatStates());

        var data = PfSynproxyTests.Bytes(3000, 5);
        TcpSocket? server = null;
        var got = new List<byte>();
        var buf = new byte[4096];
        Assert.Equal(Errno.None, client.Send(data, out var sent));
        Assert.Equal(data.Length, sent);
        for (var i = 0; i < 200 && got.Count < data.Length; i++)
        {
            net.Loop.RunFor(Nanos.PerSecond / 10);
            if (server is null && listener.TryAccept(out var a) == Errno.None)
            {
                server = a;
            }

            while (server is not null && server.Receive(buf, out var r) == Errno.None && r > 0)
            {
                got.AddRange(buf.AsSpan(0, r));
            }
        }

        Assert.Equal(2, dropper.Syns.Count);
        Assert.Equal(dropper.Syns[0].Seq, dropper.Syns[1].Seq);
        Assert.Equal(data, got.ToArray());
        client.Dispose();
        server?.Dispose();
    }

    [Fact]
    public void ASynproxyStateWhoseServerNeverAnswersExpiresTcpFirstAfterTheClientsSyn()
    {
        // pf_synproxy never refreshes the state: it keeps PFTM_TCP_FIRST_PACKET from pf_create_state.
        var net = new PfNet();
        var pf = net.Load("set timeout tcp.first 30\npass out all\npass in on $ext_if proto tcp to port 22 synproxy state\n");
        var dropper = new SynDropper(int.MaxValue) { Clock = () => net.Loop.Clock.Now };
        net.Lan.Pfil.Add(dropper);
        using var listener = PfSynproxyTests.Listener(net.Lan);
        var client = net.Wan.OpenTcp();
        client.Connect(new InetEndpoint(PfNet.V4("10.0.0.2"), 22));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(Errno.None, client.Send(PfSynproxyTests.Bytes(100, 1), out _)); // retransmitted by the client
        net.Loop.RunFor(20 * Nanos.PerSecond);
        Assert.Contains("PROXY:DST", pf.Engine.FormatStates());
        Assert.True(dropper.Syns.Count >= 3); // every client retransmission made pf send the SYN again
        Assert.All(dropper.Syns, s => Assert.Equal(dropper.Syns[0].Seq, s.Seq));
        net.Loop.RunFor(20 * Nanos.PerSecond); // 41 s after the SYN: past tcp.first and a purge pass
        Assert.DoesNotContain("PROXY", pf.Engine.FormatStates());
        client.Dispose();
    }
}
