using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;
using Sluice.Stack.Time;
using Sluice.Wire;
using Timer = Sluice.Stack.Time.Timer;
using static Sluice.Stack.Tests.Net.TestNet;

namespace Sluice.Stack.Tests.Net;

public sealed class PfilTests
{
    /// <summary>Holds every packet it sees for a fixed delay, then re-injects it (what a dummynet pipe does).</summary>
    private sealed class DelayFilter(NetStack stack, PfilDirection direction, long delay) : IPacketFilter, ITimerHandler
    {
        private readonly Queue<(Packet Packet, NetworkInterface Ifp, bool V6, long Due)> _held = new();

        public string Name => "delay";

        public int Seen { get; private set; }

        public PfilVerdict Filter(Packet packet, NetworkInterface ifp, PfilDirection dir, bool ipv6)
        {
            if (dir != direction)
            {
                return PfilVerdict.Pass;
            }

            Seen++;
            _held.Enqueue((packet, ifp, ipv6, stack.Loop.Now + delay));
            var timer = new Timer(this);
            stack.Loop.Schedule(timer, stack.Loop.Now + delay);
            return PfilVerdict.Consumed;
        }

        public void OnTimer(Timer timer)
        {
            var (packet, ifp, v6, _) = _held.Dequeue();
            stack.Reinject(packet, ifp, direction, v6, this);
        }
    }

    private sealed class DropIcmpFilter : IPacketFilter
    {
        public string Name => "dropicmp";

        public int Dropped { get; private set; }

        public PfilVerdict Filter(Packet packet, NetworkInterface ifp, PfilDirection direction, bool ipv6)
        {
            var data = packet.Data;
            if (!ipv6 && data.Length > 9 && data[9] == (byte)IPProtocol.Icmp)
            {
                Dropped++;
                return PfilVerdict.Drop;
            }

            return PfilVerdict.Pass;
        }
    }

    private static (TestNet Net, NetStack A, NetStack B) Pair()
    {
        var net = new TestNet();
        var a = net.Stack("a");
        var b = net.Stack("b");
        var (ia, ib) = net.Connect(a, b);
        ia.AddAddress(V4("192.0.2.1"), 24);
        ib.AddAddress(V4("192.0.2.2"), 24);
        ia.AddAddress(V6("2001:db8::1"), 64);
        ib.AddAddress(V6("2001:db8::2"), 64);
        net.Loop.RunFor(2 * Nanos.PerSecond);
        return (net, a, b);
    }

    [Theory]
    [InlineData(PfilDirection.In, false)]
    [InlineData(PfilDirection.Out, false)]
    [InlineData(PfilDirection.In, true)]
    [InlineData(PfilDirection.Out, true)]
    public void ReinjectedPacketsContinueWhereTheFilterTookThem(PfilDirection direction, bool ipv6)
    {
        var (net, a, b) = Pair();
        var delay = new DelayFilter(b, direction, 25 * Nanos.PerMillisecond);
        b.Pfil.Add(delay);
        var result = net.Ping(a, ipv6 ? V6("2001:db8::2") : V4("192.0.2.2"), count: 3);
        Assert.Equal(3, result.Received);
        // The first IPv6 request waits for neighbour discovery, whose NS is delayed by the filter too.
        Assert.True(result.Replies[0].RoundTripNs >= 25 * Nanos.PerMillisecond);
        Assert.All(result.Replies.Skip(1), r => Assert.Equal(25 * Nanos.PerMillisecond, r.RoundTripNs));
        Assert.True(delay.Seen >= 3);
    }

    [Fact]
    public void FiltersAfterTheReinjectingOneStillRun()
    {
        var (net, a, b) = Pair();
        var delay = new DelayFilter(b, PfilDirection.In, Nanos.PerMillisecond);
        var drop = new DropIcmpFilter();
        b.Pfil.Add(delay);
        b.Pfil.Add(drop);
        var result = net.Ping(a, V4("192.0.2.2"), count: 2);
        Assert.Equal(0, result.Received);
        Assert.Equal(2, drop.Dropped);
        Assert.Equal(2, b.Ip.FilterDropped);
        Assert.Equal(0, net.Loop.Pool.Outstanding);
    }
}
