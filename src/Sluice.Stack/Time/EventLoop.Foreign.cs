using System.Diagnostics;

namespace Sluice.Stack.Time;

/// <summary>Foreign work: code on other threads that talks to the loop, and how virtual time waits for it.</summary>
public sealed partial class EventLoop
{
    // Both guarded by _foreign (with the queue, so that "nothing posted, nothing running" is one consistent reading).
    private int _foreignInFlight;
    private int _foreignRunning;

    /// <summary>
    /// The longest real time a virtual loop waits for foreign work before it throws <see cref="TimeoutException"/>
    /// (default 30 s). A foreign callback that blocks on the loop (a synchronous <c>Read</c>) or awaits something
    /// that is not on the loop trips it.
    /// </summary>
    public TimeSpan ForeignWatchdog { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The synchronization context foreign callbacks run under: work posted to it runs on the thread pool and counts as
    /// running foreign work, so virtual time waits for it (the continuations of <c>await</c>s in code started with
    /// <see cref="RunForeign{T}"/> come back through it).
    /// </summary>
    public SynchronizationContext ForeignContext { get; }

    /// <summary>Foreign operations started and not yet finished by the loop.</summary>
    public int ForeignOperationsInFlight
    {
        get
        {
            lock (_foreign)
            {
                return _foreignInFlight;
            }
        }
    }

    /// <summary>
    /// Starts a foreign operation from any thread: <paramref name="start"/> runs on the loop, which later finishes the
    /// operation (see <see cref="ForeignOperation{T}"/>). Until then the operation is in flight.
    /// </summary>
    public ForeignOperation<T> StartForeign<T>(Action<ForeignOperation<T>> start)
    {
        ArgumentNullException.ThrowIfNull(start);
        var operation = new ForeignOperation<T>(this);
        lock (_foreign)
        {
            _foreignInFlight++;
            _foreign.Enqueue((_ => start(operation), null));
        }

        _signal.Set();
        return operation;
    }

    /// <summary>
    /// Runs <paramref name="body"/> on the thread pool as foreign work under <see cref="ForeignContext"/>, so that virtual
    /// time waits while it (and each continuation of its <c>await</c>s) runs. Any thread.
    /// </summary>
    public Task<T> RunForeign<T>(Func<Task<T>> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var started = new TaskCompletionSource<Task<T>>(TaskCreationOptions.RunContinuationsAsynchronously);
        ForeignContext.Post(
            _ =>
            {
                try
                {
                    started.SetResult(body());
                }
                catch (Exception e)
                {
                    started.SetException(e);
                }
            },
            null);
        return started.Task.Unwrap();
    }

    /// <summary>As <see cref="RunForeign{T}"/>, for a body without a result.</summary>
    public Task RunForeign(Func<Task> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        return RunForeign(async () =>
        {
            await body().ConfigureAwait(true);
            return true;
        });
    }

    internal void FinishForeignOperation(IThreadPoolWorkItem completion)
    {
        lock (_foreign)
        {
            _foreignInFlight--;
            _foreignRunning++;
        }

        ThreadPool.UnsafeQueueUserWorkItem(completion, preferLocal: false);
    }

    internal void BeginForeignCallback()
    {
        lock (_foreign)
        {
            _foreignRunning++;
        }
    }

    // Runs on a thread-pool thread, counted as running foreign work (BeginForeignCallback or FinishForeignOperation).
    internal void RunForeignCallback(Action<object?> callback, object? state)
    {
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(ForeignContext);
        try
        {
            callback(state);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
            lock (_foreign)
            {
                _foreignRunning--;
            }

            _signal.Set();
        }
    }

    // Virtual time: runs work until `done`, or until the loop may move time: nothing posted, no foreign code running,
    // and (for RunUntilCompleted) the pending task waiting on an operation in flight. Waits in real time for foreign
    // code, bounded by the watchdog. Returns done().
    private bool Settle(Func<bool>? done, Task? task)
    {
        long waitingSince = 0;
        while (true)
        {
            if (RunPending() > 0)
            {
                waitingSince = 0;
            }

            if (done?.Invoke() == true)
            {
                return true;
            }

            int running, inFlight;
            lock (_foreign)
            {
                if (_foreign.Count > 0)
                {
                    continue;
                }

                running = _foreignRunning;
                inFlight = _foreignInFlight;
            }

            if (running == 0 && (task is null || task.IsCompleted || inFlight > 0))
            {
                return done?.Invoke() == true;
            }

            WaitForForeign(ref waitingSince, running, inFlight);
        }
    }

    // A loop on a dedicated thread: time moves only while foreign code waits on an operation in flight.
    private void RunDedicatedVirtual(VirtualClock clock, CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            Settle(null, null);
            int inFlight;
            lock (_foreign)
            {
                if (_foreign.Count > 0 || _foreignRunning > 0)
                {
                    continue;
                }

                inFlight = _foreignInFlight;
            }

            if (inFlight > 0 && _timers.NextDue is long next)
            {
                clock.AdvanceTo(next);
                continue;
            }

            // Nobody waits for time (or nothing could answer): wait for a post or the cancellation.
            if (!cancel.IsCancellationRequested)
            {
                _signal.Wait(MaxSleep);
            }
        }
    }

    private void WaitForForeign(ref long waitingSince, int running, int inFlight)
    {
        if (waitingSince == 0)
        {
            waitingSince = Stopwatch.GetTimestamp(); // clock-ok: real-time watchdog on foreign threads, not loop time
        }

        var left = ForeignWatchdog - Stopwatch.GetElapsedTime(waitingSince); // clock-ok: watchdog
        if (left <= TimeSpan.Zero)
        {
            throw new TimeoutException(
                $"virtual time waited {ForeignWatchdog.TotalSeconds:0.###} s of real time for foreign work at {Nanos.ToMilliseconds(Now):0.###} ms: " +
                $"{running} foreign callback(s) running, {inFlight} operation(s) in flight. A foreign callback blocks (a synchronous " +
                "Read or Wait on the loop?) or the awaited task waits for something that is not on this loop.");
        }

        _signal.Wait(Math.Min(MaxSleep, left.Ticks * 100));
    }

    /// <summary>Posts to the thread pool as counted foreign work of its loop.</summary>
    private sealed class ForeignSynchronizationContext(EventLoop loop) : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state)
        {
            ArgumentNullException.ThrowIfNull(d);
            loop.BeginForeignCallback();
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Loop.RunForeignCallback(static x => ((Posted)x!).Run(), s), new Posted(loop, d, state), preferLocal: false);
        }

        public override void Send(SendOrPostCallback d, object? state)
        {
            ArgumentNullException.ThrowIfNull(d);
            d(state);
        }

        public override SynchronizationContext CreateCopy() => this;

        private sealed record Posted(EventLoop Loop, SendOrPostCallback Callback, object? State)
        {
            public void Run() => Callback(State);
        }
    }
}
