namespace Sluice.Stack.Time;

/// <summary>
/// An operation that code on another thread (foreign code: an <see cref="HttpClient"/>, a test) starts on an event loop
/// and awaits: <see cref="Sockets.TcpStream"/> reads and writes, <see cref="Sockets.SluiceConnect"/> connects.
/// </summary>
/// <remarks>
/// <para>Created with <see cref="EventLoop.StartForeign{T}"/> on any thread; from then on the loop counts it as in
/// flight. The loop finishes it exactly once with <see cref="TrySetResult"/>, <see cref="TrySetException"/> or
/// <see cref="TrySetCanceled"/> (loop thread only; later calls return false). The task is then completed on a
/// thread-pool thread, running the awaiting code inline (synchronous continuations) under the loop's foreign
/// context, and the loop counts that thread as running foreign work until it returns. On a virtual clock, time does
/// not move while foreign work runs: whatever the awaiting code posts next is seen at the same virtual instant.</para>
/// <para>The task never completes on the loop's thread, so awaiting code never runs there.</para>
/// </remarks>
public sealed class ForeignOperation<T> : IThreadPoolWorkItem
{
    private readonly EventLoop _loop;
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.None);
    private T? _result;
    private Exception? _error;
    private CancellationToken _canceled;
    private bool _isCanceled;

    internal ForeignOperation(EventLoop loop) => _loop = loop;

    /// <summary>The task foreign code awaits.</summary>
    public Task<T> Task => _completion.Task;

    /// <summary>Whether the loop has finished the operation (loop thread only).</summary>
    public bool IsFinished { get; private set; }

    /// <summary>Finishes the operation with <paramref name="result"/>; loop thread only. False when already finished.</summary>
    public bool TrySetResult(T result)
    {
        if (IsFinished)
        {
            return false;
        }

        _result = result;
        return Finish();
    }

    /// <summary>Finishes the operation with <paramref name="error"/>; loop thread only. False when already finished.</summary>
    public bool TrySetException(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (IsFinished)
        {
            return false;
        }

        _error = error;
        return Finish();
    }

    /// <summary>Finishes the operation as canceled by <paramref name="cancel"/>; loop thread only. False when already finished.</summary>
    public bool TrySetCanceled(CancellationToken cancel)
    {
        if (IsFinished)
        {
            return false;
        }

        _isCanceled = true;
        _canceled = cancel;
        return Finish();
    }

    void IThreadPoolWorkItem.Execute() => _loop.RunForeignCallback(static s => ((ForeignOperation<T>)s!).Complete(), this);

    private bool Finish()
    {
        IsFinished = true;
        _loop.FinishForeignOperation(this);
        return true;
    }

    private void Complete()
    {
        if (_error is not null)
        {
            _completion.TrySetException(_error);
        }
        else if (_isCanceled)
        {
            _completion.TrySetCanceled(_canceled);
        }
        else
        {
            _completion.TrySetResult(_result!);
        }
    }
}
