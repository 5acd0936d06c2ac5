using BenchmarkDotNet.Attributes;

namespace Sluice.Benchmarks;

/// <summary>
/// IPv4 forwarding through one router stack: each operation rents a packet, copies a prebuilt UDP frame into it,
/// hands it to the ingress interface and runs the loop until the forwarded frame has left the egress epair.
/// </summary>
/// <remarks>
/// Figures are per forwarded packet (<see cref="Batch"/> packets per invocation); the Mpps column is derived from the
/// mean. The target is 0 B allocated per packet. <see cref="ForwardToSink"/> ends at a counting sink on epair1b;
/// <see cref="ForwardToHost"/> ends in a second stack (host B) that receives the datagram on a bound UDP socket,
/// so it also pays B's ether_input, ip_input and udp_input.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(PacketRateConfig))]
public class ForwardingBenchmarks
{
    /// <summary>Packets per benchmark invocation.</summary>
    public const int Batch = 1_000;

    private RouterTopology _sink = null!;
    private RouterTopology _host = null!;
    private byte[] _sinkFrame = [];
    private byte[] _hostFrame = [];

    /// <summary>Ethernet frame length in bytes (no FCS).</summary>
    [Params(64, 1500)]
    public int FrameLength { get; set; }

    [GlobalSetup(Target = nameof(ForwardToSink))]
    public void SetupSink()
    {
        _sink = RouterTopology.WithSink();
        _sinkFrame = _sink.BuildUdpFrame(FrameLength);
    }

    [GlobalSetup(Target = nameof(ForwardToHost))]
    public void SetupHost()
    {
        _host = RouterTopology.WithReceiver();
        _hostFrame = _host.BuildUdpFrame(FrameLength);
    }

    [GlobalCleanup(Target = nameof(ForwardToSink))]
    public void CleanupSink()
    {
        if (_sink.Sink!.Count == 0 || _sink.Sink.Count != _sink.Router.Ip.Forwarded)
        {
            throw new InvalidOperationException($"{_sink.Sink.Count} frames reached the sink, {_sink.Router.Ip.Forwarded} forwarded: the benchmark measured a drop path.");
        }
    }

    [GlobalCleanup(Target = nameof(ForwardToHost))]
    public void CleanupHost()
    {
        if (_host.Router.Ip.Forwarded == 0 || _host.Receiver!.Udp.Delivered != _host.Router.Ip.Forwarded)
        {
            throw new InvalidOperationException($"{_host.Receiver!.Udp.Delivered} datagrams delivered, {_host.Router.Ip.Forwarded} forwarded: the benchmark measured a drop path.");
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public long ForwardToSink()
    {
        var t = _sink;
        var frame = _sinkFrame;
        var pool = t.Loop.Pool;
        var ingress = t.Ingress;
        var loop = t.Loop;
        for (var i = 0; i < Batch; i++)
        {
            var packet = pool.RentCopy(frame);
            ingress.Deliver(packet);
            loop.RunPending();
        }

        return t.Sink!.Count;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public long ForwardToHost()
    {
        var t = _host;
        var frame = _hostFrame;
        var pool = t.Loop.Pool;
        var ingress = t.Ingress;
        var loop = t.Loop;
        long received = 0;
        for (var i = 0; i < Batch; i++)
        {
            var packet = pool.RentCopy(frame);
            ingress.Deliver(packet);
            loop.RunPending();
            received += t.DrainReceiver();
        }

        return received;
    }
}
