using CsCheck;
using Sluice.Stack.Time;
using Sluice.Testing;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Stack.Tests.Time;

public sealed class TimerWheelTests
{
    private sealed class Recorder(List<(int Id, long Due)> log) : ITimerHandler
    {
        public Action<Timer>? Then { get; set; }

        public void OnTimer(Timer timer)
        {
            Assert.False(timer.IsScheduled);
            log.Add(((int)timer.State!, timer.Due));
            Then?.Invoke(timer);
        }
    }

    private sealed class CountingHandler : ITimerHandler
    {
        public int Fired;

        public void OnTimer(Timer timer) => Fired++;
    }

    [Fact]
    public void FiresInDueThenSchedulingOrderWithinOneTick()
    {
        var log = new List<(int, long)>();
        var handler = new Recorder(log);
        var wheel = new TimerWheel(0);
        var timers = Enumerable.Range(0, 5).Select(i => new Timer(handler, i)).ToArray();
        wheel.Schedule(timers[0], 1500);
        wheel.Schedule(timers[1], 1200);
        wheel.Schedule(timers[2], 1500);
        wheel.Schedule(timers[3], 1200);
        wheel.Schedule(timers[4], 1999);
        Assert.Equal(1200, wheel.NextDue);
        Assert.Equal(0, wheel.Expire(1199));
        Assert.Equal(2, wheel.Expire(1200));
        Assert.Equal(1500, wheel.NextDue);
        Assert.Equal(3, wheel.Expire(5000));
        Assert.Equal([(1, 1200L), (3, 1200L), (0, 1500L), (2, 1500L), (4, 1999L)], log);
        Assert.Null(wheel.NextDue);
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void FarFutureTimersFireExactlyAndInOrder()
    {
        var log = new List<(int, long)>();
        var handler = new Recorder(log);
        var wheel = new TimerWheel(0);
        long day = Nanos.PerSecond * 86_400;
        var a = new Timer(handler, 0);
        var b = new Timer(handler, 1);
        var c = new Timer(handler, 2);
        wheel.Schedule(a, (3 * day) + 7);
        wheel.Schedule(b, (2 * Nanos.PerSecond * 3600) + 1);
        wheel.Schedule(c, long.MaxValue);
        Assert.Equal((2 * Nanos.PerSecond * 3600) + 1, wheel.NextDue);
        Assert.Equal(0, wheel.Expire(2 * Nanos.PerSecond * 3600));
        Assert.Equal((2 * Nanos.PerSecond * 3600) + 1, wheel.NextDue);
        Assert.Equal(1, wheel.Expire(day));
        Assert.Equal((3 * day) + 7, wheel.NextDue);
        Assert.Equal(1, wheel.Expire((3 * day) + 7));
        Assert.Equal(long.MaxValue, wheel.NextDue);
        Assert.Equal(1, wheel.Expire(long.MaxValue));
        Assert.Equal([(1, (2 * Nanos.PerSecond * 3600) + 1), (0, (3 * day) + 7), (2, long.MaxValue)], log);
    }

    [Fact]
    public void PastTimersFireAtNextExpire()
    {
        var log = new List<(int, long)>();
        var handler = new Recorder(log);
        var wheel = new TimerWheel(1_000_000);
        wheel.Expire(5_000_000);
        wheel.Schedule(new Timer(handler, 0), 10);
        wheel.Schedule(new Timer(handler, 1), 4_000_000);
        Assert.Equal(10, wheel.NextDue);
        Assert.Equal(2, wheel.Expire(5_000_000));
        Assert.Equal([(0, 10L), (1, 4_000_000L)], log);
    }

    [Fact]
    public void HandlerMayRescheduleItselfIntoTheSameExpire()
    {
        var log = new List<(int, long)>();
        var handler = new Recorder(log);
        var wheel = new TimerWheel(0);
        var t = new Timer(handler, 0);
        var other = new Timer(handler, 1);
        var rounds = 0;
        handler.Then = timer =>
        {
            if (timer == t && ++rounds < 3)
            {
                wheel.Schedule(timer, timer.Due + 100);
            }
        };
        wheel.Schedule(t, 100);
        wheel.Schedule(other, 250);
        Assert.Equal(4, wheel.Expire(1000));
        Assert.Equal([(0, 100L), (0, 200L), (1, 250L), (0, 300L)], log);
    }

    [Fact]
    public void CancelAndRescheduleKeepCountAndNextDue()
    {
        var handler = new CountingHandler();
        var wheel = new TimerWheel(0);
        var a = new Timer(handler);
        var b = new Timer(handler);
        wheel.Schedule(a, 5_000);
        wheel.Schedule(b, 9_000_000);
        Assert.Equal(2, wheel.Count);
        Assert.Equal(5_000, wheel.NextDue);
        wheel.Schedule(a, 20_000_000);
        Assert.Equal(2, wheel.Count);
        Assert.Equal(9_000_000, wheel.NextDue);
        Assert.True(wheel.Cancel(b));
        Assert.False(wheel.Cancel(b));
        Assert.False(b.IsScheduled);
        Assert.Equal(20_000_000, wheel.NextDue);
        Assert.Equal(0, wheel.Expire(19_999_999));
        Assert.Equal(1, wheel.Expire(20_000_000));
        Assert.Equal(1, handler.Fired);
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void ScheduleCancelAndExpireDoNotAllocate()
    {
        var handler = new CountingHandler();
        var wheel = new TimerWheel(0);
        var timers = Enumerable.Range(0, 1000).Select(_ => new Timer(handler)).ToArray();
        var now = 0L;

        void Round(int n)
        {
            for (var i = 0; i < n; i++)
            {
                var t = timers[i % timers.Length];
                wheel.Schedule(t, now + ((i * 7919L) % 50_000_000));
                if (i % 5 == 0)
                {
                    wheel.Cancel(timers[(i * 31) % timers.Length]);
                }

                if (i % 100 == 0)
                {
                    now += 1_000_000;
                    wheel.Expire(now);
                    _ = wheel.NextDue;
                }
            }
        }

        Round(10_000);
        SteadyStateAllocation.AssertNone(() => Round(10_000), "10,000 timer rounds");
        Assert.True(handler.Fired > 0);
    }

    private sealed class Model
    {
        private readonly List<(int Id, long Due, long Seq)> _items = [];
        private long _seq;

        public int Count => _items.Count;

        public long? NextDue => _items.Count == 0 ? null : _items.Min(x => x.Due);

        public void Schedule(int id, long due)
        {
            Cancel(id);
            _items.Add((id, due, ++_seq));
        }

        public bool Cancel(int id) => _items.RemoveAll(x => x.Id == id) > 0;

        public bool TryPop(long now, out (int Id, long Due) popped)
        {
            popped = default;
            if (_items.Count == 0)
            {
                return false;
            }

            var min = _items.OrderBy(x => x.Due).ThenBy(x => x.Seq).First();
            if (min.Due > now)
            {
                return false;
            }

            _items.Remove(min);
            popped = (min.Id, min.Due);
            return true;
        }
    }

    private static readonly Gen<long> Offset = Gen.OneOf(
        Gen.Long[-5_000, 0],
        Gen.Long[0, 3].Select(x => x * 500),
        Gen.Long[0, 5_000],
        Gen.Long[0, 300_000],
        Gen.Long[0, 20_000_000_000],
        Gen.Long[0, 400_000_000_000_000]);

    private static readonly Gen<(int Op, int Id, long Offset)[]> Ops =
        Gen.Select(Gen.Int[0, 4], Gen.Int[0, 11], Offset).Array[1, 120];

    [Fact]
    public void MatchesSortedListModel()
    {
        Gen.Select(Ops, Gen.OneOf(Gen.Const(1L), Gen.Const(1000L), Gen.Const(1_000_000L)), Gen.Long[-1000, 1000]).Sample(input =>
        {
            var (ops, tick, start) = input;
            var wheel = new TimerWheel(start, tick);
            var model = new Model();
            var wheelLog = new List<(int Id, long Due)>();
            var modelLog = new List<(int Id, long Due)>();
            var handler = new Recorder(wheelLog);
            var timers = Enumerable.Range(0, 12).Select(i => new Timer(handler, i)).ToArray();
            var fires = new int[12];
            var modelFires = new int[12];
            var now = start;

            // Timers with even ids reschedule themselves (a few times) from their handler, sometimes to "now".
            long Follow(int id, int count, long due) => due + (count % 2 == 0 ? 0 : (id * 1_337L) + 1);

            handler.Then = t =>
            {
                var id = (int)t.State!;
                if (id % 2 == 0 && ++fires[id] % 4 != 0)
                {
                    wheel.Schedule(t, Follow(id, fires[id], t.Due));
                }
            };

            foreach (var (op, id, offset) in ops)
            {
                switch (op)
                {
                    case 0:
                    case 1:
                        wheel.Schedule(timers[id], now + offset);
                        model.Schedule(id, now + offset);
                        break;
                    case 2:
                        Assert.Equal(model.Cancel(id), wheel.Cancel(timers[id]));
                        break;
                    default:
                        now += Math.Abs(offset);
                        var fired = wheel.Expire(now);
                        var modelFired = 0;
                        while (model.TryPop(now, out var p))
                        {
                            modelFired++;
                            modelLog.Add(p);
                            if (p.Id % 2 == 0 && ++modelFires[p.Id] % 4 != 0)
                            {
                                model.Schedule(p.Id, Follow(p.Id, modelFires[p.Id], p.Due));
                            }
                        }

                        Assert.Equal(modelFired, fired);
                        break;
                }

                Assert.Equal(model.Count, wheel.Count);
                Assert.Equal(model.NextDue, wheel.NextDue);
                Assert.Equal(modelLog, wheelLog);
            }
        }, iter: 3000);
    }
}
