using System.Globalization;
using BenchmarkDotNet.Attributes;
using Sluice.Dummynet;
using Sluice.Ipfw;
using Sluice.Stack.Time;

namespace Sluice.Benchmarks;

internal static class IpfwBench
{
    public static IpfwInstance Rules(RouterTopology t, int nonMatching, string last)
    {
        var ipfw = IpfwInstance.Of(t.Router);
        for (var i = 0; i < nonMatching; i++)
        {
            // Never matches the benchmark's UDP traffic: each packet walks past every one of these rules.
            Add(ipfw, string.Create(CultureInfo.InvariantCulture, $"{100 + i} deny tcp from 10.{i % 250}.{i / 250}.0/24 to any 22"));
        }

        Add(ipfw, "60000 " + last);
        return ipfw;
    }

    private static void Add(IpfwInstance ipfw, string text)
    {
        if (!IpfwParser.TryParseRule(text.Split(' '), out var rule, out var error))
        {
            throw new InvalidOperationException(error!.Message);
        }

        ipfw.Add(rule!);
    }
}

/// <summary>
/// A router forwarding UDP through ipfw: <see cref="Rules"/> rules that do not match, then <c>allow</c>. Per
/// forwarded packet, including the stack's forwarding path (compare ForwardingBenchmarks.ForwardToSink).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(PacketRateConfig))]
public class DummynetIpfwRuleBenchmarks
{
    public const int Batch = 1_000;

    private RouterTopology _t = null!;
    private byte[] _frame = [];

    /// <summary>Non-matching rules before the allow rule.</summary>
    [Params(10, 100, 1000)]
    public int Rules { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _t = RouterTopology.WithSink();
        IpfwBench.Rules(_t, Rules, "allow ip from any to any");
        _frame = _t.BuildUdpFrame(1000);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_t.Sink!.Count == 0 || _t.Sink.Count != _t.Router.Ip.Forwarded)
        {
            throw new InvalidOperationException($"{_t.Sink.Count} frames reached the sink, {_t.Router.Ip.Forwarded} forwarded.");
        }
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public long ForwardThroughRules()
    {
        var t = _t;
        for (var i = 0; i < Batch; i++)
        {
            t.Ingress.Deliver(t.Loop.Pool.RentCopy(_frame));
            t.Loop.RunPending();
        }

        return t.Sink!.Count;
    }
}

/// <summary>
/// A router forwarding UDP through <c>pipe 1 config bw 1Gbit/s delay 1ms</c> (ipfw rule <c>pipe 1 ip from any to any in</c>,
/// or <c>queue 1</c> on <c>sched 1 type wf2q+|fq_codel</c>):
/// one 1000-byte packet every 10 µs of virtual time, so the pipe serialises, delays and releases each one through
/// its timers. Per forwarded packet, including the stack's forwarding path and the virtual clock's timer wheel.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(PacketRateConfig))]
public class DummynetPipeBenchmarks
{
    public const int Batch = 1_000;

    private RouterTopology _t = null!;
    private byte[] _frame = [];

    /// <summary>net.inet.ip.fw.one_pass: 1 accepts after the pipe, 0 resumes at the next rule.</summary>
    [Params(1, 0)]
    public int OnePass { get; set; }

    /// <summary>The pipe's scheduler.</summary>
    [Params("fifo", "wf2q+", "fq_codel")]
    public string Scheduler { get; set; } = "fifo";

    [GlobalSetup]
    public void Setup()
    {
        _t = RouterTopology.WithSink();
        // pipe N always feeds a FIFO; another scheduler needs queue N attached to sched N (as in FreeBSD).
        var fifo = Scheduler == "fifo";
        var ipfw = IpfwBench.Rules(_t, 10, fifo ? "pipe 1 ip from any to any in" : "queue 1 ip from any to any in");
        IpfwBench.Rules(_t, 0, "allow ip from any to any");
        if (!_t.Router.Sysctl.TrySet("net.inet.ip.fw.one_pass", OnePass.ToString(CultureInfo.InvariantCulture)).Succeeded
            || !ipfw.Dummynet.TryConfigure(DnObjectKind.Pipe, ["1", "bw", "1Gbit/s", "delay", "1ms"], out var error)
            || !ipfw.Dummynet.TryConfigure(DnObjectKind.Sched, ["1", "type", Scheduler], out error)
            || (!fifo && !ipfw.Dummynet.TryConfigure(DnObjectKind.Queue, ["1", "sched", "1"], out error)))
        {
            throw new InvalidOperationException("configuration failed");
        }

        _frame = _t.BuildUdpFrame(1000);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _t.Loop.RunFor(Nanos.PerSecond);
        if (_t.Sink!.Count == 0 || _t.Sink.Count != _t.Router.Ip.Forwarded)
        {
            throw new InvalidOperationException($"{_t.Sink.Count} frames reached the sink, {_t.Router.Ip.Forwarded} forwarded.");
        }
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public long ForwardThroughPipe()
    {
        var t = _t;
        for (var i = 0; i < Batch; i++)
        {
            t.Ingress.Deliver(t.Loop.Pool.RentCopy(_frame));
            t.Loop.RunFor(10 * Nanos.PerMicrosecond);
        }

        return t.Sink!.Count;
    }
}
