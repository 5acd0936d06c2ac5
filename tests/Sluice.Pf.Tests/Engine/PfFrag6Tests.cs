using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Pf.Tests.Engine;

/// <summary>pf reassembles IPv6 fragments (pf_normalize_ip6/pf_reassemble6) and refragments on output (pf_refragment6).</summary>
public sealed class PfFrag6Tests
{
    private const string Conf = "block all\npass in on $int_if inet6 proto udp to port 53\npass out on $ext_if inet6 proto udp to port 53\npass inet6 proto icmp6\n";

    private static byte[] Payload(int n) => [.. Enumerable.Range(0, n).Select(i => (byte)(i * 7 + 3))];

    [Fact]
    public void FragmentedIPv6DatagramsAreReassembledForPortRulesAndLeaveAsFragmentsAgain()
    {
        var net = new PfNet();
        var log = new FrameLog();
        net.WanIf.AddTap(log);
        var pf = net.Load(Conf);
        using var lan = PfNet.Bound(net.Lan, 4000, v6: true);
        using var wan = PfNet.Bound(net.Wan, 53, v6: true);
        var data = Payload(4000);
        lan.SendTo(data, new InetEndpoint(PfNet.V6("2001:db8:2::2"), 53));
        net.Loop.RunFor(Nanos.PerSecond);
        var buf = new byte[8000];
        Assert.True(wan.TryReceive(buf, out var n, out _));
        Assert.Equal(data, buf[..n]);

        // On the wire behind fw the datagram is fragments again, none larger than the largest that arrived.
        var frags = log.Frames.Where(f => !f.Outbound && f.Frame.Length > 54 && f.Frame[12] == 0x86 && f.Frame[13] == 0xdd && f.Frame[20] == 44).ToList();
        Assert.True(frags.Count >= 3);
        Assert.All(frags, f => Assert.True(f.Frame.Length - 14 <= 1500));
        Assert.Equal(1UL, pf.Engine.Refragmented6);
        Assert.Equal(2, pf.Engine.StateCount); // "pass in" on int and "pass out" on ext, each matched by the whole datagram
        Assert.Equal(0, pf.Engine.FragmentCount);

        // The answer, fragmented by wan, matches the state as a whole datagram.
        var answer = Payload(3000);
        wan.SendTo(answer, new InetEndpoint(PfNet.V6("2001:db8:1::2"), 4000));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.True(lan.TryReceive(buf, out n, out _));
        Assert.Equal(answer, buf[..n]);
    }

    [Fact]
    public void WithAScrubRuleThatDoesNotMatchFragmentsStayFragmentsAndMissPortRules()
    {
        var net = new PfNet();
        var pf = net.Load("scrub in on $ext_if all\n" + Conf);
        using var lan = PfNet.Bound(net.Lan, 4000, v6: true);
        using var wan = PfNet.Bound(net.Wan, 53, v6: true);
        lan.SendTo(Payload(4000), new InetEndpoint(PfNet.V6("2001:db8:2::2"), 53));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.False(wan.TryReceive(new byte[8000], out _, out _));
        Assert.Equal(0UL, pf.Engine.Refragmented6);
    }

    /// <summary>An IPv6 fragment lan → wan (UDP 4000 → 53) of datagram <paramref name="id"/>, built by hand.</summary>
    private static void SendFragment(PfNet net, uint id, int offset, bool more, byte[] bytes)
    {
        var p = net.Loop.Pool.Rent(48 + bytes.Length);
        var d = p.Data;
        d.Clear();
        d[0] = 0x60;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(d[4..], (ushort)(8 + bytes.Length));
        d[6] = 44;
        d[7] = 64;
        PfNet.V6("2001:db8:1::2").WriteTo(d[8..]);
        PfNet.V6("2001:db8:2::2").WriteTo(d[24..]);
        d[40] = 17;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(d[42..], (ushort)(offset | (more ? 1 : 0)));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(d[44..], id);
        bytes.CopyTo(d[48..]);
        Assert.Equal(Sluice.Stack.Sockets.Errno.None, net.Lan.OutputIPv6Raw(p));
    }

    private static byte[] UdpHead(int total) =>
        [0x0f, 0xa0, 0x00, 0x35, (byte)(total >> 8), (byte)total, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];

    [Fact]
    public void AnIncompleteIPv6DatagramIsHeldUntilTimeoutFragAndNeverForwarded()
    {
        var net = new PfNet();
        var pf = net.Load("set timeout frag 10\n" + Conf);
        var log = new FrameLog();
        net.WanIf.AddTap(log);
        SendFragment(net, 77, 0, more: true, UdpHead(32));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(1, pf.Engine.FragmentCount);
        Assert.DoesNotContain(log.Frames, f => f.Frame.Length > 54 && f.Frame[12] == 0x86 && f.Frame[20] is 44 or 17);
        net.Loop.RunFor(30 * Nanos.PerSecond);
        Assert.Equal(0, pf.Engine.FragmentCount);
    }

    [Fact]
    public void OverlappingIPv6FragmentsDiscardTheDatagram()
    {
        var net = new PfNet();
        var pf = net.Load(Conf);
        using var wan = PfNet.Bound(net.Wan, 53, v6: true);
        SendFragment(net, 78, 0, more: true, UdpHead(32));
        SendFragment(net, 78, 8, more: false, new byte[24]); // overlaps bytes 8..16 of the first
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(0, pf.Engine.FragmentCount);
        Assert.True(pf.Engine.Counters[(int)Sluice.Pf.Engine.PfReason.Fragment] >= 1);
        Assert.False(wan.TryReceive(new byte[64], out _, out _));

        // Two fragments that fit together arrive as one datagram at wan (the checksum 0 is refused by UDP over IPv6,
        // so only fw's state shows it passed).
        SendFragment(net, 79, 0, more: true, UdpHead(32));
        SendFragment(net, 79, 16, more: false, new byte[16]);
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(1UL, pf.Engine.Refragmented6);
    }

    [Fact]
    public void RouteToSendsAReassembledIPv6DatagramAsFragmentsToThePoolsNextHop()
    {
        var net = new PfNet();
        var log = new FrameLog();
        net.WanIf.AddTap(log);
        var pf = net.Load("pass in on $int_if route-to ($ext_if 2001:db8:2::2) inet6 proto udp to 2001:db8:99::/64 port 53\npass out all\n");
        using var lan = PfNet.Bound(net.Lan, 4000, v6: true);
        lan.SendTo(Payload(4000), new InetEndpoint(PfNet.V6("2001:db8:99::5"), 53));
        net.Loop.RunFor(Nanos.PerSecond);
        var frags = log.Frames.Where(f => !f.Outbound && f.Frame.Length > 54 && f.Frame[12] == 0x86 && f.Frame[13] == 0xdd && f.Frame[20] == 44).ToList();
        Assert.True(frags.Count >= 3);
        Assert.All(frags, f => Assert.Equal(PfNet.V6("2001:db8:99::5"), IPv6Packet.CreateUnchecked(f.Frame.AsSpan(14)).Destination));
        var total = frags.Sum(f => IPv6Packet.CreateUnchecked(f.Frame.AsSpan(14)).PayloadLength - 8);
        Assert.Equal(4008, total);
        Assert.Equal(1UL, pf.Engine.Refragmented6);
        Assert.True(pf.Engine.Routed >= 1);
    }

    [Fact]
    public void DupToCopiesAReassembledIPv6DatagramAsFragments()
    {
        // fw has no route to 2001:db8:99::/64: only dup-to's copy leaves, to wan, as fragments.
        var net = new PfNet();
        var log = new FrameLog();
        net.WanIf.AddTap(log);
        var pf = net.Load("pass in on $int_if dup-to ($ext_if 2001:db8:2::2) inet6 proto udp to port 53\npass out all\n");
        using var lan = PfNet.Bound(net.Lan, 4000, v6: true);
        lan.SendTo(Payload(4000), new InetEndpoint(PfNet.V6("2001:db8:99::5"), 53));
        net.Loop.RunFor(Nanos.PerSecond);
        var frags = log.Frames.Where(f => !f.Outbound && f.Frame.Length > 54 && f.Frame[12] == 0x86 && f.Frame[13] == 0xdd && f.Frame[20] == 44).ToList();
        Assert.Equal(4008, frags.Sum(f => IPv6Packet.CreateUnchecked(f.Frame.AsSpan(14)).PayloadLength - 8));

        // The original goes on whole (pf_test6 refragments on output only) and finds no route: fw's unreachable quotes
        // its UDP header, matches the state going back and is duplicated too, as in FreeBSD.
        var icmp = log.Frames.Where(f => !f.Outbound && f.Frame.Length > 62 && f.Frame[12] == 0x86 && f.Frame[13] == 0xdd && f.Frame[20] == 58 && f.Frame[54] == 1).ToList();
        Assert.Single(icmp);
        Assert.Equal(2UL, pf.Engine.Routed);
        Assert.Equal(1UL, pf.Engine.Reassembled6);
    }

    [Fact]
    public void AForwardedFragmentedDatagramIsReassembledOnceAndLeavesAsTheSameFragments()
    {
        // FreeBSD: pf_test6 on input reassembles (pf_reassemble6, PF_REASSEMBLED tag) and passes the datagram on
        // whole; ip6_forward runs pf's output test before its MTU check, and pf_refragment6 cuts it there with the
        // largest fragment's size and the original identification. One reassembly, one refragmentation.
        var net = new PfNet();
        var pf = net.Load(Conf);
        var log = new FrameLog();
        net.WanIf.AddTap(log);
        using var wan = PfNet.Bound(net.Wan, 53, v6: true);
        var data = Payload(2992);
        var udp = new byte[8 + data.Length];
        udp[0] = 0x0f;
        udp[1] = 0xa0;
        udp[3] = 53;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        data.CopyTo(udp, 8);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(6), UdpChecksum6(udp));
        int[] sizes = [1232, 1232, 536];
        var sent = new List<byte[]>();
        var off = 0;
        foreach (var n in sizes)
        {
            var chunk = udp.AsSpan(off, n).ToArray();
            SendFragment(net, 0xabcdef, off, more: off + n < udp.Length, chunk);
            sent.Add(chunk);
            off += n;
        }

        net.Loop.RunFor(Nanos.PerSecond);
        var buf = new byte[8000];
        Assert.True(wan.TryReceive(buf, out var got, out _));
        Assert.Equal(data, buf[..got]);

        var frags = log.Frames.Where(f => !f.Outbound && f.Frame.Length > 62 && f.Frame[12] == 0x86 && f.Frame[13] == 0xdd && f.Frame[20] == 44)
            .Select(f => f.Frame.AsSpan(14).ToArray()).ToList();
        Assert.Equal(sizes.Length, frags.Count);
        for (var i = 0; i < frags.Count; i++)
        {
            var ip = IPv6Packet.CreateUnchecked(frags[i]);
            Assert.Equal(48 + sizes[i], frags[i].Length);
            Assert.Equal(63, ip.HopLimit); // decremented once
            Assert.Equal(17, frags[i][40]);
            Assert.Equal(0xabcdefu, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(frags[i].AsSpan(44)));
            Assert.Equal(sizes.Take(i).Sum() | (i < frags.Count - 1 ? 1 : 0), System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(frags[i].AsSpan(42)));
            Assert.Equal(sent[i], frags[i][48..]);
        }

        Assert.Equal(1UL, pf.Engine.Reassembled6);
        Assert.Equal(1UL, pf.Engine.Refragmented6);
        Assert.Equal(0UL, pf.Engine.Counters[(int)Sluice.Pf.Engine.PfReason.Fragment]);
        Assert.Equal(0, pf.Engine.FragmentCount);
        Assert.Equal(2, pf.Engine.StateCount); // in on int and out on ext, each created by the whole datagram
    }

    private static ushort UdpChecksum6(byte[] udp)
    {
        uint sum = 0;
        var src = new byte[16];
        var dst = new byte[16];
        PfNet.V6("2001:db8:1::2").WriteTo(src);
        PfNet.V6("2001:db8:2::2").WriteTo(dst);
        for (var i = 0; i < 16; i += 2)
        {
            sum += (uint)((src[i] << 8) | src[i + 1]) + (uint)((dst[i] << 8) | dst[i + 1]);
        }

        sum += (uint)udp.Length + 17;
        for (var i = 0; i < udp.Length; i += 2)
        {
            sum += (uint)((udp[i] << 8) | (i + 1 < udp.Length ? udp[i + 1] : 0));
        }

        while (sum > 0xffff)
        {
            sum = (sum & 0xffff) + (sum >> 16);
        }

        var c = (ushort)~sum;
        return c == 0 ? (ushort)0xffff : c;
    }
}
