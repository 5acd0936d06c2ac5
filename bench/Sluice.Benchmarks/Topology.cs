using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Links;
using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Benchmarks;

/// <summary>A packet sink at the far end of an epair that counts and releases every frame.</summary>
public sealed class CountingSink : IPacketSink
{
    /// <summary>Frames received.</summary>
    public long Count { get; private set; }

    /// <inheritdoc />
    public void Deliver(Packet packet)
    {
        Count++;
        packet.Release();
    }

    /// <summary>Forgets what was counted (the gratuitous ARPs sent while the topology was built).</summary>
    public void Reset() => Count = 0;
}

/// <summary>
/// A router stack R with two epairs: frames are injected on the ingress interface (epair0a, 192.0.2.1/24) and
/// forwarded out of the egress interface (epair1a, 198.51.100.1/24) to 198.51.100.2, whose MAC is a static ARP entry.
/// The egress epair's far end (epair1b) goes either to a <see cref="CountingSink"/> or to a second stack (host B) with
/// a UDP socket bound to port 9.
/// </summary>
public sealed class RouterTopology
{
    public static readonly IPv4Address SenderAddress = new(192, 0, 2, 2);
    public static readonly IPv4Address IngressAddress = new(192, 0, 2, 1);
    public static readonly IPv4Address EgressAddress = new(198, 51, 100, 1);
    public static readonly IPv4Address ReceiverAddress = new(198, 51, 100, 2);
    public static readonly MacAddress SenderMac = new(0x02_00_00_00_00_02UL);
    public const ushort SourcePort = 40000;
    public const ushort DestinationPort = 9;

    private RouterTopology(EventLoop loop, NetStack router, NetworkInterface ingress, NetworkInterface egress, EpairLink egressPeer)
    {
        Loop = loop;
        Router = router;
        Ingress = ingress;
        Egress = egress;
        EgressPeer = egressPeer;
    }

    public EventLoop Loop { get; }

    public NetStack Router { get; }

    public NetworkInterface Ingress { get; }

    public NetworkInterface Egress { get; }

    /// <summary>epair1b: the end the router's egress transmits to.</summary>
    public EpairLink EgressPeer { get; }

    /// <summary>The counting sink on epair1b (null when host B is attached).</summary>
    public CountingSink? Sink { get; private set; }

    /// <summary>Host B (null when the sink is attached).</summary>
    public NetStack? Receiver { get; private set; }

    /// <summary>Host B's UDP socket on 198.51.100.2:9.</summary>
    public UdpSocket? ReceiverSocket { get; private set; }

    /// <summary>Builds the router with a counting sink on epair1b.</summary>
    public static RouterTopology WithSink(PacketPool? pool = null)
    {
        var t = BuildRouter(pool);
        t.Sink = new CountingSink();
        t.EgressPeer.Attach(t.Sink);
        t.Router.Arp.AddStatic(t.Egress, ReceiverAddress, t.EgressPeer.HardwareAddress!.Value);
        t.Loop.RunPending();
        t.Sink.Reset();
        return t;
    }

    /// <summary>Builds the router with host B (a second stack on the same loop) on epair1b.</summary>
    public static RouterTopology WithReceiver(PacketPool? pool = null)
    {
        var t = BuildRouter(pool);
        var b = new NetStack(t.Loop, new NetStackOptions { Name = "b", Seed = 2 });
        var ifb = b.CreateInterface("epair1b", t.EgressPeer, "epair");
        ifb.AddAddress(ReceiverAddress, 24);
        var socket = b.OpenUdp();
        var error = socket.Bind(ReceiverAddress, DestinationPort);
        if (error != Errno.None)
        {
            throw new InvalidOperationException($"bind: {error}");
        }

        socket.ReceiveBufferSize = Math.Max(socket.ReceiveBufferSize, 1 << 20);
        t.Router.Arp.AddStatic(t.Egress, ReceiverAddress, ifb.HardwareAddress);
        t.Receiver = b;
        t.ReceiverSocket = socket;
        t.Loop.RunPending();
        return t;
    }

    /// <summary>Releases every datagram queued on host B's socket; returns how many.</summary>
    public int DrainReceiver()
    {
        var socket = ReceiverSocket!;
        var n = 0;
        while (socket.TryReceivePacket(out var packet, out _))
        {
            packet.Release();
            n++;
        }

        return n;
    }

    /// <summary>
    /// An Ethernet/IPv4/UDP frame of exactly <paramref name="frameLength"/> bytes from 192.0.2.2:40000 to
    /// 198.51.100.2:9, addressed to the ingress interface's MAC, TTL 64, with valid IPv4 and UDP checksums.
    /// </summary>
    public byte[] BuildUdpFrame(int frameLength)
    {
        const int headers = EthernetFrame.HeaderLengthUntagged + IPv4Packet.MinimumHeaderLength + UdpPacket.HeaderLength;
        ArgumentOutOfRangeException.ThrowIfLessThan(frameLength, headers);
        var frame = new byte[frameLength];
        var payloadLength = frameLength - headers;
        new EthernetHeader(Ingress.HardwareAddress, SenderMac, EtherType.IPv4).Emit(frame);
        var ip = frame.AsSpan(EthernetFrame.HeaderLengthUntagged);
        new IPv4Header(SenderAddress, ReceiverAddress, IPProtocol.Udp, UdpPacket.HeaderLength + payloadLength, Ttl: 64, Identification: 0x1234).Emit(ip);
        var udp = ip.Slice(IPv4Packet.MinimumHeaderLength, UdpPacket.HeaderLength + payloadLength);
        for (var i = 0; i < payloadLength; i++)
        {
            udp[UdpPacket.HeaderLength + i] = (byte)i;
        }

        new UdpHeader(SourcePort, DestinationPort).Emit(udp, payloadLength);
        UdpPacket.CreateUnchecked(udp).FillChecksumV4(SenderAddress, ReceiverAddress);
        return frame;
    }

    /// <summary>Injects one copy of <paramref name="frame"/> on the ingress interface and runs the loop to completion.</summary>
    public void Inject(ReadOnlySpan<byte> frame)
    {
        var packet = Loop.Pool.RentCopy(frame);
        Ingress.Deliver(packet);
        Loop.RunPending();
    }

    private static RouterTopology BuildRouter(PacketPool? pool)
    {
        var loop = EventLoop.CreateVirtual(pool);
        var router = new NetStack(loop, new NetStackOptions { Name = "router", Seed = 1 });
        var (ingressLink, _) = EpairLink.CreatePair(loop, 0);
        var (egressLink, egressPeer) = EpairLink.CreatePair(loop, 1);
        var ingress = router.CreateInterface("epair0a", ingressLink, "epair");
        var egress = router.CreateInterface("epair1a", egressLink, "epair");
        ingress.AddAddress(IngressAddress, 24);
        egress.AddAddress(EgressAddress, 24);
        var result = router.Sysctl.TrySet("net.inet.ip.forwarding", "1");
        if (result.Status != Stack.Sysctl.SysctlSetStatus.Ok)
        {
            throw new InvalidOperationException($"sysctl net.inet.ip.forwarding=1: {result.Status}");
        }

        return new RouterTopology(loop, router, ingress, egress, egressPeer);
    }
}
