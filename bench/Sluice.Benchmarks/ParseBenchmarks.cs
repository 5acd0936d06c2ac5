using BenchmarkDotNet.Attributes;
using Sluice.Wire;

namespace Sluice.Benchmarks;

/// <summary>The checked view chain a receive path runs: <see cref="EthernetFrame"/> → <see cref="IPv4Packet"/> → <see cref="UdpPacket"/>.</summary>
[MemoryDiagnoser]
public class ParseBenchmarks
{
    private byte[] _frame = [];

    /// <summary>Ethernet frame length in bytes.</summary>
    [Params(64, 1500)]
    public int FrameLength { get; set; }

    [GlobalSetup]
    public void Setup() => _frame = RouterTopology.WithSink().BuildUdpFrame(FrameLength);

    /// <summary>Parses the three headers and reads the fields a demultiplexer needs.</summary>
    [Benchmark]
    public int EthernetIPv4Udp()
    {
        if (!EthernetFrame.TryCreate(_frame, out var eth) || eth.EtherType != EtherType.IPv4
            || !IPv4Packet.TryCreate(eth.Payload, out var ip) || ip.Protocol != IPProtocol.Udp
            || !UdpPacket.TryCreate(ip.Payload, out var udp))
        {
            return -1;
        }

        return (int)ip.Destination.Value ^ udp.DestinationPort ^ udp.Length;
    }

    /// <summary>The same chain plus the IPv4 header checksum check ip_input does.</summary>
    [Benchmark]
    public int EthernetIPv4UdpWithHeaderChecksum()
    {
        if (!EthernetFrame.TryCreate(_frame, out var eth) || eth.EtherType != EtherType.IPv4
            || !IPv4Packet.TryCreate(eth.Payload, out var ip) || !ip.VerifyChecksum() || ip.Protocol != IPProtocol.Udp
            || !UdpPacket.TryCreate(ip.Payload, out var udp))
        {
            return -1;
        }

        return (int)ip.Destination.Value ^ udp.DestinationPort ^ udp.Length;
    }
}
