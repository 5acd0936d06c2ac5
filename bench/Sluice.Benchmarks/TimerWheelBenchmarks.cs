using BenchmarkDotNet.Attributes;
using Sluice.Stack.Time;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Benchmarks;

/// <summary>
/// The event loop's timer wheel on virtual time: 10,000 timers with delays spread from 1 µs to 10 s (so every level
/// of the wheel and its cascades are exercised). Figures are per timer.
/// </summary>
[MemoryDiagnoser]
public class TimerWheelBenchmarks
{
    /// <summary>Timers per invocation.</summary>
    public const int Count = 10_000;

    private const long MaxDelay = 10 * Nanos.PerSecond;

    private readonly Handler _handler = new();
    private EventLoop _loop = null!;
    private Timer[] _timers = [];
    private long[] _delays = [];

    [GlobalSetup]
    public void Setup()
    {
        _loop = EventLoop.CreateVirtual();
        _timers = new Timer[Count];
        _delays = new long[Count];
        var random = new Random(42);
        for (var i = 0; i < Count; i++)
        {
            _timers[i] = new Timer(_handler);
            // Log-uniform between 1 µs and 10 s: as many short timers (retransmits) as long ones (ARP, state expiry).
            _delays[i] = (long)Math.Pow(10, 3 + (random.NextDouble() * 7));
        }
    }

    /// <summary>Schedules every timer, then cancels every one (the common case: a retransmit timer stopped by an ACK).</summary>
    [Benchmark(OperationsPerInvoke = Count)]
    public int ScheduleCancel()
    {
        var loop = _loop;
        var timers = _timers;
        var delays = _delays;
        for (var i = 0; i < timers.Length; i++)
        {
            loop.ScheduleAfter(timers[i], delays[i]);
        }

        var cancelled = 0;
        for (var i = 0; i < timers.Length; i++)
        {
            cancelled += loop.Cancel(timers[i]) ? 1 : 0;
        }

        return cancelled;
    }

    /// <summary>Schedules every timer, then runs virtual time until all have fired (one clock jump per distinct due time).</summary>
    [Benchmark(OperationsPerInvoke = Count)]
    public long ScheduleExpire()
    {
        var loop = _loop;
        var timers = _timers;
        var delays = _delays;
        for (var i = 0; i < timers.Length; i++)
        {
            loop.ScheduleAfter(timers[i], delays[i]);
        }

        var before = _handler.Fired;
        loop.RunFor(MaxDelay);
        var fired = _handler.Fired - before;
        if (fired != Count)
        {
            throw new InvalidOperationException($"{fired} of {Count} timers fired.");
        }

        return fired;
    }

    private sealed class Handler : ITimerHandler
    {
        public long Fired;

        public void OnTimer(Timer timer) => Fired++;
    }
}
