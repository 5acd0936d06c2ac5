using System.Buffers.Binary;
using Sluice.Pf.Engine;
using Sluice.Stack.Buffers;
using Sluice.Stack.Pfil;
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
}
