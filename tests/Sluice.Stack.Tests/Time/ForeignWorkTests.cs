using Sluice.Stack.Time;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Stack.Tests.Time;

/// <summary>Virtual time and foreign work: code on the thread pool that awaits the loop (EventLoop's class remarks).</summary>
public sealed class ForeignWorkTests
{
    private sealed class Handler(Action<Timer> action) : ITimerHandler
    {
        public void OnTimer(Timer timer) => action(timer);
    }

    // A foreign operation the loop finishes `delay` ns after it starts, with the loop time at that moment.
    private static Task<long> After(EventLoop loop, long delay) =>
        loop.StartForeign<long>(op => loop.ScheduleAfter(new Timer(new Handler(_ => op.TrySetResult(loop.Now))), delay)).Task;

    [Fact]
    public void VirtualTimeWaitsForTheForeignCodeBetweenTwoOperations()
    {
        var loop = EventLoop.CreateVirtual();

        // A far timer the loop would jump to at once if it did not wait for the foreign code between the operations.
        loop.ScheduleAfter(new Timer(new Handler(_ => { })), Nanos.FromSeconds(3600));
        var task = loop.RunForeign(async () =>
        {
            var times = new List<long>();
            for (var i = 0; i < 20; i++)
            {
                times.Add(await After(loop, Nanos.FromMilliseconds(5)));
            }

            return times;
        });

        Assert.True(loop.RunUntilCompleted(task, Nanos.FromSeconds(10)));
        Assert.Equal(Enumerable.Range(1, 20).Select(i => i * Nanos.FromMilliseconds(5)), task.Result);
        Assert.Equal(0, loop.ForeignOperationsInFlight);
    }

    [Fact]
    public void ContinuationsOfTheForeignBodyRunOffTheLoopThread()
    {
        var loop = EventLoop.CreateVirtual();
        var loopThread = Environment.CurrentManagedThreadId;
        var task = loop.RunForeign(async () =>
        {
            await After(loop, Nanos.PerMillisecond);
            return Environment.CurrentManagedThreadId;
        });

        Assert.True(loop.RunUntilCompleted(task, Nanos.FromSeconds(1)));
        Assert.NotEqual(loopThread, task.Result);
        Assert.Equal(Nanos.PerMillisecond, loop.Now);
    }

    [Fact]
    public async Task ALoopOnADedicatedThreadMovesTimeOnlyForOperationsInFlight()
    {
        var loop = EventLoop.CreateVirtual();
        loop.ScheduleAfter(new Timer(new Handler(_ => { })), Nanos.FromSeconds(3600));
        using var stop = new CancellationTokenSource();
        var thread = new Thread(() => loop.Run(stop.Token)) { IsBackground = true, Name = "virtual loop" };
        thread.Start();
        try
        {
            var first = await loop.RunForeign(() => After(loop, Nanos.FromMilliseconds(7)));
            var second = await loop.RunForeign(() => After(loop, Nanos.FromMilliseconds(3)));

            // Between the two bodies nothing was in flight, so the hour-long timer did not pull time ahead.
            Assert.Equal(Nanos.FromMilliseconds(7), first);
            Assert.Equal(Nanos.FromMilliseconds(10), second);
        }
        finally
        {
            await stop.CancelAsync();
            thread.Join();
        }
    }

    [Fact]
    public void AForeignCallbackThatNeverReturnsTripsTheWatchdog()
    {
        var loop = EventLoop.CreateVirtual();
        using var reached = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        var task = loop.RunForeign(async () =>
        {
            await After(loop, Nanos.PerMillisecond);
            reached.Set();
            gate.Wait(); // blocks the foreign callback, as a synchronous Read inside it would
            return 0;
        });
        Assert.True(loop.RunUntil(() => reached.IsSet, Nanos.FromSeconds(1)));

        loop.ForeignWatchdog = TimeSpan.FromMilliseconds(200);
        var error = Assert.Throws<TimeoutException>(() => loop.RunUntilCompleted(task, Nanos.FromSeconds(1)));
        Assert.Contains("1 foreign callback(s) running", error.Message, StringComparison.Ordinal);
        Assert.Equal(Nanos.PerMillisecond, loop.Now);
        gate.Set();
        Assert.True(loop.RunUntilCompleted(task, Nanos.FromSeconds(1)));
    }

    [Fact]
    public void AForeignTaskWaitingForSomethingNotOnTheLoopTripsTheWatchdog()
    {
        var loop = EventLoop.CreateVirtual();
        loop.ForeignWatchdog = TimeSpan.FromMilliseconds(200);
        loop.ScheduleAfter(new Timer(new Handler(_ => { })), Nanos.FromSeconds(5));
        var never = new TaskCompletionSource<int>();
        var task = loop.RunForeign(async () => await never.Task);

        var error = Assert.Throws<TimeoutException>(() => loop.RunUntilCompleted(task, Nanos.FromSeconds(10)));
        Assert.Contains("0 operation(s) in flight", error.Message, StringComparison.Ordinal);

        // Time did not race ahead to the timer while the task was pending.
        Assert.Equal(0, loop.Now);
    }

    [Fact]
    public void AnOperationThatIsFinishedTwiceCompletesOnceAndLeavesNothingInFlight()
    {
        var loop = EventLoop.CreateVirtual();
        var results = new List<bool>();
        var operation = loop.StartForeign<int>(op =>
        {
            results.Add(op.TrySetResult(1));
            results.Add(op.TrySetException(new InvalidOperationException()));
            results.Add(op.TrySetCanceled(CancellationToken.None));
        });
        Assert.Equal(1, loop.ForeignOperationsInFlight);
        Assert.True(loop.RunUntilCompleted(operation.Task, Nanos.FromSeconds(1)));
        Assert.Equal([true, false, false], results);
        Assert.Equal(1, operation.Task.Result);
        Assert.Equal(0, loop.ForeignOperationsInFlight);
    }
}
