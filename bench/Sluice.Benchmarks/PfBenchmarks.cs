using System.Text;
using BenchmarkDotNet.Attributes;
using Sluice.Pf;
using Sluice.Pf.Config;
using Sluice.Pf.Engine;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Links;
using Sluice.Stack.Pfil;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Benchmarks;

/// <summary>Helpers shared by the pf benchmarks: a one-stack VNET with two interfaces and a rule-set loader.</summary>
internal static class PfBench
{
    /// <summary>A stack with epair0a (192.0.2.1/24, where test packets arrive) and epair1a (198.51.100.1/24).</summary>
    public static (EventLoop Loop, NetStack Stack, NetworkInterface In) Stack()
    {
        var loop = EventLoop.CreateVirtual(new PacketPool());
        var stack = new NetStack(loop, new NetStackOptions { Name = "fw", Seed = 1 });
        var (a0, _) = EpairLink.CreatePair(loop, 0);
        var (a1, _) = EpairLink.CreatePair(loop, 1);
        var ifIn = stack.CreateInterface("epair0a", a0, "epair");
        var ifOut = stack.CreateInterface("epair1a", a1, "epair");
        ifIn.AddAddress(new IPv4Address(192, 0, 2, 1), 24);
        ifOut.AddAddress(new IPv4Address(198, 51, 100, 1), 24);
        ifIn.SetUp(true);
        ifOut.SetUp(true);
        loop.RunPending();
        return (loop, stack, ifIn);
    }

    /// <summary>Parses and commits <paramref name="conf"/> on <paramref name="stack"/>'s pf.</summary>
    public static PfInstance Load(NetStack stack, string conf)
    {
        var result = PfParser.Parse(conf, "bench.conf", new PfParseOptions { Interfaces = new PfStackInterfaces(stack) });
        if (result.Ruleset is null)
        {
            throw new InvalidOperationException(string.Join('\n', result.Diagnostics));
        }

        var pf = PfInstance.Of(stack);
        pf.Commit(result.Ruleset);
        return pf;
    }

    /// <summary>An IPv4/UDP packet (IP header first, as pf sees it) from <paramref name="src"/>:<paramref name="sport"/> to 198.51.100.2:9.</summary>
    public static byte[] Udp(uint src, ushort sport)
    {
        var bytes = new byte[IPv4Packet.MinimumHeaderLength + UdpPacket.HeaderLength + 18];
        var dst = new IPv4Address(198, 51, 100, 2);
        new IPv4Header(new IPv4Address(src), dst, IPProtocol.Udp, UdpPacket.HeaderLength + 18, Ttl: 64, Identification: 1).Emit(bytes);
        var udp = bytes.AsSpan(IPv4Packet.MinimumHeaderLength);
        new UdpHeader(sport, 9).Emit(udp, 18);
        return bytes;
    }
}

/// <summary>
/// pf rule evaluation per packet (pf_test_rule) for rule sets of 10 to 10,000 rules, with skip steps and without.
/// </summary>
/// <remarks>
/// The rule set is N-1 <c>pass in on epair1a proto tcp from 10.x.y.0/24 to any port 22 no state</c> rules (another
/// interface than the packet's) and a final <c>pass in all no state</c>; each UDP packet arrives on epair0a, so it is
/// evaluated against the whole list and creates no state. With skip steps the first rule's interface mismatch jumps
/// over the whole block (pf_calc_skip_steps); without them every rule is tested. The packet is reused (pf does not
/// rewrite it), so the figure is pf_test alone: parse, rule walk, counters.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(PacketRateConfig))]
public class PfRuleBenchmarks
{
    public const int Batch = 1_000;

    private PfEngine _engine = null!;
    private NetworkInterface _in = null!;
    private Packet _packet = null!;

    [Params(10, 100, 1_000, 10_000)]
    public int Rules { get; set; }

    [Params(true, false)]
    public bool SkipSteps { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (loop, stack, ifIn) = PfBench.Stack();
        var conf = new StringBuilder();
        for (var i = 0; i < Rules - 1; i++)
        {
            conf.Append("pass in on epair1a proto tcp from 10.").Append(i >> 8).Append('.').Append(i & 255).Append(".0/24 to any port 22 no state\n");
        }

        conf.Append("pass in all no state\n");
        var pf = PfBench.Load(stack, conf.ToString());
        pf.Engine.SkipStepsEnabled = SkipSteps;
        _engine = pf.Engine;
        _in = ifIn;
        _packet = loop.Pool.RentCopy(PfBench.Udp(0xC0000202, 40000));
        if (_engine.Filter(_packet, _in, PfilDirection.In, ipv6: false) != PfilVerdict.Pass || _engine.StateCount != 0)
        {
            throw new InvalidOperationException("the benchmark packet must pass without a state");
        }
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public PfilVerdict Evaluate()
    {
        var engine = _engine;
        var packet = _packet;
        var ifp = _in;
        var verdict = PfilVerdict.Pass;
        for (var i = 0; i < Batch; i++)
        {
            verdict = engine.Filter(packet, ifp, PfilDirection.In, ipv6: false);
        }

        return verdict;
    }
}

/// <summary>pf state lookup per packet (pf_find_state on the wire key) in a table of 10k, 100k and 1M UDP states.</summary>
/// <remarks>
/// Setup creates the states by filtering one packet per flow (distinct source address and port) through
/// <c>pass in all keep state</c>; the benchmark then filters 4,096 packets of existing flows in a shuffled order,
/// so the figure includes cache misses of a large table. Each hit updates the state's counters and expiry.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(PacketRateConfig))]
public class PfStateBenchmarks
{
    public const int Probe = 4_096;

    private PfEngine _engine = null!;
    private NetworkInterface _in = null!;
    private Packet[] _packets = [];

    [Params(10_000, 100_000, 1_000_000)]
    public int States { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (loop, stack, ifIn) = PfBench.Stack();
        var pf = PfBench.Load(stack, "set limit states 4000000\npass in all keep state\n");
        _engine = pf.Engine;
        _in = ifIn;
        var bytes = PfBench.Udp(0, 0);
        var packet = loop.Pool.RentCopy(bytes);
        for (var i = 0; i < States; i++)
        {
            Flow(packet.Data, i);
            _engine.Filter(packet, ifIn, PfilDirection.In, ipv6: false);
        }

        packet.Release();
        if (_engine.StateCount != States)
        {
            throw new InvalidOperationException($"{_engine.StateCount} states, expected {States}");
        }

        var random = new Random(7);
        _packets = new Packet[Probe];
        for (var i = 0; i < Probe; i++)
        {
            _packets[i] = loop.Pool.RentCopy(bytes);
            Flow(_packets[i].Data, random.Next(States));
        }
    }

    /// <summary>Flow <paramref name="i"/>: source 10.0.0.0/8 + i / 16, source port 1024 + i % 16.</summary>
    private static void Flow(Span<byte> ip, int i)
    {
        var src = 0x0A000000u + (uint)(i >> 4);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(ip[12..], src);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(ip[IPv4Packet.MinimumHeaderLength..], (ushort)(1024 + (i & 15)));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_engine.StateCount != States || _engine.Inserts != (ulong)States)
        {
            throw new InvalidOperationException("a probe created a state: the benchmark measured rule evaluation");
        }
    }

    [Benchmark(OperationsPerInvoke = Probe)]
    public PfilVerdict Lookup()
    {
        var engine = _engine;
        var ifp = _in;
        var packets = _packets;
        var verdict = PfilVerdict.Pass;
        for (var i = 0; i < packets.Length; i++)
        {
            verdict = engine.Filter(packets[i], ifp, PfilDirection.In, ipv6: false);
        }

        return verdict;
    }
}

/// <summary>
/// Stateful NAT forwarding in process: the router of <see cref="RouterTopology"/> with pf
/// (<c>nat on epair1a from 192.0.2.0/24 to any -> (epair1a)</c>, <c>pass all</c>) forwarding 64-byte frames of one
/// flow whose states exist (one per direction, as <c>pass all</c> keeps state on both interfaces), against the same
/// router without pf.
/// </summary>
/// <remarks>Each packet is rented, delivered to epair0a, filtered in and out, translated and counted at the sink.
/// The target is 0 B allocated per packet.</remarks>
[MemoryDiagnoser]
[Config(typeof(PacketRateConfig))]
public class PfNatForwardingBenchmarks
{
    public const int Batch = 1_000;

    private RouterTopology _plain = null!;
    private RouterTopology _nat = null!;
    private byte[] _plainFrame = [];
    private byte[] _natFrame = [];

    [GlobalSetup]
    public void Setup()
    {
        _plain = RouterTopology.WithSink();
        _plainFrame = _plain.BuildUdpFrame(64);
        _nat = RouterTopology.WithSink();
        _natFrame = _nat.BuildUdpFrame(64);
        var pf = PfBench.Load(_nat.Router, "nat on epair1a from 192.0.2.0/24 to any -> (epair1a)\npass all\n");
        pf.Enable();
        _nat.Inject(_natFrame); // creates the states: one inbound on epair0a, one outbound (translated) on epair1a
        if (pf.Engine.StateCount != 2 || _nat.Sink!.Count != 1)
        {
            throw new InvalidOperationException($"{pf.Engine.StateCount} states, {_nat.Sink!.Count} frames forwarded after the first packet");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        var pf = PfInstance.Of(_nat.Router);
        if (pf.Engine.StateCount != 2 || pf.Engine.Inserts != 2 || _nat.Sink!.Count != _nat.Router.Ip.Forwarded)
        {
            throw new InvalidOperationException($"{pf.Engine.Inserts} states created, {_nat.Sink!.Count} frames at the sink, {_nat.Router.Ip.Forwarded} forwarded");
        }
    }

    private static long Run(RouterTopology t, byte[] frame)
    {
        var pool = t.Loop.Pool;
        var ingress = t.Ingress;
        var loop = t.Loop;
        for (var i = 0; i < Batch; i++)
        {
            ingress.Deliver(pool.RentCopy(frame));
            loop.RunPending();
        }

        return t.Sink!.Count;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public long ForwardWithoutPf() => Run(_plain, _plainFrame);

    [Benchmark(OperationsPerInvoke = Batch)]
    public long ForwardPfNat() => Run(_nat, _natFrame);
}
