using Sluice.Stack.Time;

namespace Sluice.Interop.Tests.Infrastructure;

/// <summary>
/// A real-time <see cref="EventLoop"/> run on its own background thread for a bounded time; the test thread talks to
/// it only through <see cref="InvokeAsync{T}"/> (which posts with <see cref="EventLoop.PostFromAnyThread"/>).
/// </summary>
public sealed class RealTimeLoop : IDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly Thread _thread;
    private Exception? _failure;
    private int _disposed;

    /// <summary>Starts a loop on a <see cref="RealClock"/>; it stops by itself after <paramref name="lifetime"/>.</summary>
    public RealTimeLoop(TimeSpan? lifetime = null)
    {
        Loop = new EventLoop(new RealClock());
        _stop = new CancellationTokenSource(lifetime ?? TimeSpan.FromSeconds(90));
        _thread = new Thread(Run) { IsBackground = true, Name = "sluice loop" };
    }

    /// <summary>The loop (touch only from its thread: inside <see cref="InvokeAsync{T}"/> or a sink).</summary>
    public EventLoop Loop { get; }

    /// <summary>Starts the loop thread (call after links were opened on <see cref="Loop"/>).</summary>
    public RealTimeLoop Start()
    {
        _thread.Start();
        return this;
    }

    /// <summary>Runs <paramref name="action"/> on the loop thread and returns its result.</summary>
    /// <exception cref="TimeoutException">The loop did not run it within <paramref name="timeout"/>.</exception>
    public async Task<T> InvokeAsync<T>(Func<T> action, TimeSpan? timeout = null)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Loop.PostFromAnyThread(_ =>
        {
            try
            {
                done.TrySetResult(action());
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        });
        return await done.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(10)).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="action"/> on the loop thread.</summary>
    public Task InvokeAsync(Action action, TimeSpan? timeout = null) => InvokeAsync(() =>
    {
        action();
        return true;
    }, timeout);

    /// <summary>Stops the loop and joins its thread (bounded); rethrows what killed the loop, if anything.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        if (_thread.IsAlive && !_thread.Join(TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException("The event loop thread did not stop within 10 s.");
        }

        _stop.Dispose();
        if (_failure is not null)
        {
            throw new InvalidOperationException("The event loop failed.", _failure);
        }
    }

    private void Run()
    {
        try
        {
            Loop.Run(_stop.Token);
        }
        catch (Exception e)
        {
            _failure = e;
        }
    }
}
