using Sluice.Dummynet;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Links;
using Sluice.Stack.Time;
using Sluice.Testing;
using Sluice.Wire;

namespace Sluice.Ipfw.Tests;

/// <summary>
/// ipfw and dummynet allocate nothing per packet once warm: a router whose ipfw sends every forwarded packet through a
/// pipe with bandwidth and delay forwards 10,000 UDP packets without a managed allocation on the loop's thread.
/// </summary>
/// <remarks>An allocation assertion, not a timing one; bench/Sluice.Benchmarks (DummynetBenchmarks) measures the time.</remarks>
public sealed class AllocationTests
{
    private const int Warmup = 2_000;
    private const int Measured = 10_000;

    private static readonly IPv4Address Sender = new(192, 0, 2, 2);
    private static readonly IPv4Address Receiver = new(198, 51, 100, 2);

    [Theory]
    [InlineData(1, 0)]
    [InlineData(0, 0)]
    [InlineData(0, 100)]
    [InlineData(1, 100)]
    public void APipeWithBandwidthAndDelayAllocatesNothingPerPacket(int onePass, int extraRules)
    {
        var router = Router.Create(onePass, extraRules, "bw 100Mbit/s delay 5ms queue 100");
        router.Send(Warmup);
        Assert.Equal(Warmup, router.Sink.Count);

        var windows = SteadyStateAllocation.Measure(() => router.Send(Measured));

        Assert.Equal(Warmup + (SteadyStateAllocation.Windows * Measured), router.Sink.Count);
        Assert.True(SteadyStateAllocation.AnyClean(windows), $"every window of {Measured} packets allocated ({SteadyStateAllocation.Describe(windows)})");
        router.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(0, router.Loop.Pool.Outstanding);
    }

    [Fact]
    public void AqmPipesAllocateNothingPerPacket()
    {
        // 10 Mbit/s is overloaded (a 1000-byte packet every 100 µs): RED, CoDel and the 100-slot queue drop. FQ-CoDel's
        // limit is 10240 packets, which the warm-up would not reach, so it runs below the link rate.
        foreach (var config in new[] { "bw 10Mbit/s red 0.002/5/15/0.1", "bw 10Mbit/s codel", "bw 10Mbit/s pie", "bw 100Mbit/s" })
        {
            var router = Router.Create(1, 10, config, fqCodel: config == "bw 100Mbit/s");
            router.Send(Warmup);
            SteadyStateAllocation.AssertNone(() => router.Send(Measured), $"{config}, {Measured} packets");
        }
    }

    [Fact]
    public void FwdToALocalSocketAllocatesNothingPerPacket()
    {
        // The transparent-proxy path: rule 100 tags each datagram with a local next hop, the stack delivers it locally
        // and UDP finds the socket at 127.0.0.1:5353, which reads it with its original destination (IP_ORIGDSTADDR).
        var router = Router.Create(1, 10, "bw 100Mbit/s");
        Add(router.Ipfw, "100 fwd 127.0.0.1,5353 udp from 192.0.2.0/24 to any 9 in");
        var proxy = router.Stack.OpenUdp();
        Assert.Equal(Sluice.Stack.Sockets.Errno.None, proxy.Bind(IPv4Address.Loopback, 5353));
        var buffer = new byte[2048];
        var received = 0;
        var wrongDestination = 0;
        proxy.DataAvailable = s =>
        {
            while (s.TryReceive(buffer, out _, out _, out var original))
            {
                received++;
                wrongDestination += original.Address.V4 == Receiver && original.Port == 9 ? 0 : 1;
            }
        };
        router.Send(Warmup);
        Assert.Equal(Warmup, received);

        SteadyStateAllocation.AssertNone(() => router.Send(Measured), $"fwd to a local socket, {Measured} packets");

        Assert.Equal(0, router.Sink.Count);
        Assert.Equal(0, wrongDestination);
        Assert.True(received >= Warmup + Measured, received.ToString(System.Globalization.CultureInfo.InvariantCulture));
        proxy.Dispose();
        Assert.Equal(0, router.Loop.Pool.Outstanding);
    }

    private static void Add(IpfwInstance ipfw, string rule)
    {
        Assert.True(IpfwParser.TryParseRule(rule.Split(' '), out var parsed, out var error), error?.Message);
        ipfw.Add(parsed!);
    }

    /// <summary>A router (ipfw, pipe 1 on input) between a packet source and a counting sink, on virtual time.</summary>
    internal sealed class Router
    {
        private readonly byte[] _frame;
        private readonly NetworkInterface _ingress;

        private Router(EventLoop loop, NetworkInterface ingress, CountingSink sink, byte[] frame)
        {
            Loop = loop;
            Stack = ingress.Stack;
            _ingress = ingress;
            Sink = sink;
            _frame = frame;
        }

        public EventLoop Loop { get; }

        public NetStack Stack { get; }

        public CountingSink Sink { get; }

        public IpfwInstance Ipfw { get; private set; } = null!;

        public static Router Create(int onePass, int extraRules, string pipeConfig, bool fqCodel = false, int frameLength = 1000)
        {
            var pool = new PacketPool(new PacketPoolOptions { Diagnostic = true });
            var loop = EventLoop.CreateVirtual(pool);
            var stack = new NetStack(loop, new NetStackOptions { Name = "router" });
            var (ingressLink, _) = EpairLink.CreatePair(loop, 0);
            var (egressLink, egressPeer) = EpairLink.CreatePair(loop, 1);
            var ingress = stack.CreateInterface("epair0a", ingressLink, "epair");
            var egress = stack.CreateInterface("epair1a", egressLink, "epair");
            ingress.AddAddress(new IPv4Address(192, 0, 2, 1), 24);
            egress.AddAddress(new IPv4Address(198, 51, 100, 1), 24);
            Assert.True(stack.Sysctl.TrySet("net.inet.ip.forwarding", "1").Succeeded);
            stack.Arp.AddStatic(egress, Receiver, egressPeer.HardwareAddress!.Value);
            var sink = new CountingSink();
            egressPeer.Attach(sink);

            var ipfw = IpfwInstance.Of(stack);
            Assert.True(stack.Sysctl.TrySet("net.inet.ip.fw.one_pass", onePass.ToString(System.Globalization.CultureInfo.InvariantCulture)).Succeeded);
            for (var i = 0; i < extraRules; i++)
            {
                // Rules that never match this traffic: the packet walks past each of them.
                Add(ipfw, $"{100 + i} deny tcp from 10.{i % 250}.0.0/16 to any 22");
            }

            // FreeBSD's pipe N always feeds a FIFO; a scheduler type applies to queues attached to sched N.
            Add(ipfw, fqCodel ? "30000 queue 1 ip from any to any in" : "30000 pipe 1 ip from any to any in");
            Add(ipfw, "30100 count ip from any to any");
            Add(ipfw, "40000 allow ip from any to any");
            var dn = ipfw.Dummynet;
            Assert.True(dn.TryConfigure(DnObjectKind.Pipe, ["1", .. pipeConfig.Split(' ')], out var error), error?.Message);
            if (fqCodel)
            {
                Assert.True(dn.TryConfigure(DnObjectKind.Sched, ["1", "type", "fq_codel"], out error), error?.Message);
                Assert.True(dn.TryConfigure(DnObjectKind.Queue, ["1", "sched", "1"], out error), error?.Message);
            }

            loop.RunFor(Nanos.PerSecond);
            sink.Count = 0;
            return new Router(loop, ingress, sink, BuildUdpFrame(ingress, frameLength)) { Ipfw = ipfw };
        }

        /// <summary>Sends <paramref name="count"/> packets 100 µs apart and lets the last one through the pipe.</summary>
        public void Send(int count)
        {
            for (var i = 0; i < count; i++)
            {
                _ingress.Deliver(Loop.Pool.RentCopy(_frame));
                Loop.RunFor(100 * Nanos.PerMicrosecond);
            }

            Loop.RunFor(50 * Nanos.PerMillisecond);
        }
    }

    internal sealed class CountingSink : IPacketSink
    {
        public int Count { get; set; }

        public void Deliver(Packet packet)
        {
            Count++;
            packet.Release();
        }
    }

    internal static byte[] BuildUdpFrame(NetworkInterface ingress, int frameLength)
    {
        const int headers = EthernetFrame.HeaderLengthUntagged + IPv4Packet.MinimumHeaderLength + UdpPacket.HeaderLength;
        var frame = new byte[frameLength];
        var payloadLength = frameLength - headers;
        new EthernetHeader(ingress.HardwareAddress, new MacAddress(0x02_00_00_00_00_02UL), EtherType.IPv4).Emit(frame);
        var ip = frame.AsSpan(EthernetFrame.HeaderLengthUntagged);
        new IPv4Header(Sender, Receiver, IPProtocol.Udp, UdpPacket.HeaderLength + payloadLength, Ttl: 64, Identification: 0x1234).Emit(ip);
        var udp = ip.Slice(IPv4Packet.MinimumHeaderLength, UdpPacket.HeaderLength + payloadLength);
        new UdpHeader(40000, 9).Emit(udp, payloadLength);
        UdpPacket.CreateUnchecked(udp).FillChecksumV4(Sender, Receiver);
        return frame;
    }
}
