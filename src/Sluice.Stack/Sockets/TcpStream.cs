using Sluice.Stack.Time;

namespace Sluice.Stack.Sockets;

/// <summary>
/// A .NET <see cref="Stream"/> over a connected <see cref="TcpSocket"/>, usable from any thread.
/// </summary>
/// <remarks>
/// Every operation is marshalled onto the socket's event loop with <see cref="EventLoop.PostFromAnyThread"/>; the
/// returned tasks complete on the loop and continue asynchronously (never inline on the loop thread).
/// <para>Real time: run the loop with <see cref="EventLoop.Run"/> on its own thread and use the stream from others.</para>
/// <para>Virtual time (tests, labs): call <c>ReadAsync</c>/<c>WriteAsync</c> on the test thread without awaiting,
/// then drive the loop until the task completes — <c>loop.RunUntil(() =&gt; task.IsCompleted, timeout)</c> — and
/// only then read <c>task.Result</c>. The synchronous <see cref="Read(byte[], int, int)"/>/<see cref="Write(byte[], int, int)"/>
/// block until the loop serves them, so they work only with a loop running on another thread.</para>
/// The stream takes over the socket's <see cref="TcpSocket.Readable"/>, <see cref="TcpSocket.Writable"/> and
/// <see cref="TcpSocket.Closed"/> callbacks.
/// </remarks>
public sealed class TcpStream : Stream
{
    private readonly TcpSocket _socket;
    private readonly EventLoop _loop;
    private TaskCompletionSource<int>? _read;
    private Memory<byte> _readBuffer;
    private TaskCompletionSource? _write;
    private ReadOnlyMemory<byte> _writeRemaining;
    private bool _disposed;

    /// <summary>Wraps <paramref name="socket"/>, whose stack runs on <paramref name="loop"/>.</summary>
    public TcpStream(TcpSocket socket, EventLoop loop)
    {
        _socket = socket;
        _loop = loop;
        socket.Readable = _ => ServeRead();
        socket.Writable = _ => ServeWrite();
        socket.Closed = (_, _) =>
        {
            ServeRead();
            ServeWrite();
        };
    }

    /// <summary>The socket underneath.</summary>
    public TcpSocket Socket => _socket;

    /// <inheritdoc />
    public override bool CanRead => !_disposed;

    /// <inheritdoc />
    public override bool CanWrite => !_disposed;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <inheritdoc />
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
        {
            return ValueTask.FromResult(0);
        }

        var tcs = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop.PostFromAnyThread(_ =>
        {
            if (_read is not null)
            {
                tcs.TrySetException(new InvalidOperationException("A read is already pending."));
                return;
            }

            _read = tcs;
            _readBuffer = buffer;
            ServeRead();
        });
        if (cancellationToken.CanBeCanceled)
        {
            cancellationToken.Register(() => _loop.PostFromAnyThread(_ =>
            {
                if (ReferenceEquals(_read, tcs))
                {
                    _read = null;
                }

                tcs.TrySetCanceled(cancellationToken);
            }));
        }

        return new ValueTask<int>(tcs.Task);
    }

    /// <inheritdoc />
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
        {
            return ValueTask.CompletedTask;
        }

        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop.PostFromAnyThread(_ =>
        {
            if (_write is not null)
            {
                tcs.TrySetException(new InvalidOperationException("A write is already pending."));
                return;
            }

            _write = tcs;
            _writeRemaining = buffer;
            ServeWrite();
        });
        if (cancellationToken.CanBeCanceled)
        {
            cancellationToken.Register(() => _loop.PostFromAnyThread(_ =>
            {
                if (ReferenceEquals(_write, tcs))
                {
                    _write = null;
                }

                tcs.TrySetCanceled(cancellationToken);
            }));
        }

        return new ValueTask(tcs.Task);
    }

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    public override void Flush()
    {
    }

    /// <inheritdoc />
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Half-closes the sending side (shutdown SHUT_WR) once queued writes are in the socket.</summary>
    public void ShutdownWrite() => _loop.PostFromAnyThread(_ => _socket.Shutdown(TcpShutdown.Write));

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            _disposed = true;
            _loop.PostFromAnyThread(_ =>
            {
                _read?.TrySetResult(0);
                _read = null;
                _write?.TrySetException(new ObjectDisposedException(nameof(TcpStream)));
                _write = null;
                _socket.Close();
            });
        }

        base.Dispose(disposing);
    }

    private void ServeRead()
    {
        if (_read is not { } tcs)
        {
            return;
        }

        var e = _socket.Receive(_readBuffer.Span, out var n);
        if (e == Errno.EAGAIN)
        {
            return;
        }

        _read = null;
        _readBuffer = default;
        if (e == Errno.None)
        {
            tcs.TrySetResult(n);
        }
        else
        {
            tcs.TrySetException(new IOException(ErrnoText.Describe(e)));
        }
    }

    private void ServeWrite()
    {
        if (_write is not { } tcs)
        {
            return;
        }

        while (!_writeRemaining.IsEmpty)
        {
            var e = _socket.Send(_writeRemaining.Span, out var n);
            if (e == Errno.EAGAIN)
            {
                return;
            }

            if (e != Errno.None)
            {
                _write = null;
                tcs.TrySetException(new IOException(ErrnoText.Describe(e)));
                return;
            }

            _writeRemaining = _writeRemaining[n..];
        }

        _write = null;
        tcs.TrySetResult();
    }
}
