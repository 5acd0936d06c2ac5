using System.Buffers.Binary;
using CsCheck;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Time;
using Sluice.Wire;
using static Sluice.Stack.Tests.Net.TestNet;

namespace Sluice.Stack.Tests.Net;

/// <summary>Random and mutated frames into every receive path: no exception, no leak, and the drops are counted.</summary>
public sealed class HostileInputTests
{
    private sealed class Target
    {
        public Target()
        {
            Net = new TestNet();
            Victim = Net.Stack("victim");
            var peer = Net.Stack("peer");
            var (a, b) = Net.Connect(Victim, peer);
            Interface = a;
            a.AddAddress(V4("192.0.2.1"), 24);
            a.AddAddress(V6("2001:db8::1"), 64);
            b.AddAddress(V4("192.0.2.2"), 24);
            Victim.Sysctl.TrySet("net.inet.ip.forwarding", "1");
            Victim.Sysctl.TrySet("net.inet6.ip6.forwarding", "1");
            Victim.Sysctl.TrySet("net.inet.icmp.icmplim", "0");
            using var udp = Victim.OpenUdp();
            Net.Loop.RunFor(2 * Nanos.PerSecond);
        }

        public TestNet Net { get; }

        public NetStack Victim { get; }

        public NetworkInterface Interface { get; }

        public void Feed(ReadOnlySpan<byte> frame)
        {
            var packet = Net.Loop.Pool.RentCopy(frame);
            Interface.Deliver(packet);
            Net.Loop.RunPending();
        }

        public long Drops()
        {
            var s = Victim;
            return Interface.Counters.InputErrors + Interface.Counters.InputUnknownProtocol + s.Ip.TooShort + s.Ip.BadSum + s.Ip.BadHeaderLength
                + s.Ip.BadLength + s.Ip.BadVersion + s.Ip.BadAddress + s.Ip6.TooShort + s.Ip6.BadVersion + s.Ip6.BadScope
                + s.Ip6.TooManyHeaders + s.Icmp.Checksum + s.Icmp.TooShort + s.Icmp6.Checksum + s.Icmp6.TooShort
                + s.Udp.BadSum + s.Udp.HeaderDropped + s.Udp.BadLength + s.Ip.FragmentsDropped + s.Ip6.FragmentsDropped;
        }
    }

    private static byte[] Frame(ushort etherType, ReadOnlySpan<byte> payload, MacAddress destination)
    {
        var frame = new byte[14 + payload.Length];
        destination.WriteTo(frame);
        new MacAddress(0x0200_0000_0042UL).WriteTo(frame.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), etherType);
        payload.CopyTo(frame.AsSpan(14));
        return frame;
    }

    /// <summary>A valid-looking IPv4 header (good checksum) over random payload, so parsing goes past the header checks.</summary>
    private static readonly Gen<byte[]> IPv4Frames =
        Gen.Select(Gen.Byte.Array[0, 96], Gen.Byte[0, 255], Gen.Byte, Gen.UShort, Gen.Bool, Gen.Int[0, 3]).Select((payload, proto, ttl, frag, local, pick) =>
        {
            var protocol = pick switch { 0 => (byte)1, 1 => (byte)17, 2 => (byte)6, _ => proto };
            var packet = new byte[20 + payload.Length];
            new IPv4Header(V4("192.0.2.2"), local ? V4("192.0.2.1") : V4("203.0.113.9"), (IPProtocol)protocol, payload.Length, ttl).Emit(packet);
            var ip = IPv4Packet.CreateUnchecked(packet);
            ip.SetFragment(false, (frag & 1) != 0, (frag >> 4) & 0x1ff8);
            ip.FillChecksum();
            payload.CopyTo(packet.AsSpan(20));
            return Frame(0x0800, packet, new MacAddress(0x025e_1c00_000aUL));
        });

    private static readonly Gen<byte[]> IPv6Frames =
        Gen.Select(Gen.Byte.Array[0, 96], Gen.Byte[0, 255], Gen.Byte, Gen.Int[0, 4]).Select((payload, next, hops, pick) =>
        {
            var nh = pick switch { 0 => (byte)58, 1 => (byte)17, 2 => (byte)44, 3 => (byte)0, _ => next };
            var packet = new byte[40 + payload.Length];
            new IPv6Header(V6("2001:db8::2"), V6("2001:db8::1"), (IPProtocol)nh, payload.Length, hops).Emit(packet);
            payload.CopyTo(packet.AsSpan(40));
            return Frame(0x86DD, packet, new MacAddress(0x025e_1c00_000aUL));
        });

    private static readonly Gen<byte[]> ArpFrames =
        Gen.Byte.Array[0, 40].Select(p => Frame(0x0806, p, MacAddress.Broadcast));

    private static readonly Gen<byte[]> RawFrames = Gen.Byte.Array[0, 128];

    [Fact]
    public void MillionHostileFramesNeverThrowNorLeakAndAreCounted()
    {
        var target = new Target();
        var baseline = target.Net.Loop.Pool.Outstanding;
        var fed = 0;
        var gens = new[] { (RawFrames, 250_000), (IPv4Frames, 300_000), (IPv6Frames, 300_000), (ArpFrames, 150_000) };
        foreach (var (gen, iterations) in gens)
        {
            gen.Sample(frame =>
            {
                target.Feed(frame);
                fed++;
            }, iter: iterations, threads: 1, seed: "0N0XIzNsQ0O2");
        }

        // Let timers (ARP, ND, reassembly) run out so held packets are freed too.
        target.Net.Loop.RunFor(120 * Nanos.PerSecond);
        Assert.Equal(1_000_000, fed);
        Assert.Equal(baseline, target.Net.Loop.Pool.Outstanding);
        Assert.True(target.Drops() > 100_000, $"drops counted: {target.Drops()}");
    }

    [Fact]
    public void MutatedValidPacketsNeverThrow()
    {
        var target = new Target();
        var echo = new byte[20 + 64];
        new IPv4Header(V4("192.0.2.2"), V4("192.0.2.1"), IPProtocol.Icmp, 64).Emit(echo);
        echo[20] = 8;
        var icmp = IcmpV4Packet.CreateUnchecked(echo.AsSpan(20));
        icmp.FillChecksum();
        var frame = Frame(0x0800, echo, new MacAddress(0x025e_1c00_000aUL));
        Gen.Select(Gen.Int[0, frame.Length - 1], Gen.Byte, Gen.Int[0, frame.Length]).Sample((at, value, cut) =>
        {
            var copy = (byte[])frame.Clone();
            copy[at] ^= value;
            target.Feed(copy.AsSpan(0, Math.Max(cut, 1)));
        }, iter: 100_000, threads: 1, seed: "0N0XIzNsQ0O2");
        target.Net.Loop.RunFor(120 * Nanos.PerSecond);
        Assert.Equal(0, target.Net.Loop.Pool.Outstanding);
    }
}
