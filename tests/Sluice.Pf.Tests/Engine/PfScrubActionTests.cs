using System.Buffers.Binary;
using Sluice.Pf.Engine;
using Sluice.Stack.Buffers;
using Sluice.Stack.Pfil;
using Sluice.Stack.Tcp;
using Sluice.Wire;

namespace Sluice.Pf.Tests.Engine;

/// <summary><c>scrub (...)</c> on pass and match rules (pf_rule_to_actions, pf_scrub), and <c>reassemble tcp</c>.</summary>
public sealed class PfScrubActionTests
{
    private static readonly IPv4Address Lan = PfNet.V4("10.0.0.2"), Wan = PfNet.V4("192.0.2.2");

    /// <summary>A TCP/IPv4 segment with valid checksums; options padded with NOPs to a multiple of 4.</summary>
    internal static Packet Seg(PfNet net, bool fromLan, byte flags, uint seq, uint ack, byte ttl = 64, byte tos = 0, byte[]? options = null, int payload = 0, bool df = true)
    {
        var opts = options ?? [];
        var olen = (opts.Length + 3) & ~3;
        var tcpLen = 20 + olen + payload;
        var p = net.Loop.Pool.Rent(20 + tcpLen);
        var d = p.Data;
        d.Clear();
        var (src, dst) = fromLan ? (Lan, Wan) : (Wan, Lan);
        new IPv4Header(src, dst, IPProtocol.Tcp, tcpLen, ttl, tos, 0x4242, df).Emit(d);
        var t = d[20..];
        BinaryPrimitives.WriteUInt16BigEndian(t, fromLan ? (ushort)4000 : (ushort)80);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], fromLan ? (ushort)80 : (ushort)4000);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(t[8..], ack);
        t[12] = (byte)((20 + olen) / 4 << 4);
        t[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(t[14..], 65535);
        t.Slice(20, olen).Fill(1);
        opts.CopyTo(t[20..]);
        TcpPacket.CreateUnchecked(t).FillChecksumV4(src, dst);
        return p;
    }

    internal static bool ChecksumsValid(Packet p, bool fromLan)
    {
        var (src, dst) = fromLan ? (Lan, Wan) : (Wan, Lan);
        return IPv4Packet.CreateUnchecked(p.Data).VerifyChecksum()
            && TcpPacket.CreateUnchecked(p.Data[20..]).VerifyChecksumV4(src, dst);
    }

    private static byte[] Mss(ushort mss) => [2, 4, (byte)(mss >> 8), (byte)mss];

    [Fact]
    public void MatchAndPassRuleScrubOptionsApplyToEveryPacketOfTheStateBothWays()
    {
        var net = new PfNet();
        var e = net.Load("match in on $int_if proto tcp scrub (min-ttl 100)\n"
            + "pass in on $int_if proto tcp scrub (set-tos 0x10, max-mss 1200, no-df) keep state\n").Engine;

        var syn = Seg(net, true, 0x02, 1000, 0, ttl: 5, tos: 0x03, options: Mss(1460));
        Assert.Equal(PfilVerdict.Pass, e.Filter(syn, net.Int, PfilDirection.In, false));
        var ip = IPv4Packet.CreateUnchecked(syn.Data);
        Assert.Equal(100, ip.Ttl);
        Assert.Equal(0x13, syn.Data[1]); // DSCP from the rule, ECN bits kept
        Assert.False(ip.DontFragment);
        Assert.Equal(1200, BinaryPrimitives.ReadUInt16BigEndian(syn.Data[(20 + 22)..]));
        Assert.True(ChecksumsValid(syn, true));
        syn.Release();

        // The reply matches the state outbound on the same interface: the state's actions apply to it too.
        var synAck = Seg(net, false, 0x12, 5000, 1001, ttl: 3, options: Mss(1460));
        Assert.Equal(PfilVerdict.Pass, e.Filter(synAck, net.Int, PfilDirection.Out, false));
        Assert.Equal(100, synAck.Data[8]);
        Assert.Equal(0x10, synAck.Data[1]);
        Assert.Equal(1200, BinaryPrimitives.ReadUInt16BigEndian(synAck.Data[(20 + 22)..]));
        Assert.True(ChecksumsValid(synAck, false));
        synAck.Release();

        // An ACK without an MSS option keeps its length; a higher TTL stays as it is.
        var ackSeg = Seg(net, true, 0x10, 1001, 5001, ttl: 200);
        Assert.Equal(PfilVerdict.Pass, e.Filter(ackSeg, net.Int, PfilDirection.In, false));
        Assert.Equal(200, ackSeg.Data[8]);
        Assert.True(ChecksumsValid(ackSeg, true));
        ackSeg.Release();
        Assert.Equal(1, e.StateCount);
    }

    [Fact]
    public void OnlyMatchRulesAndTheDecidingRuleContributeActions()
    {
        var net = new PfNet();
        // The first pass rule matches but a later one decides: its scrub options are not used (last match wins).
        var e = net.Load("pass in on $int_if proto tcp scrub (min-ttl 250)\npass in on $int_if proto tcp to port 80 no state\n"
            + "match in on $int_if proto tcp to port 81 scrub (min-ttl 50)\n").Engine;
        var p = Seg(net, true, 0x02, 1, 0, ttl: 7);
        Assert.Equal(PfilVerdict.Pass, e.Filter(p, net.Int, PfilDirection.In, false));
        Assert.Equal(7, p.Data[8]);
        p.Release();

        var net2 = new PfNet();
        var e2 = net2.Load("match in proto tcp scrub (min-ttl 50)\nmatch in proto tcp scrub (min-ttl 60, random-id)\npass in proto tcp no state\n").Engine;
        var q = Seg(net2, true, 0x02, 1, 0, ttl: 7, df: false);
        Assert.Equal(PfilVerdict.Pass, e2.Filter(q, net2.Int, PfilDirection.In, false));
        Assert.Equal(60, q.Data[8]); // the later match rule's value replaces the earlier one
        Assert.NotEqual(0x4242, BinaryPrimitives.ReadUInt16BigEndian(q.Data[4..]));
        Assert.True(ChecksumsValid(q, true));
        q.Release();
    }

    /// <summary>A timestamp option; <paramref name="pad"/> NOPs first, so that the values can sit across 16-bit words.</summary>
    private static byte[] Ts(uint tsval, uint tsecr, int pad)
    {
        var o = new byte[pad + 10];
        o.AsSpan(0, pad).Fill(1);
        o[pad] = 8;
        o[pad + 1] = 10;
        BinaryPrimitives.WriteUInt32BigEndian(o.AsSpan(pad + 2), tsval);
        BinaryPrimitives.WriteUInt32BigEndian(o.AsSpan(pad + 6), tsecr);
        return o;
    }

    private static (uint TsVal, uint TsEcr) ReadTs(Packet p)
    {
        var t = p.Data[20..];
        var opts = t[20..((t[12] >> 4) * 4)];
        var i = opts.IndexOf((byte)8);
        Assert.True(i >= 0 && opts[i + 1] == 10);
        return (BinaryPrimitives.ReadUInt32BigEndian(opts[(i + 2)..]), BinaryPrimitives.ReadUInt32BigEndian(opts[(i + 6)..]));
    }

    private static Packet Data(PfNet net, uint seq, uint ack, byte ttl, byte[]? options, int payload = 10) =>
        Seg(net, true, 0x18, seq, ack, ttl: ttl, options: options, payload: payload);

    [Theory]
    [InlineData("pass in on $int_if proto tcp scrub (reassemble tcp) keep state\n")]
    [InlineData("scrub in on $int_if proto tcp reassemble tcp\npass in on $int_if proto tcp keep state\n")]
    public void ReassembleTcpModulatesTimestampsKeepsTheHighestTtlAndDropsBadTimestamps(string conf)
    {
        var net = new PfNet();
        var e = net.Load(conf).Engine;
        PfilVerdict Lan(Packet p) => e.Filter(p, net.Int, PfilDirection.In, false);
        PfilVerdict Wan(Packet p) => e.Filter(p, net.Int, PfilDirection.Out, false);

        var syn = Seg(net, true, 0x02, 100, 0, ttl: 64, options: Ts(1000, 0, 2));
        Assert.Equal(PfilVerdict.Pass, Lan(syn));
        var lanTs = ReadTs(syn).TsVal; // what the server sees: the client's clock plus its modulator
        Assert.NotEqual(1000u, lanTs);
        Assert.True(ChecksumsValid(syn, true));
        syn.Release();

        // The server echoes the modulated value; the client gets its own back. Values across 16-bit words (1 NOP).
        var synAck = Seg(net, false, 0x12, 5000, 101, ttl: 64, options: Ts(7000, lanTs, 1));
        Assert.Equal(PfilVerdict.Pass, Wan(synAck));
        var (wanTs, echoed) = ReadTs(synAck);
        Assert.Equal(1000u, echoed);
        Assert.NotEqual(7000u, wanTs);
        Assert.True(ChecksumsValid(synAck, false));
        synAck.Release();

        var ack = Seg(net, true, 0x10, 101, 5001, ttl: 64, options: Ts(1001, wanTs, 3));
        Assert.Equal(PfilVerdict.Pass, Lan(ack));
        Assert.Equal((1001u + (lanTs - 1000u), 7000u), ReadTs(ack));
        Assert.True(ChecksumsValid(ack, true));
        ack.Release();

        // A segment with a lower TTL is raised to the highest the client has used.
        var low = Data(net, 101, 5001, 30, Ts(1002, wanTs, 2));
        Assert.Equal(PfilVerdict.Pass, Lan(low));
        Assert.Equal(64, low.Data[8]);
        Assert.True(ChecksumsValid(low, true));
        low.Release();

        // Both sides are in PAWS now. A tsval far beyond what the clock could have ticked, a data segment without a
        // timestamp after data with them, and a tsval older than the server's last echo are all dropped.
        Packet[] bad =
        [
            Data(net, 111, 5001, 64, Ts(1002 + 10_000_000, wanTs, 2)),
            Data(net, 111, 5001, 64, null),
            Data(net, 111, 5001, 64, Ts(999, wanTs, 2)),
            Data(net, 111, 5001, 64, Ts(1003, wanTs + 1_000_000, 2)), // echoes a tsval the server never sent
        ];
        foreach (var p in bad)
        {
            Assert.Equal(PfilVerdict.Drop, Lan(p));
            p.Release();
        }

        Assert.Equal((ulong)bad.Length, e.Counters[(int)PfReason.BadTimestamp]);
        Assert.Equal(0UL, e.Counters[(int)PfReason.StateMismatch]);

        var good = Data(net, 111, 5001, 64, Ts(1003, wanTs, 2));
        Assert.Equal(PfilVerdict.Pass, Lan(good));
        good.Release();
    }

    [Fact]
    public void WithoutReassembleTcpTimestampsAndTtlPassUntouched()
    {
        var net = new PfNet();
        var e = net.Load("pass in on $int_if proto tcp keep state\n").Engine;
        var syn = Seg(net, true, 0x02, 100, 0, ttl: 64, options: Ts(1000, 0, 2));
        Assert.Equal(PfilVerdict.Pass, e.Filter(syn, net.Int, PfilDirection.In, false));
        Assert.Equal((1000u, 0u), ReadTs(syn));
        syn.Release();
        var low = Seg(net, true, 0x10, 101, 0, ttl: 9, options: Ts(1000 + 10_000_000, 0, 2));
        Assert.Equal(PfilVerdict.Pass, e.Filter(low, net.Int, PfilDirection.In, false));
        Assert.Equal(9, low.Data[8]);
        low.Release();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ARealConnectionThroughReassembleTcpCarriesDataBothWaysWithModulatedTimestamps(bool v6)
    {
        var net = new PfNet();
        // Both legs (in on int, out on ext) keep a state that modulates: the server sees a twice-shifted clock.
        var e = net.Load("pass all scrub (reassemble tcp)\n").Engine;
        var lanLog = new FrameLog();
        var wanLog = new FrameLog();
        net.LanIf.AddTap(lanLog);
        net.WanIf.AddTap(wanLog);
        var listener = net.Wan.OpenTcp(v6);
        Assert.Equal(Stack.Sockets.Errno.None, v6 ? listener.Bind(IPv6Address.Any, 80) : listener.Bind(IPv4Address.Any, 80));
        Assert.Equal(Stack.Sockets.Errno.None, listener.Listen(4));
        var client = net.Lan.OpenTcp(v6);
        client.Connect(v6 ? new(PfNet.V6("2001:db8:2::2"), 80) : new Stack.Sockets.InetEndpoint(PfNet.V4("192.0.2.2"), 80));
        net.Loop.RunFor(Stack.Time.Nanos.PerSecond);
        Assert.Equal(Stack.Tcp.TcpState.Established, client.State);
        Assert.Equal(Stack.Sockets.Errno.None, listener.TryAccept(out var server));

        var data = Enumerable.Range(0, 60_000).Select(i => (byte)(i * 7)).ToArray();
        foreach (var (from, to) in new[] { (client, server!), (server!, client) })
        {
            var got = new List<byte>();
            var sent = 0;
            var buf = new byte[65536];
            for (var i = 0; i < 400 && got.Count < data.Length; i++)
            {
                if (sent < data.Length && from.Send(data.AsSpan(sent), out var n) == Stack.Sockets.Errno.None)
                {
                    sent += n;
                }

                net.Loop.RunFor(Stack.Time.Nanos.PerSecond / 20);
                while (to.Receive(buf, out var r) == Stack.Sockets.Errno.None && r > 0)
                {
                    got.AddRange(buf.AsSpan(0, r));
                }
            }

            Assert.Equal(data, got.ToArray());
        }

        Assert.Equal(0UL, e.Counters[(int)PfReason.BadTimestamp]);
        Assert.Equal(0UL, e.Counters[(int)PfReason.StateMismatch]);

        // The client's SYN left with one timestamp and reached the server with another.
        static uint? SynTs(FrameLog log, bool outbound, bool v6)
        {
            foreach (var (frame, isOut) in log.Frames.Select(f => (f.Frame, f.Outbound)))
            {
                var ip = 14;
                var th = ip + (v6 ? 40 : 20);
                if (isOut != outbound || frame.Length < th + 20 || frame[ip + (v6 ? 6 : 9)] != 6 || frame[th + 13] != 0x02)
                {
                    continue;
                }

                var opts = frame.AsSpan(th + 20, ((frame[th + 12] >> 4) * 4) - 20);
                for (var i = 0; i + 1 < opts.Length;)
                {
                    if (opts[i] is 0 or 1)
                    {
                        i++;
                        continue;
                    }

                    if (opts[i] == 8 && i + 10 <= opts.Length)
                    {
                        return BinaryPrimitives.ReadUInt32BigEndian(opts[(i + 2)..]);
                    }

                    i += Math.Max(2, (int)opts[i + 1]);
                }
            }

            return null;
        }

        var sentTs = SynTs(lanLog, true, v6);
        var seenTs = SynTs(wanLog, false, v6);
        Assert.NotNull(sentTs);
        Assert.NotNull(seenTs);
        Assert.NotEqual(sentTs, seenTs);
        client.Dispose();
        server!.Dispose();
        listener.Dispose();
    }

    [Fact]
    public void ScrubbedTcpStateOnTheLogInterfaceFiltersWithoutAllocating()
    {
        var net = new PfNet();
        var e = net.Load("set loginterface epair0b\npass all scrub (reassemble tcp, min-ttl 70, set-tos 0x08, random-id)\n").Engine;
        PfilVerdict Lan(Packet p) => e.Filter(p, net.Int, PfilDirection.In, false);
        var syn = Seg(net, true, 0x02, 100, 0, options: Ts(1000, 0, 2));
        Assert.Equal(PfilVerdict.Pass, Lan(syn));
        var lanTs = ReadTs(syn).TsVal;
        syn.Release();
        var synAck = Seg(net, false, 0x12, 5000, 101, options: Ts(7000, lanTs, 2));
        Assert.Equal(PfilVerdict.Pass, e.Filter(synAck, net.Int, PfilDirection.Out, false));
        var wanTs = ReadTs(synAck).TsVal;
        synAck.Release();

        var p = Seg(net, true, 0x10, 101, 5001, ttl: 9, options: Ts(1001, wanTs, 2));
        var copy = p.Data.ToArray();
        var failures = 0;
        for (var i = 0; i < 100; i++)
        {
            copy.CopyTo(p.Data);
            failures += Lan(p) == PfilVerdict.Pass ? 0 : 1;
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            copy.CopyTo(p.Data);
            failures += Lan(p) == PfilVerdict.Pass ? 0 : 1;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(70, p.Data[8]);
        Assert.True(ChecksumsValid(p, true));
        p.Release();
        Assert.Equal(0, failures);
        Assert.Equal(0, allocated);
        Assert.Equal(10_101UL, e.InterfacePackets(false, false, false));
        Assert.Equal(1UL, e.InterfacePackets(false, true, false));
    }
}
