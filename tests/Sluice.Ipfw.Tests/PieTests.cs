using System.Buffers.Binary;
using Sluice.Dummynet;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Pfil;
using Sluice.Stack.Time;
using Xunit.Abstractions;
using static Sluice.Ipfw.Tests.AqmHarness;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Ipfw.Tests;

/// <summary>PIE (RFC 8033) and FQ-PIE driven on virtual time straight into dummynet.</summary>
public sealed class PieTests(ITestOutputHelper output)
{
    // 10 Mbit/s, 20 ms one-way base delay; a 1500-byte packet takes 1.2 ms on the link.
    private const long Base = 20 * Nanos.PerMillisecond;
    private const long Tx1500 = 1_200_000;

    /// <summary>An unresponsive sender: <c>length</c>-byte packets every <c>interval</c> into pipe 1 until stopped.</summary>
    private sealed class ConstantSender : IDummynetClient, ITimerHandler
    {
        private readonly DummynetInstance _dn;
        private readonly int _length;
        private readonly long _interval;
        private readonly Timer _timer;
        private readonly byte _tos;

        public ConstantSender(DummynetInstance dn, int length, long interval, byte tos = 0)
        {
            _dn = dn;
            _length = length;
            _interval = interval;
            _tos = tos;
            _timer = new Timer(this);
            dn.Stack.Loop.ScheduleAfter(_timer, 0);
        }

        public long Sent { get; private set; }

        public long Delivered { get; private set; }

        public long CeMarked { get; private set; }

        public long BadChecksums { get; private set; }

        public void OnTimer(Timer timer)
        {
            var p = _dn.Stack.Pool.Rent(_length);
            var d = p.Data;
            d.Clear();
            d[0] = 0x45;
            d[1] = _tos;
            BinaryPrimitives.WriteUInt16BigEndian(d[2..], (ushort)_length);
            d[8] = 64;
            d[9] = 17;
            BinaryPrimitives.WriteUInt32BigEndian(d[12..], 0xc0000202u);
            BinaryPrimitives.WriteUInt32BigEndian(d[16..], 0xcb007105u);
            BinaryPrimitives.WriteUInt16BigEndian(d[10..], Checksum(d[..20]));
            Sent++;
            _dn.Enqueue(1, false, p, new DnPacketInfo(PfilDirection.Out, 1, false, 0), this);
            _dn.Stack.Loop.ScheduleAfter(_timer, _interval);
        }

        public void Reinject(Packet packet, in DnPacketInfo info)
        {
            var d = packet.Data;
            Delivered++;
            if ((d[1] & 3) == 3)
            {
                CeMarked++;
            }

            if (Checksum(d[..20]) != 0)
            {
                BadChecksums++;
            }

            packet.Release();
        }

        public void Stop() => _dn.Stack.Loop.Cancel(_timer);

        private static ushort Checksum(ReadOnlySpan<byte> h)
        {
            uint sum = 0;
            for (var i = 0; i < h.Length; i += 2)
            {
                sum += (uint)((h[i] << 8) | h[i + 1]);
            }

            while (sum > 0xffff)
            {
                sum = (sum & 0xffff) + (sum >> 16);
            }

            return (ushort)~sum;
        }
    }

    private static double MaxProbability(DummynetInstance dn) => dn.PieStates.Select(s => s.DropProbability).DefaultIfEmpty(0).Max();

    [Fact]
    public void PieKeepsABulkFlowNearTargetWhereDroptailSitsAtTheQueueLimit()
    {
        (double Median, int Count, long PieDrops) Run(string[] config)
        {
            var (dn, loop) = Pipe(config);
            var t = new Traffic(dn, 50 * Nanos.PerMillisecond);
            loop.RunFor(60 * Nanos.PerSecond);
            var bulk = t.Bulk.Where(x => x.At > 20 * Nanos.PerSecond).Select(x => x.Delay - Base - Tx1500).ToList();
            return (Percentile(bulk, 0.5) / 1e6, bulk.Count, dn.PieDrops);
        }

        var pie = Run(["pipe", "1", "bw", "10Mbit/s", "delay", "20ms", "queue", "100", "pie"]);
        var fifo = Run(["pipe", "1", "bw", "10Mbit/s", "delay", "20ms", "queue", "100"]);
        output.WriteLine($"PIE median queueing {pie.Median:F1} ms ({pie.Count} packets, {pie.PieDrops} PIE drops); droptail {fifo.Median:F1} ms ({fifo.Count})");
        Assert.InRange(pie.Median, 5.0, 30.0);
        Assert.True(fifo.Median > 60, $"droptail median {fifo.Median} ms");
        Assert.True(pie.PieDrops > 0);
        // The link stays busy: ≥ 90% of 10 Mbit/s over 40 s.
        Assert.True(pie.Count * 1500 * 8 / 40.0 >= 9e6, $"{pie.Count} bulk packets");
    }

    [Fact]
    public void DropProbabilityRisesWithOverloadAndDecaysToZeroWhenTheLoadStops()
    {
        // 1000-byte packets every 0.4 ms into 10 Mbit/s (0.8 ms each): twice the link rate, unresponsive.
        var (dn, loop) = Pipe(["pipe", "1", "bw", "10Mbit/s", "queue", "100", "pie"]);
        var s = new ConstantSender(dn, 1000, 400 * Nanos.PerMicrosecond);
        loop.RunFor(300 * Nanos.PerMillisecond);
        var early = MaxProbability(dn);
        loop.RunFor(5 * Nanos.PerSecond);
        var loaded = MaxProbability(dn);
        var delivered = s.Delivered;
        s.Stop();
        loop.RunFor(10 * Nanos.PerSecond);
        var after = MaxProbability(dn);
        output.WriteLine($"p at 0.3 s {early:F4}, at 5.3 s {loaded:F4}, 10 s after the load stops {after}; drops {dn.PieDrops} of {s.Sent}");
        Assert.True(early < loaded, $"{early} then {loaded}");
        Assert.True(loaded > 0.3, $"{loaded}");
        Assert.Equal(0, after);
        // Half of the offered load has to go, and PIE (not the 100-slot limit) takes most of it.
        Assert.InRange(dn.PieDrops / (double)s.Sent, 0.45, 0.55);
        Assert.True(delivered > 0);
        Assert.Equal(0, dn.Stack.Pool.Outstanding);
    }

    [Fact]
    public void TheBurstAllowanceLetsAShortBurstThroughAndDelaysTheFirstDrop()
    {
        // 100 ms at 1.5 times the link rate: the queue peaks near 62 packets (50 ms), PIE activates at 33 and drops nothing.
        var (dn, loop) = Pipe(["pipe", "1", "bw", "10Mbit/s", "queue", "100", "pie"]);
        var s = new ConstantSender(dn, 1000, 533 * Nanos.PerMicrosecond);
        loop.RunFor(100 * Nanos.PerMillisecond);
        s.Stop();
        loop.RunFor(Nanos.PerSecond);
        output.WriteLine($"burst: {s.Sent} sent, {s.Delivered} delivered, {dn.PieDrops} dropped, active {dn.PieStates.Any(p => p.Active)}");
        Assert.True(dn.PieStates.Single().Active, "PIE should have switched on during the burst");
        Assert.Equal(0, dn.PacketsDropped);
        Assert.Equal(s.Sent, s.Delivered);

        // A sustained overload: no early drop before max_burst (150 ms) has run out after activation (~27 ms); the 500 KB limit is 400 ms away.
        var (dn2, loop2) = Pipe(["pipe", "1", "bw", "10Mbit/s", "queue", "500KB", "pie"]);
        _ = new ConstantSender(dn2, 1000, 400 * Nanos.PerMicrosecond);
        long firstDrop = -1;
        while (firstDrop < 0 && loop2.Now < 2 * Nanos.PerSecond)
        {
            loop2.RunFor(Nanos.PerMillisecond);
            if (dn2.PacketsDropped > 0)
            {
                firstDrop = loop2.Now;
            }
        }

        output.WriteLine($"sustained overload: first drop at {firstDrop / 1e6} ms");
        Assert.InRange(firstDrop, 177 * Nanos.PerMillisecond, 1000 * Nanos.PerMillisecond);
    }

    [Fact]
    public void FqPieIsolatesASparseFlowAndKeepsTheBulkFlowNearTarget()
    {
        var (dn, loop) = Pipe(["pipe", "1", "bw", "10Mbit/s", "delay", "20ms"], ["sched", "1", "type", "fq_pie"], ["queue", "1", "sched", "1"]);
        var t = new Traffic(dn, 50 * Nanos.PerMillisecond, queue: true);
        loop.RunFor(60 * Nanos.PerSecond);
        var from = 20 * Nanos.PerSecond;
        var bulk = t.Bulk.Where(x => x.At > from).Select(x => x.Delay - Base - Tx1500).ToList();
        var sparse = t.Sparse.Where(x => x.At > from).Select(x => x.Delay - Base).ToList();
        var median = Percentile(bulk, 0.5) / 1e6;
        var p99Sparse = Percentile(sparse, 0.99) / 1e6;
        output.WriteLine($"FQ-PIE bulk median {median:F1} ms (p10 {Percentile(bulk, 0.1) / 1e6:F1}, p90 {Percentile(bulk, 0.9) / 1e6:F1}, {bulk.Count} packets, {dn.PieDrops} drops), sparse p99 {p99Sparse:F2} ms");
        Assert.InRange(median, 5.0, 30.0);
        // The sparse flow goes first (new-flow list): at most one bulk packet ahead of it on the link.
        Assert.True(p99Sparse <= 1.3, $"sparse p99 queueing {p99Sparse} ms");
        Assert.True(dn.PieDrops > 0);
        Assert.True(bulk.Count * 1500 * 8 / 40.0 >= 9e6, $"{bulk.Count} bulk packets");
    }

    [Fact]
    public void PieMarksEcnCapablePacketsBelowMaxEcnth()
    {
        // 1.1 times the link rate with ECT(0): the probability stays low, so PIE marks CE (checksum kept) instead of dropping.
        var (dn, loop) = Pipe(["pipe", "1", "bw", "10Mbit/s", "queue", "100", "pie", "ecn"]);
        var s = new ConstantSender(dn, 1000, 727 * Nanos.PerMicrosecond, tos: 2);
        loop.RunFor(10 * Nanos.PerSecond);
        output.WriteLine($"ECN: {s.Sent} sent, {dn.PieMarks} marked, {s.CeMarked} CE delivered, {dn.PieDrops} PIE drops, {dn.PacketsDropped} drops");
        Assert.True(dn.PieMarks > 0);
        Assert.True(s.CeMarked > 0);
        Assert.Equal(0, s.BadChecksums);
    }
}
