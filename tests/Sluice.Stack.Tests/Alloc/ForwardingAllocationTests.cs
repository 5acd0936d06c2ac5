using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Links;
using Sluice.Stack.Time;
using Sluice.Testing;
using Sluice.Wire;

namespace Sluice.Stack.Tests.Alloc;

/// <summary>
/// The IPv4 forwarding path allocates nothing per packet: a router with two epairs, forwarding on and a static ARP
/// entry for the next hop forwards 10,000 UDP frames without a single managed allocation on the loop's thread.
/// </summary>
/// <remarks>
/// An allocation assertion, not a timing one. The same router is measured by bench/Sluice.Benchmarks
/// (ForwardingBenchmarks). Tier-0 code is measured here (no JIT escape analysis), so any boxing on the path shows.
/// </remarks>
public sealed class ForwardingAllocationTests
{
    private const int Warmup = 1_000;
    private const int Measured = 10_000;

    private static readonly IPv4Address Sender = new(192, 0, 2, 2);
    private static readonly IPv4Address Receiver = new(198, 51, 100, 2);

    [Theory]
    [InlineData(64)]
    [InlineData(1500)]
    public void ForwardingDecrementsTtlKeepsChecksumValidAndAllocatesNothingPerPacket(int frameLength)
    {
        var run = ForwardThroughRouter(frameLength);

        Assert.Equal(Measured * SteadyStateAllocation.Windows, run.SinkCount);
        Assert.Equal(0, run.BadFrames);
        Assert.Equal(Warmup + (Measured * SteadyStateAllocation.Windows), run.Forwarded);
        Assert.Equal(0, run.Outstanding);
        Assert.True(run.Allocated == 0, run.AllocationMessage);
    }

    private sealed record RunResult(long Allocated, int SinkCount, int BadFrames, long Forwarded, int Outstanding, string AllocationMessage);

    /// <summary>
    /// Builds the router, forwards <see cref="Warmup"/> packets, then measures the allocations of windows of
    /// <see cref="Measured"/> more (the least a window allocated).
    /// </summary>
    private static RunResult ForwardThroughRouter(int frameLength)
    {
        var pool = new PacketPool(new PacketPoolOptions { Diagnostic = true });
        var loop = EventLoop.CreateVirtual(pool);
        var router = new NetStack(loop, new NetStackOptions { Name = "router" });
        var (ingressLink, _) = EpairLink.CreatePair(loop, 0);
        var (egressLink, egressPeer) = EpairLink.CreatePair(loop, 1);
        var ingress = router.CreateInterface("epair0a", ingressLink, "epair");
        var egress = router.CreateInterface("epair1a", egressLink, "epair");
        ingress.AddAddress(new IPv4Address(192, 0, 2, 1), 24);
        egress.AddAddress(new IPv4Address(198, 51, 100, 1), 24);
        Assert.True(router.Sysctl.TrySet("net.inet.ip.forwarding", "1").Succeeded);
        router.Arp.AddStatic(egress, Receiver, egressPeer.HardwareAddress!.Value);
        var sink = new CheckingSink(expectedTtl: 63);
        egressPeer.Attach(sink);
        loop.RunPending();
        sink.Reset();

        var frame = BuildUdpFrame(ingress, frameLength);
        Forward(loop, ingress, frame, Warmup);
        Assert.Equal(Warmup, sink.Count);
        sink.Reset();

        using var recorder = new AllocationRecorder();
        var windows = SteadyStateAllocation.Measure(() => Forward(loop, ingress, frame, Measured));
        var allocated = windows.Min();
        var message = $"every window of {Measured} packets allocated ({SteadyStateAllocation.Describe(windows)}, {allocated / (double)Measured:F1} B/packet at least); sampled types: {recorder.Describe()}";
        return new RunResult(allocated, sink.Count, sink.Bad, router.Ip.Forwarded, pool.Outstanding, message);
    }

    private static void Forward(EventLoop loop, NetworkInterface ingress, byte[] frame, int count)
    {
        for (var i = 0; i < count; i++)
        {
            ingress.Deliver(loop.Pool.RentCopy(frame));
            loop.RunPending();
        }
    }

    /// <summary>An Ethernet/IPv4/UDP frame of <paramref name="frameLength"/> bytes to 198.51.100.2 via the router, TTL 64, valid checksums.</summary>
    private static byte[] BuildUdpFrame(NetworkInterface ingress, int frameLength)
    {
        const int headers = EthernetFrame.HeaderLengthUntagged + IPv4Packet.MinimumHeaderLength + UdpPacket.HeaderLength;
        var frame = new byte[frameLength];
        var payloadLength = frameLength - headers;
        new EthernetHeader(ingress.HardwareAddress, new MacAddress(0x02_00_00_00_00_02UL), EtherType.IPv4).Emit(frame);
        var ip = frame.AsSpan(EthernetFrame.HeaderLengthUntagged);
        new IPv4Header(Sender, Receiver, IPProtocol.Udp, UdpPacket.HeaderLength + payloadLength, Ttl: 64, Identification: 0x1234).Emit(ip);
        var udp = ip.Slice(IPv4Packet.MinimumHeaderLength, UdpPacket.HeaderLength + payloadLength);
        for (var i = 0; i < payloadLength; i++)
        {
            udp[UdpPacket.HeaderLength + i] = (byte)i;
        }

        new UdpHeader(40000, 9).Emit(udp, payloadLength);
        UdpPacket.CreateUnchecked(udp).FillChecksumV4(Sender, Receiver);
        return frame;
    }

    /// <summary>Counts forwarded frames and checks each (TTL, header checksum, addresses) without allocating.</summary>
    private sealed class CheckingSink(byte expectedTtl) : IPacketSink
    {
        public int Count { get; private set; }

        public int Bad { get; private set; }

        public void Deliver(Packet packet)
        {
            Count++;
            if (!EthernetFrame.TryCreate(packet.Data, out var eth) || eth.EtherType != EtherType.IPv4
                || !IPv4Packet.TryCreate(eth.Payload, out var ip) || ip.Ttl != expectedTtl || !ip.VerifyChecksum()
                || ip.Source != Sender || ip.Destination != Receiver)
            {
                Bad++;
            }

            packet.Release();
        }

        public void Reset()
        {
            Count = 0;
            Bad = 0;
        }
    }
}
