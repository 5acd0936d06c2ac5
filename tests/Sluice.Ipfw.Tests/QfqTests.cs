using System.Buffers.Binary;
using Sluice.Dummynet;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Pfil;
using Sluice.Stack.Time;
using Sluice.Testing;
using Xunit.Abstractions;

namespace Sluice.Ipfw.Tests;

/// <summary>QFQ (<c>sched N config type qfq</c>) on a 1 Mbit/s bottleneck, on virtual time.</summary>
public sealed class QfqTests(ITestOutputHelper output)
{
    /// <summary>Flows f = 0..n-1 feed queue f+1 of sched 1; backlogged flows send a new packet when one leaves.</summary>
    private sealed class Driver : IDummynetClient
    {
        private readonly DummynetInstance _dn;
        private readonly int[] _sizes;
        private readonly bool[] _backlogged;

        public Driver(DummynetInstance dn, int[] sizes, bool[] backlogged, int initial)
        {
            _dn = dn;
            _sizes = sizes;
            _backlogged = backlogged;
            Delivered = new long[sizes.Length];
            DeliveredPackets = new long[sizes.Length];
            for (var f = 0; f < sizes.Length; f++)
            {
                for (var k = 0; backlogged[f] && k < initial; k++)
                {
                    Send(f);
                }
            }
        }

        public long[] Delivered { get; }

        public long[] DeliveredPackets { get; }

        public bool Measuring { get; set; }

        /// <summary>Called with the flow of every packet that leaves.</summary>
        public Action<int>? OnDeliver { get; set; }

        public void Send(int flow)
        {
            var len = _sizes[flow];
            var p = _dn.Stack.Pool.Rent(len);
            var d = p.Data;
            d.Clear();
            d[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(d[2..], (ushort)len);
            d[8] = 64;
            d[9] = 17;
            BinaryPrimitives.WriteUInt32BigEndian(d[12..], 0x0a000001u + (uint)flow);
            BinaryPrimitives.WriteUInt32BigEndian(d[16..], 0xc0000201u);
            BinaryPrimitives.WriteUInt16BigEndian(d[20..], (ushort)(1000 + flow));
            BinaryPrimitives.WriteUInt16BigEndian(d[22..], 9);
            _dn.Enqueue(flow + 1, true, p, new DnPacketInfo(PfilDirection.Out, 1, false, (uint)flow), this);
        }

        public void Reinject(Packet packet, in DnPacketInfo info)
        {
            var flow = (int)info.Cookie;
            if (Measuring)
            {
                Delivered[flow] += packet.Length;
                DeliveredPackets[flow]++;
            }

            packet.Release();
            OnDeliver?.Invoke(flow);
            if (_backlogged[flow])
            {
                Send(flow);
            }
        }
    }

    private sealed class Setup
    {
        public required EventLoop Loop { get; init; }

        public required NetStack Stack { get; init; }

        public required DummynetInstance Dn { get; init; }

        public required Driver Driver { get; init; }
    }

    private static Setup Create(int[] weights, int[] sizes, bool[] backlogged, string? lmax = null, int initial = 50)
    {
        var loop = EventLoop.CreateVirtual(new PacketPool(new PacketPoolOptions { Diagnostic = true }));
        var stack = new NetStack(loop);
        var dn = DummynetInstance.Of(stack);
        Assert.True(dn.TryConfigure(DnObjectKind.Pipe, ["1", "bw", "1Mbit/s"], out var e), e?.Message);
        Assert.True(dn.TryConfigure(DnObjectKind.Sched, ["1", "type", "qfq"], out e), e?.Message);
        for (var f = 0; f < weights.Length; f++)
        {
            string[] args = lmax is null
                ? [$"{f + 1}", "sched", "1", "weight", $"{weights[f]}", "queue", "100"]
                : [$"{f + 1}", "sched", "1", "weight", $"{weights[f]}", "lmax", lmax, "queue", "100"];
            Assert.True(dn.TryConfigure(DnObjectKind.Queue, args, out e), e?.Message);
        }

        return new Setup { Loop = loop, Stack = stack, Dn = dn, Driver = new Driver(dn, sizes, backlogged, initial) };
    }

    private static long[] Shares(Setup s)
    {
        s.Loop.RunFor(2 * Nanos.PerSecond);
        s.Driver.Measuring = true;
        s.Loop.RunFor(30 * Nanos.PerSecond);
        s.Dn.Flush();
        Assert.Equal(0, s.Stack.Pool.Outstanding);
        return s.Driver.Delivered;
    }

    [Fact]
    public void SharesFollowWeightsOneTwoFour()
    {
        var bytes = Shares(Create([1, 2, 4], [1000, 1000, 1000], [true, true, true]));
        output.WriteLine($"qfq 1:2:4 bytes {string.Join(",", bytes)}");
        double total = bytes.Sum();
        int[] weights = [1, 2, 4];
        for (var f = 0; f < 3; f++)
        {
            var expected = weights[f] / 7.0;
            var share = bytes[f] / total;
            output.WriteLine($"flow {f}: share {share:F4} expected {expected:F4}");
            Assert.InRange(share, expected * 0.98, expected * 1.02);
        }

        Assert.InRange(total * 8 / 30.0, 0.99e6, 1.01e6);
    }

    [Fact]
    public void LargerPacketsGetTheSameByteShareNotPacketShare()
    {
        // Equal weights, 1500-byte against 500-byte packets: equal bytes, three times as many small packets.
        var s = Create([1, 1], [1500, 500], [true, true]);
        var bytes = Shares(s);
        var packets = s.Driver.DeliveredPackets;
        var ratio = bytes[0] / (double)bytes[1];
        output.WriteLine($"qfq 1500B vs 500B: bytes {bytes[0]},{bytes[1]} (ratio {ratio:F4}) packets {packets[0]},{packets[1]}");
        Assert.InRange(ratio, 0.98, 1.02);
        Assert.InRange(packets[1] / (double)packets[0], 3 * 0.98, 3 * 1.02);
    }

    [Fact]
    public void ANewlyActiveFlowIsServedWithinQfqsBound()
    {
        // Three backlogged flows and a probe that sends one packet at a time after an idle gap, all weight 1,
        // 1000-byte packets, lmax 1000. QFQ's worst-case fair index (Checconi, Rizzo, Valente, ToN 2013) bounds the
        // service the link gives before a newly backlogged class k's packet is out by 3*lmax_k/phi_k + 2*Lmax, with
        // phi_k = w_k / sum(w) = 1/4: 3*1000*4 + 2*1000 = 14000 bytes, i.e. 14 packets including the probe's own, so
        // at most 13 packets of the other flows leave between the probe's arrival and its departure.
        const int bound = ((3 * 1000 * 4) + (2 * 1000)) / 1000 - 1;
        var s = Create([1, 1, 1, 1], [1000, 1000, 1000, 1000], [true, true, true, false], lmax: "1000");
        s.Loop.RunFor(2 * Nanos.PerSecond);
        var waiting = false;
        var others = 0;
        var worst = 0;
        var served = 0;
        s.Driver.OnDeliver = flow =>
        {
            if (flow == 3)
            {
                worst = Math.Max(worst, others);
                waiting = false;
                served++;
            }
            else if (waiting)
            {
                others++;
            }
        };

        for (var trial = 0; trial < 200; trial++)
        {
            // Idle gaps of varying length (the probe's timestamps go stale) at every phase of the link's 8 ms packets.
            s.Loop.RunFor((20 + (trial * 37 % 200)) * Nanos.PerMillisecond + (trial * 613 % 8000) * Nanos.PerMicrosecond);
            waiting = true;
            others = 0;
            s.Driver.Send(3);
            while (waiting)
            {
                s.Loop.RunFor(Nanos.PerMillisecond);
            }
        }

        output.WriteLine($"qfq new flow: at most {worst} packets of backlogged flows before its packet (bound {bound}), {served} probes");
        Assert.Equal(200, served);
        Assert.InRange(worst, 0, bound);
        s.Dn.Flush();
        Assert.Equal(0, s.Stack.Pool.Outstanding);
    }

    [Fact]
    public void PacketsLongerThanLmaxAndChangingSizesKeepByteFairness()
    {
        // Four equal-weight flows whose packet sizes change at random between 64 and 9000 bytes (beyond the default
        // lmax of 2048: the class moves to a group with larger slots), plus an on/off flow of weight 2. Over 120 s the
        // equal flows' bytes agree within 2% (the lag QFQ allows is a few maximum-size packets).
        int[] sizes = [1000, 1000, 1000, 1000, 1500];
        var s = Create([1, 1, 1, 1, 2], sizes, [true, true, true, true, false]);
        var rng = new Random(5);
        s.Driver.OnDeliver = flow =>
        {
            if (flow < 4)
            {
                sizes[flow] = rng.Next(64, 9001);
            }
        };

        for (var burst = 0; burst < 245; burst++)
        {
            s.Loop.RunFor(500 * Nanos.PerMillisecond);
            for (var k = 0; k < 20; k++)
            {
                s.Driver.Send(4);
            }

            if (burst == 4)
            {
                s.Driver.Measuring = true;
            }
        }

        s.Dn.Flush();
        Assert.Equal(0, s.Stack.Pool.Outstanding);
        var bytes = s.Driver.Delivered;
        output.WriteLine($"qfq variable sizes: bytes {string.Join(",", bytes)}");
        var equal = bytes.Take(4).ToArray();
        double mean = equal.Average();
        foreach (var b in equal)
        {
            Assert.InRange(b, mean * 0.98, mean * 1.02);
        }

        Assert.True(bytes[4] > 0);
        Assert.InRange(bytes.Sum() * 8 / 120.0, 0.99e6, 1.01e6);
    }

    [Fact]
    public void QfqAllocatesNothingPerPacket()
    {
        // Eight flows of three weights and two packet sizes (two groups); every departure sends the next packet.
        var s = Create([1, 1, 2, 2, 4, 4, 8, 8], [1000, 200, 1000, 200, 1000, 200, 1000, 200], [true, true, true, true, true, true, true, true], initial: 20);
        s.Loop.RunFor(5 * Nanos.PerSecond);
        s.Driver.Measuring = true;
        var windows = SteadyStateAllocation.Measure(() => s.Loop.RunFor(10 * Nanos.PerSecond));
        var packets = s.Driver.DeliveredPackets.Sum();
        Assert.True(packets > 2000 * SteadyStateAllocation.Windows, $"{packets} packets");
        Assert.True(SteadyStateAllocation.AnyClean(windows), $"every 10 s window allocated ({SteadyStateAllocation.Describe(windows)}) for {packets} packets in all");
        s.Dn.Flush();
        Assert.Equal(0, s.Stack.Pool.Outstanding);
    }
}
