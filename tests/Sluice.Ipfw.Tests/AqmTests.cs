using System.Buffers.Binary;
using Sluice.Dummynet;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Pfil;
using Sluice.Stack.Time;
using static Sluice.Ipfw.Tests.AqmHarness;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Ipfw.Tests;

/// <summary>FQ-CoDel, CoDel and RED as specified, driven on virtual time straight into dummynet.</summary>
public sealed class AqmTests
{
    // 10 Mbit/s, 20 ms one-way base delay; a 1500-byte packet takes 1.2 ms on the link.
    private const long Base = 20 * Nanos.PerMillisecond;
    private const long Tx1500 = 1_200_000;

    [Fact]
    public void FqCodelKeepsTheBulkFlowNearTargetAndTheSparseFlowUnqueued()
    {
        var (dn, loop) = Pipe(["pipe", "1", "bw", "10Mbit/s", "delay", "20ms"], ["sched", "1", "type", "fq_codel"], ["queue", "1", "sched", "1"]);
        var t = new Traffic(dn, 50 * Nanos.PerMillisecond, queue: true);
        loop.RunFor(60 * Nanos.PerSecond);
        var from = 20 * Nanos.PerSecond;
        var bulk = t.Bulk.Where(x => x.At > from).Select(x => x.Delay - Base - Tx1500).ToList();
        var sparse = t.Sparse.Where(x => x.At > from).Select(x => x.Delay - Base).ToList();
        var median = Percentile(bulk, 0.5) / 1e6;
        var p99Sparse = Percentile(sparse, 0.99) / 1e6;
        // The bulk flow's standing queue sits around CoDel's 5 ms target (Reno's sawtooth around it), not at the queue limit.
        Assert.True(median is >= 1.0 and <= 12.0, $"bulk median queueing {median} ms, drops {dn.CodelDrops}, p10 {Percentile(bulk, 0.1) / 1e6}, p90 {Percentile(bulk, 0.9) / 1e6}, n {bulk.Count}");
        // The sparse flow goes first (new-flow list): at most one bulk packet ahead of it on the link.
        Assert.True(p99Sparse <= 1.3, $"sparse p99 queueing {p99Sparse} ms");
        Assert.True(dn.CodelDrops > 0);
        // Throughput: the link stays busy (≥ 90% of 10 Mbit/s over 40 s).
        Assert.True(bulk.Count * 1500 * 8 / 40.0 >= 9e6, $"{bulk.Count} bulk packets");
    }

    [Fact]
    public void WithoutAqmTheSameTrafficFillsTheQueueAndDelaysTheSparseFlow()
    {
        var (dn, loop) = Pipe(["pipe", "1", "bw", "10Mbit/s", "delay", "20ms", "queue", "100"]);
        var t = new Traffic(dn, 50 * Nanos.PerMillisecond);
        loop.RunFor(60 * Nanos.PerSecond);
        var sparse = t.Sparse.Where(x => x.At > 20 * Nanos.PerSecond).Select(x => x.Delay - Base).ToList();
        Assert.True(Percentile(sparse, 0.5) / 1e6 > 30, "droptail FIFO should build a standing queue");
    }

    [Fact]
    public void FqCodelIsDeterministicAcrossRuns()
    {
        long Run()
        {
            var (dn, loop) = Pipe(["pipe", "1", "bw", "10Mbit/s", "delay", "20ms"], ["sched", "1", "type", "fq_codel"], ["queue", "1", "sched", "1"]);
            var t = new Traffic(dn, 50 * Nanos.PerMillisecond, queue: true);
            loop.RunFor(10 * Nanos.PerSecond);
            return t.Bulk.Sum(x => x.Delay) ^ (dn.CodelDrops << 32);
        }

        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void CodelStartsDroppingOneIntervalAfterTheSojournTimeStaysAboveTarget()
    {
        // 1 Mbit/s: a 1000-byte packet takes 8 ms, so from the second packet on every sojourn exceeds the 5 ms target.
        var (dn, loop) = Pipe(["pipe", "1", "bw", "1Mbit/s", "codel", "target", "5ms", "interval", "100ms", "queue", "1000"]);
        var sender = new ConstantSender(dn, 1000, 4 * Nanos.PerMillisecond);
        long firstDrop = -1;
        while (loop.Now < 2 * Nanos.PerSecond && firstDrop < 0)
        {
            loop.RunFor(Nanos.PerMillisecond);
            if (dn.CodelDrops > 0)
            {
                firstDrop = loop.Now;
            }
        }

        // first_above_time is set at the first dequeue above target that leaves more than one MTU queued (t = 24 ms
        // here: packets leave every 8 ms, arrive every 4 ms), and the first drop is at the first dequeue at or after
        // first_above_time + interval: t = 128 ms.
        Assert.Equal(128, firstDrop / (double)Nanos.PerMillisecond);
        sender.Stop();

        // Below the link rate there is no standing queue and CoDel never drops.
        var (calm, calmLoop) = Pipe(["pipe", "1", "bw", "1Mbit/s", "codel", "queue", "1000"]);
        using var _ = new ConstantSender(calm, 1000, 16 * Nanos.PerMillisecond);
        calmLoop.RunFor(5 * Nanos.PerSecond);
        Assert.Equal(0, calm.CodelDrops);
        Assert.True(calm.PacketsIn > 300);
    }

    [Fact]
    public void RedDropProbabilityRampsFromMinThToMaxTh()
    {
        // w_q 1: the average is the instantaneous queue; the link is (nearly) stopped, so the queue only grows.
        const int minTh = 5, maxTh = 15;
        var attempts = new int[40];
        var drops = new int[40];
        var (dn, _) = Pipe();
        for (var trial = 0; trial < 3000; trial++)
        {
            dn.Flush();
            Assert.True(dn.TryConfigure(DnObjectKind.Pipe, ["1", "bw", "1bit/s", "queue", "50", "red", $"1/{minTh}/{maxTh}/0.2"], out var e), e?.Message);
            var accepted = 0;
            for (var k = 0; k < 30; k++)
            {
                // The first accepted packet is on the link, the rest wait in the queue.
                var queued = Math.Max(0, accepted - 1);
                attempts[queued]++;
                if (ConstantSender.SendOne(dn, 1000))
                {
                    accepted++;
                }
                else
                {
                    drops[queued]++;
                }
            }
        }

        double Rate(int lo, int hi) => Enumerable.Range(lo, hi - lo + 1).Sum(i => drops[i]) / (double)Math.Max(1, Enumerable.Range(lo, hi - lo + 1).Sum(i => attempts[i]));

        Assert.Equal(0, Rate(0, minTh - 1));
        Assert.Equal(1, Rate(maxTh, 20));
        var low = Rate(minTh, minTh + 3);
        var high = Rate(maxTh - 4, maxTh - 1);
        Assert.True(low > 0 && low < high && high < 1, $"drop rate {low:F3} near min_th, {high:F3} near max_th");
        // pb = max_p (avg - min_th)/(max_th - min_th): about 0.02-0.08 at min_th..min_th+3 before the count correction.
        Assert.InRange(low, 0.01, 0.2);
        dn.Flush();
        Assert.Equal(0, dn.Stack.Pool.Outstanding);
    }

    private sealed class ConstantSender : IDummynetClient, ITimerHandler, IDisposable
    {
        private readonly DummynetInstance _dn;
        private readonly int _length;
        private readonly long _interval;
        private readonly Timer _timer;

        public ConstantSender(DummynetInstance dn, int length, long interval)
        {
            _dn = dn;
            _length = length;
            _interval = interval;
            _timer = new Timer(this);
            dn.Stack.Loop.ScheduleAfter(_timer, 0);
        }

        public static bool SendOne(DummynetInstance dn, int length, IDummynetClient? client = null)
        {
            var p = dn.Stack.Pool.Rent(length);
            var d = p.Data;
            d.Clear();
            d[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(d[2..], (ushort)length);
            d[9] = 17;
            return dn.Enqueue(1, false, p, new DnPacketInfo(PfilDirection.Out, 1, false, 0), client ?? Sink.Instance);
        }

        public void OnTimer(Timer timer)
        {
            SendOne(_dn, _length, this);
            _dn.Stack.Loop.ScheduleAfter(_timer, _interval);
        }

        public void Reinject(Packet packet, in DnPacketInfo info) => packet.Release();

        public void Stop() => _dn.Stack.Loop.Cancel(_timer);

        public void Dispose() => Stop();
    }

    [Theory]
    [InlineData("fq_codel")] // ECN on by default (dn_sched_fq_codel.c)
    [InlineData("codel ecn")]
    public void CodelMarksEcnCapablePacketsInsteadOfDroppingThem(string aqm)
    {
        string[][] config = aqm == "fq_codel"
            ? [["pipe", "1", "bw", "10Mbit/s", "delay", "20ms"], ["sched", "1", "type", "fq_codel"], ["queue", "1", "sched", "1"]]
            : [["pipe", "1", "bw", "10Mbit/s", "delay", "20ms", "codel", "ecn", "queue", "1000"]];
        var (dn, loop) = Pipe(config);
        var t = new Traffic(dn, 50 * Nanos.PerMillisecond, queue: aqm == "fq_codel", tos: 0x02); // ECT(0)
        loop.RunFor(60 * Nanos.PerSecond);

        // RFC 8289 with ECN: the packets CoDel would drop are delivered with CE, and the Reno flow still backs off.
        Assert.True(dn.CodelMarks > 10, $"{dn.CodelMarks} marks");
        Assert.Equal(0, dn.CodelDrops);
        Assert.Equal(dn.CodelMarks, t.CeDelivered);
        Assert.Equal(0, t.BadChecksums);
        var median = Percentile(t.Bulk.Where(b => b.At > 20 * Nanos.PerSecond).Select(b => b.Delay - Base - Tx1500), 0.5) / 1e6;
        Assert.True(median is >= 1.0 and <= 12.0, $"bulk median queueing {median} ms with {dn.CodelMarks} marks");

        // The same traffic without ECN capability is dropped, never marked.
        var (dn2, loop2) = Pipe(config);
        var t2 = new Traffic(dn2, 50 * Nanos.PerMillisecond, queue: aqm == "fq_codel");
        loop2.RunFor(60 * Nanos.PerSecond);
        Assert.Equal(0, dn2.CodelMarks);
        Assert.Equal(0, t2.CeDelivered);
        Assert.True(dn2.CodelDrops > 10, $"{dn2.CodelDrops} drops");
    }

    private sealed class Sink : IDummynetClient
    {
        public static readonly Sink Instance = new();

        public void Reinject(Packet packet, in DnPacketInfo info) => packet.Release();
    }
}
