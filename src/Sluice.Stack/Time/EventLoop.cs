using Sluice.Stack.Buffers;

namespace Sluice.Stack.Time;

/// <summary>Something that takes delivery of packets posted through an event loop.</summary>
public interface IPacketSink
{
    /// <summary>Takes ownership of <paramref name="packet"/>.</summary>
    void Deliver(Packet packet);
}

/// <summary>A source of work polled by the event loop on its own thread (e.g. frames a TAP reader thread queued).</summary>
public interface IEventSource
{
    /// <summary>Does the work that is ready; returns how many items were handled.</summary>
    int Poll();
}

/// <summary>
/// A run-to-completion event loop: posted packets and actions run in FIFO order, then due timers; with a virtual
/// clock, when nothing is left to do, time jumps to the next timer.
/// </summary>
/// <remarks>
/// Everything posted or scheduled runs on the loop's thread. Only <see cref="PostFromAnyThread"/> may be called
/// from other threads.
/// </remarks>
public sealed partial class EventLoop
{
    private struct WorkItem
    {
        public IPacketSink? Sink;
        public Packet? Packet;
        public Action<object?>? Action;
        public object? State;
    }

    private readonly Queue<WorkItem> _work = new();
    private readonly Queue<(Action<object?> Action, object? State)> _foreign = new();
    private readonly TimerWheel _timers;
    private readonly VirtualClock? _virtual;
    private readonly AutoResetEvent _wake = new(false);
    private readonly List<IEventSource> _sources = [];

    /// <summary>Creates a loop on <paramref name="clock"/> with its own packet pool.</summary>
    public EventLoop(IClock clock, PacketPool? pool = null)
    {
        Clock = clock;
        Pool = pool ?? new PacketPool();
        _virtual = clock as VirtualClock;
        _timers = new TimerWheel(clock.Now);
    }

    /// <summary>Creates a loop on a fresh virtual clock.</summary>
    public static EventLoop CreateVirtual(PacketPool? pool = null) => new(new VirtualClock(), pool);

    /// <summary>The loop's clock.</summary>
    public IClock Clock { get; }

    /// <summary>Now, in nanoseconds.</summary>
    public long Now => Clock.Now;

    /// <summary>The packet pool of this loop.</summary>
    public PacketPool Pool { get; }

    /// <summary>Number of timers scheduled.</summary>
    public int ScheduledTimers => _timers.Count;

    /// <summary>Schedules (or reschedules) <paramref name="timer"/> at absolute time <paramref name="due"/>.</summary>
    public void Schedule(Timer timer, long due) => _timers.Schedule(timer, Math.Max(due, Clock.Now));

    /// <summary>Schedules (or reschedules) <paramref name="timer"/> <paramref name="delay"/> ns from now.</summary>
    public void ScheduleAfter(Timer timer, long delay) => _timers.Schedule(timer, Clock.Now + Math.Max(0, delay));

    /// <summary>Cancels <paramref name="timer"/>; false when it was not scheduled.</summary>
    public bool Cancel(Timer timer) => _timers.Cancel(timer);

    /// <summary>Queues delivery of <paramref name="packet"/> to <paramref name="sink"/>; ownership passes to the loop.</summary>
    public void Post(IPacketSink sink, Packet packet) => _work.Enqueue(new WorkItem { Sink = sink, Packet = packet });

    /// <summary>Queues a control-plane action (not for the per-packet path: the delegate may allocate).</summary>
    public void Post(Action<object?> action, object? state = null) => _work.Enqueue(new WorkItem { Action = action, State = state });

    /// <summary>Queues an action from any thread; wakes a real-time loop.</summary>
    public void PostFromAnyThread(Action<object?> action, object? state = null)
    {
        lock (_foreign)
        {
            _foreign.Enqueue((action, state));
        }

        _wake.Set();
    }

    /// <summary>Adds a source (e.g. a TAP reader) that is polled on every pass of the loop.</summary>
    public void AddSource(IEventSource source) => _sources.Add(source);

    /// <summary>Removes a source added with <see cref="AddSource"/>.</summary>
    public void RemoveSource(IEventSource source) => _sources.Remove(source);

    /// <summary>Wakes a real-time loop that waits for work; callable from any thread.</summary>
    public void Wake() => _wake.Set();

    /// <summary>Runs posted work and due timers until nothing is left for the current time. Returns items run.</summary>
    public int RunPending()
    {
        var count = DrainForeign();
        for (var i = 0; i < _sources.Count; i++)
        {
            count += _sources[i].Poll();
        }

        while (true)
        {
            while (_work.TryDequeue(out var item))
            {
                count++;
                if (item.Sink is not null)
                {
                    item.Sink.Deliver(item.Packet!);
                }
                else
                {
                    item.Action!(item.State);
                }
            }

            var fired = _timers.Expire(Clock.Now);
            count += fired;
            if (fired == 0 && _work.Count == 0)
            {
                return count;
            }
        }
    }

    /// <summary>Virtual time: runs until there is no work and no timer due at or before <paramref name="until"/>; the clock ends at <paramref name="until"/>.</summary>
    public void RunUntil(long until)
    {
        var clock = _virtual ?? throw new InvalidOperationException("RunUntil needs a virtual clock.");
        RunPending();
        while (_timers.NextDue is long next && next <= until)
        {
            clock.AdvanceTo(next);
            RunPending();
        }

        clock.AdvanceTo(until);
        RunPending();
    }

    /// <summary>Virtual time: runs for <paramref name="duration"/> ns.</summary>
    public void RunFor(long duration) => RunUntil(Clock.Now + duration);

    /// <summary>
    /// Virtual time: runs until <paramref name="done"/> is true (checked after each step) or <paramref name="timeout"/> ns pass.
    /// Returns whether the condition was met.
    /// </summary>
    public bool RunUntil(Func<bool> done, long timeout)
    {
        var limit = Clock.Now + timeout;
        if (_virtual is not { } clock)
        {
            return RunUntilReal(done, limit, CancellationToken.None);
        }

        RunPending();
        while (!done())
        {
            if (_timers.NextDue is not long next || next > limit)
            {
                clock.AdvanceTo(limit);
                RunPending();
                return done();
            }

            clock.AdvanceTo(next);
            RunPending();
        }

        return true;
    }

    /// <summary>
    /// Runs the loop on the calling thread until <paramref name="done"/> is true, <paramref name="timeout"/> ns pass or
    /// <paramref name="cancel"/> fires. On a virtual clock time jumps; on a real clock the thread waits for timers and
    /// posts, so the same tool code (ping's wait for replies) works in labs and on live links.
    /// </summary>
    public bool RunUntil(Func<bool> done, long timeout, CancellationToken cancel) =>
        _virtual is not null ? RunUntil(done, timeout) : RunUntilReal(done, Clock.Now + timeout, cancel);

    private bool RunUntilReal(Func<bool> done, long limit, CancellationToken cancel)
    {
        using var registration = cancel.CanBeCanceled ? cancel.Register(() => _wake.Set()) : default;
        RunPending();
        while (!done())
        {
            var now = Clock.Now;
            if (now >= limit || cancel.IsCancellationRequested)
            {
                return done();
            }

            var until = _timers.NextDue is long next ? Math.Min(next, limit) : limit;
            var wait = Math.Clamp((until - now + Nanos.PerMillisecond - 1) / Nanos.PerMillisecond, 0, 100);
            if (wait > 0)
            {
                _wake.WaitOne((int)wait); // clock-ok: real-time loop waits for the next timer or a post
            }

            RunPending();
        }

        return true;
    }

    /// <summary>Real time: runs until <paramref name="cancel"/> fires, sleeping until the next timer or foreign post.</summary>
    public void Run(CancellationToken cancel)
    {
        if (Clock.IsVirtual)
        {
            throw new InvalidOperationException("Run needs a real clock; use RunUntil on virtual time.");
        }

        using var registration = cancel.Register(() => _wake.Set());
        while (!cancel.IsCancellationRequested)
        {
            RunPending();
            var wait = _timers.NextDue is long next ? Math.Clamp((next - Clock.Now + Nanos.PerMillisecond - 1) / Nanos.PerMillisecond, 0, 100) : 100;
            if (wait > 0)
            {
                _wake.WaitOne((int)wait); // clock-ok: real-time loop waits for the next timer or a post
            }
        }
    }

    private int DrainForeign()
    {
        var count = 0;
        lock (_foreign)
        {
            while (_foreign.TryDequeue(out var item))
            {
                _work.Enqueue(new WorkItem { Action = item.Action, State = item.State });
                count++;
            }
        }

        return count;
    }
}
