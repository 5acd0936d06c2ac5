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
/// <para>Everything posted or scheduled runs on the loop's thread. Only <see cref="PostFromAnyThread"/>,
/// <see cref="Wake"/>, <see cref="StartForeign{T}"/>, <see cref="RunForeign{T}"/> and <see cref="ForeignContext"/> may be
/// used from other threads.</para>
/// <para><b>Foreign work</b> (code on other threads that talks to the loop, such as an <see cref="System.Net.Http.HttpClient"/>
/// over <see cref="Sockets.TcpStream"/>): each request it makes is a <see cref="ForeignOperation{T}"/>, in flight from
/// <see cref="StartForeign{T}"/> until the loop finishes it; the awaiting code then runs on a thread-pool thread that the
/// loop counts as running foreign work until it returns (it normally posts its next operation first). On a virtual
/// clock time never moves while foreign work runs or has posted work the loop has not run: the loop waits in real
/// time, bounded by <see cref="ForeignWatchdog"/>, after which it throws <see cref="TimeoutException"/> rather than hang
/// or let time race ahead. So what foreign code sees of virtual time is the same on every run.</para>
/// <para>Three ways to drive a virtual loop with foreign work: <see cref="RunUntilCompleted"/> on the calling thread
/// (time also waits while the task is pending with no operation in flight: its code is between operations);
/// <see cref="Run"/> on a dedicated thread (time moves only while some foreign operation is in flight and no foreign
/// code runs); and the plain <see cref="RunUntil(Func{bool}, long)"/>, which waits only for running foreign code.
/// Start foreign code with <see cref="RunForeign{T}"/> so that its own continuations are counted too.</para>
/// <para>On a real clock the loop sleeps until the next timer with nanosecond resolution (<c>ppoll</c> on Linux) and
/// spins only for the last <see cref="SpinWindow"/> before a timer is due, so timers fire within tens of microseconds
/// without a busy core while idle.</para>
/// </remarks>
public sealed partial class EventLoop
{
    /// <summary>How long before a timer is due a real-time loop stops sleeping and spins (wake-up latency of a loaded host).</summary>
    public const long SpinWindow = 50 * Nanos.PerMicrosecond;

    // Longest single sleep; the loop re-checks cancellation and sources at least this often.
    private const long MaxSleep = 100 * Nanos.PerMillisecond;

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
    private readonly LoopSignal _signal = new();
    private readonly List<IEventSource> _sources = [];

    /// <summary>Creates a loop on <paramref name="clock"/> with its own packet pool.</summary>
    public EventLoop(IClock clock, PacketPool? pool = null)
    {
        Clock = clock;
        Pool = pool ?? new PacketPool();
        _virtual = clock as VirtualClock;
        _timers = new TimerWheel(clock.Now);
        ForeignContext = new ForeignSynchronizationContext(this);
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

    /// <summary>Queues an action from any thread; wakes a waiting loop.</summary>
    public void PostFromAnyThread(Action<object?> action, object? state = null)
    {
        lock (_foreign)
        {
            _foreign.Enqueue((action, state));
        }

        _signal.Set();
    }

    /// <summary>Adds a source (e.g. a TAP reader) that is polled on every pass of the loop.</summary>
    public void AddSource(IEventSource source) => _sources.Add(source);

    /// <summary>Removes a source added with <see cref="AddSource"/>.</summary>
    public void RemoveSource(IEventSource source) => _sources.Remove(source);

    /// <summary>Wakes a loop that waits for work; callable from any thread.</summary>
    public void Wake() => _signal.Set();

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
    /// <exception cref="TimeoutException">Foreign code kept running for longer than <see cref="ForeignWatchdog"/>.</exception>
    public void RunUntil(long until)
    {
        var clock = _virtual ?? throw new InvalidOperationException("RunUntil needs a virtual clock.");
        Settle(null, null);
        while (_timers.NextDue is long next && next <= until)
        {
            clock.AdvanceTo(next);
            Settle(null, null);
        }

        clock.AdvanceTo(until);
        Settle(null, null);
    }

    /// <summary>Virtual time: runs for <paramref name="duration"/> ns.</summary>
    /// <exception cref="TimeoutException">Foreign code kept running for longer than <see cref="ForeignWatchdog"/>.</exception>
    public void RunFor(long duration) => RunUntil(Clock.Now + duration);

    /// <summary>
    /// Virtual time: runs until <paramref name="done"/> is true (checked after each step) or <paramref name="timeout"/> ns pass.
    /// Returns whether the condition was met.
    /// </summary>
    /// <remarks>Before time moves it waits for foreign code that is running (see the class remarks), not for foreign code
    /// that is between operations; for an <see cref="System.Net.Http.HttpClient"/> use <see cref="RunUntilCompleted"/>.</remarks>
    /// <exception cref="TimeoutException">Foreign code kept running for longer than <see cref="ForeignWatchdog"/>.</exception>
    public bool RunUntil(Func<bool> done, long timeout)
    {
        var limit = Clock.Now + timeout;
        if (_virtual is not { } clock)
        {
            return RunUntilReal(done, limit, CancellationToken.None);
        }

        return RunVirtual(clock, done, null, limit);
    }

    /// <summary>
    /// Runs the loop on the calling thread until <paramref name="done"/> is true, <paramref name="timeout"/> ns pass or
    /// <paramref name="cancel"/> fires. On a virtual clock time jumps; on a real clock the thread waits for timers and
    /// posts, so the same tool code (ping's wait for replies) works in labs and on live links.
    /// </summary>
    public bool RunUntil(Func<bool> done, long timeout, CancellationToken cancel) =>
        _virtual is not null ? RunUntil(done, timeout) : RunUntilReal(done, Clock.Now + timeout, cancel);

    /// <summary>
    /// Runs the loop on the calling thread until <paramref name="task"/> (foreign code, ideally started with
    /// <see cref="RunForeign{T}"/>) completes or <paramref name="timeout"/> ns of loop time pass; returns whether it completed.
    /// </summary>
    /// <remarks>
    /// On a virtual clock time moves only while the task waits for an operation in flight on this loop and no foreign
    /// code runs; while the task is pending with nothing in flight its code is between two operations (on a
    /// thread-pool thread the loop cannot see), and the loop waits for it in real time, bounded by
    /// <see cref="ForeignWatchdog"/>. On a real clock it is <c>RunUntil(() =&gt; task.IsCompleted, timeout)</c>.
    /// </remarks>
    /// <exception cref="TimeoutException">Foreign code ran, or the task stayed pending with no operation in flight, for
    /// longer than <see cref="ForeignWatchdog"/> of real time.</exception>
    public bool RunUntilCompleted(Task task, long timeout)
    {
        ArgumentNullException.ThrowIfNull(task);
        var limit = Clock.Now + timeout;
        if (_virtual is not { } clock)
        {
            return RunUntilReal(() => task.IsCompleted, limit, CancellationToken.None);
        }

        task.ContinueWith(static (_, s) => ((EventLoop)s!).Wake(), this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return RunVirtual(clock, () => task.IsCompleted, task, limit);
    }

    /// <summary>
    /// Runs the loop on the calling thread until <paramref name="cancel"/> fires. Real time: sleeps until the next timer
    /// or a post. Virtual time (a loop on a dedicated thread serving foreign code): jumps to the next timer only while
    /// a foreign operation is in flight and no foreign code runs, and otherwise waits for posts.
    /// </summary>
    /// <exception cref="TimeoutException">Virtual time: foreign code kept running for longer than <see cref="ForeignWatchdog"/>.</exception>
    public void Run(CancellationToken cancel)
    {
        using var registration = cancel.Register(static s => ((EventLoop)s!).Wake(), this);
        if (_virtual is { } clock)
        {
            RunDedicatedVirtual(clock, cancel);
            return;
        }

        while (!cancel.IsCancellationRequested)
        {
            RunPending();
            if (cancel.IsCancellationRequested)
            {
                return;
            }

            var now = Clock.Now;
            WaitReal(_timers.NextDue is long next ? Math.Min(next, now + MaxSleep) : now + MaxSleep);
        }
    }

    private bool RunVirtual(VirtualClock clock, Func<bool> done, Task? task, long limit)
    {
        if (Settle(done, task))
        {
            return true;
        }

        while (true)
        {
            if (_timers.NextDue is not long next || next > limit)
            {
                clock.AdvanceTo(limit);
                return Settle(done, task);
            }

            clock.AdvanceTo(next);
            if (Settle(done, task))
            {
                return true;
            }
        }
    }

    private bool RunUntilReal(Func<bool> done, long limit, CancellationToken cancel)
    {
        using var registration = cancel.CanBeCanceled ? cancel.Register(static s => ((EventLoop)s!).Wake(), this) : default;
        RunPending();
        while (!done())
        {
            var now = Clock.Now;
            if (now >= limit || cancel.IsCancellationRequested)
            {
                return done();
            }

            var until = _timers.NextDue is long next ? Math.Min(next, limit) : limit;
            WaitReal(Math.Min(until, now + MaxSleep));
            RunPending();
        }

        return true;
    }

    // Real time: sleeps until `until` (ns on the clock) or a wake-up. The sleep ends SpinWindow early and the rest is
    // spun, watching for a wake-up, so a timer fires within the host's clock-read latency rather than its wake-up latency.
    private void WaitReal(long until)
    {
        var left = until - Clock.Now;
        if (left <= 0)
        {
            return;
        }

        if (left > SpinWindow && _signal.Wait(left - SpinWindow))
        {
            return;
        }

        var spinner = default(SpinWait);
        while (Clock.Now < until && !_signal.IsSet)
        {
            // Never yields the core (sleep1Threshold -1): a sleep would cost the precision the spin is for.
            spinner.SpinOnce(-1);
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
