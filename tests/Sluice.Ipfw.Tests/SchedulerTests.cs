using System.Buffers.Binary;
using Sluice.Dummynet;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Pfil;
using Sluice.Stack.Time;

namespace Sluice.Ipfw.Tests;

/// <summary>Schedulers sharing a 1 Mbit/s bottleneck among backlogged flows, on virtual time.</summary>
public sealed class SchedulerTests
{
    private sealed class Driver : IDummynetClient
    {
        private readonly DummynetInstance _dn;
        private readonly int[] _queues;

        public Driver(DummynetInstance dn, int[] queues, int[] initial)
        {
            _dn = dn;
            _queues = queues;
            Delivered = new long[queues.Length];
            for (var f = 0; f < queues.Length; f++)
            {
                for (var k = 0; k < initial[f]; k++)
                {
                    Send(f);
                }
            }
        }

        public long[] Delivered { get; }

        public bool Measuring { get; set; }

        public void Send(int flow)
        {
            var p = _dn.Stack.Pool.Rent(1000);
            var d = p.Data;
            d.Clear();
            d[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(d[2..], 1000);
            d[8] = 64;
            d[9] = 17;
            BinaryPrimitives.WriteUInt32BigEndian(d[12..], 0x0a000001u + (uint)flow);
            BinaryPrimitives.WriteUInt32BigEndian(d[16..], 0xc0000201u);
            BinaryPrimitives.WriteUInt16BigEndian(d[20..], (ushort)(1000 + flow));
            BinaryPrimitives.WriteUInt16BigEndian(d[22..], 9);
            p.DummynetCookie = (uint)flow;
            _dn.Enqueue(_queues[flow], true, p, new DnPacketInfo(PfilDirection.Out, 1, false, (uint)flow), this);
        }

        public void Reinject(Packet packet, in DnPacketInfo info)
        {
            var flow = (int)info.Cookie;
            if (Measuring)
            {
                Delivered[flow] += packet.Length;
            }

            packet.Release();
            Send(flow);
        }
    }

    private static long[] Run(string type, int[] weights, int[] initial)
    {
        var loop = EventLoop.CreateVirtual(new PacketPool(new PacketPoolOptions { Diagnostic = true }));
        var stack = new NetStack(loop);
        var dn = DummynetInstance.Of(stack);
        Assert.True(dn.TryConfigure(DnObjectKind.Pipe, ["1", "bw", "1Mbit/s"], out var e), e?.Message);
        Assert.True(dn.TryConfigure(DnObjectKind.Sched, ["1", "type", type], out e), e?.Message);
        var queues = new int[weights.Length];
        for (var f = 0; f < weights.Length; f++)
        {
            queues[f] = f + 1;
            Assert.True(dn.TryConfigure(DnObjectKind.Queue, [$"{f + 1}", "sched", "1", "weight", $"{weights[f]}", "queue", "100"], out e), e?.Message);
        }

        var driver = new Driver(dn, queues, initial);
        loop.RunFor(2 * Nanos.PerSecond);
        driver.Measuring = true;
        loop.RunFor(30 * Nanos.PerSecond);
        dn.Flush();
        Assert.Equal(0, stack.Pool.Outstanding);
        return driver.Delivered;
    }

    private static double Jain(long[] x)
    {
        double sum = x.Sum(), sq = x.Sum(v => (double)v * v);
        return sum * sum / (x.Length * sq);
    }

    [Theory]
    [InlineData("wf2q+")]
    [InlineData("rr")]
    [InlineData("qfq")]
    [InlineData("fq_codel")]
    public void EqualWeightsShareFairlyWhereFifoDoesNot(string type)
    {
        int[] initial = [60, 20, 10, 5];
        var fair = Run(type, [1, 1, 1, 1], initial);
        Assert.True(Jain(fair) >= 0.99, $"{type}: {string.Join(",", fair)} J={Jain(fair)}");
        var fifo = Run("fifo", [1, 1, 1, 1], initial);
        Assert.True(Jain(fifo) < 0.8, $"fifo: {string.Join(",", fifo)} J={Jain(fifo)}");
        // The bottleneck is used fully: 30 s at 1 Mbit/s.
        Assert.InRange(fair.Sum() * 8 / 30.0, 0.99e6, 1.01e6);
    }

    [Theory]
    [InlineData("wf2q+")]
    [InlineData("rr")]
    [InlineData("qfq")]
    public void SharesFollowWeights(string type)
    {
        var shares = Run(type, [1, 3], [50, 50]);
        var ratio = shares[1] / (double)shares[0];
        Assert.InRange(ratio, 3 * 0.98, 3 * 1.02);
    }
}
