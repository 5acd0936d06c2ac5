using Sluice.Stack.Buffers;
using Sluice.Stack.Time;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Stack.Tests.Time;

public sealed class EventLoopTests
{
    private sealed class Handler(Action<Timer> action) : ITimerHandler
    {
        public void OnTimer(Timer timer) => action(timer);
    }

    private sealed class Sink(List<string> log) : IPacketSink
    {
        public void Deliver(Packet packet)
        {
            log.Add($"packet{packet.Length}");
            packet.Release();
        }
    }

    [Fact]
    public void RunUntilJumpsTimeToEachDueTimerExactly()
    {
        var loop = EventLoop.CreateVirtual();
        var seen = new List<(object?, long)>();
        var handler = new Handler(t => seen.Add((t.State, loop.Now)));
        loop.Schedule(new Timer(handler, "b"), 2_500_123);
        loop.Schedule(new Timer(handler, "a"), 1_000_001);
        loop.ScheduleAfter(new Timer(handler, "c"), Nanos.FromSeconds(3600));
        loop.RunUntil(Nanos.FromSeconds(10));
        Assert.Equal([("a", 1_000_001L), ("b", 2_500_123L)], seen);
        Assert.Equal(Nanos.FromSeconds(10), loop.Now);
        Assert.Equal(1, loop.ScheduledTimers);
        loop.RunUntil(Nanos.FromSeconds(7200));
        Assert.Equal(("c", Nanos.FromSeconds(3600)), seen[^1]);
    }

    [Fact]
    public void RunForEndsAtNowPlusDuration()
    {
        var loop = EventLoop.CreateVirtual();
        loop.RunFor(1234);
        loop.RunFor(Nanos.FromMilliseconds(5));
        Assert.Equal(1234 + Nanos.FromMilliseconds(5), loop.Now);
    }

    [Fact]
    public void PeriodicTimerRearmsFromItsHandler()
    {
        var loop = EventLoop.CreateVirtual();
        var times = new List<long>();
        var handler = new Handler(t =>
        {
            times.Add(loop.Now);
            loop.ScheduleAfter(t, Nanos.PerMillisecond);
        });
        loop.ScheduleAfter(new Timer(handler), Nanos.PerMillisecond);
        loop.RunFor(Nanos.FromMilliseconds(4.5));
        Assert.Equal([1_000_000L, 2_000_000L, 3_000_000L, 4_000_000L], times);
    }

    [Fact]
    public void PostedPacketsAndActionsRunFifoBeforeTimers()
    {
        var loop = EventLoop.CreateVirtual();
        var log = new List<string>();
        var sink = new Sink(log);
        loop.Schedule(new Timer(new Handler(_ =>
        {
            log.Add("timer");
            loop.Post(_ => log.Add("posted-by-timer"));
        })), 0);
        loop.Post(_ => log.Add("action1"));
        loop.Post(sink, loop.Pool.Rent(10));
        loop.Post(s => log.Add((string)s!), "action2");
        loop.Post(sink, loop.Pool.Rent(20));
        loop.RunPending();
        Assert.Equal(["action1", "packet10", "action2", "packet20", "timer", "posted-by-timer"], log);
        Assert.Equal(0, loop.Pool.Outstanding);
    }

    [Fact]
    public void RunUntilConditionStopsAtTheCondition()
    {
        var loop = EventLoop.CreateVirtual();
        var count = 0;
        var handler = new Handler(t =>
        {
            count++;
            loop.ScheduleAfter(t, Nanos.FromMilliseconds(10));
        });
        loop.ScheduleAfter(new Timer(handler), Nanos.FromMilliseconds(10));
        Assert.True(loop.RunUntil(() => count == 3, Nanos.FromSeconds(1)));
        Assert.Equal(Nanos.FromMilliseconds(30), loop.Now);
    }

    [Fact]
    public void RunUntilConditionTimesOut()
    {
        var loop = EventLoop.CreateVirtual();
        var fired = false;
        loop.ScheduleAfter(new Timer(new Handler(_ => fired = true)), Nanos.FromSeconds(5));
        Assert.False(loop.RunUntil(() => fired, Nanos.FromSeconds(2)));
        Assert.Equal(Nanos.FromSeconds(2), loop.Now);
        Assert.False(fired);
    }

    [Fact]
    public void ScheduleInThePastFiresAtCurrentTime()
    {
        var loop = EventLoop.CreateVirtual();
        loop.RunFor(Nanos.FromSeconds(1));
        var at = -1L;
        loop.Schedule(new Timer(new Handler(_ => at = loop.Now)), 5);
        loop.RunPending();
        Assert.Equal(Nanos.FromSeconds(1), at);
    }

    [Fact]
    public void CancelledTimerDoesNotFire()
    {
        var loop = EventLoop.CreateVirtual();
        var fired = false;
        var timer = new Timer(new Handler(_ => fired = true));
        loop.ScheduleAfter(timer, 100);
        Assert.True(loop.Cancel(timer));
        loop.RunFor(1000);
        Assert.False(fired);
        Assert.Equal(0, loop.ScheduledTimers);
    }
}
