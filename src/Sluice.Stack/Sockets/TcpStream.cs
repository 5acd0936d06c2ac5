using Sluice.Stack.Time;

namespace Sluice.Stack.Sockets;

/// <summary>
/// A .NET <see cref="Stream"/> over a connected <see cref="TcpSocket"/>, usable from any thread.
/// </summary>
/// <remarks>
/// Every operation is a <see cref="ForeignOperation{T}"/> of the socket's event loop: it runs on the loop, and its task
/// completes on a thread-pool thread (never inline on the loop thread) that the loop counts as foreign work, so on a
/// virtual clock time waits for whatever the awaiting code does next (see <see cref="EventLoop"/>).
/// <para>Real time: run the loop with <see cref="EventLoop.Run"/> on its own thread and use the stream from others.</para>
/// <para>Virtual time (tests, labs): drive the loop until the task completes — <c>loop.RunUntilCompleted(task, timeout)</c>,
/// or <c>loop.RunUntil(() =&gt; task.IsCompleted, timeout)</c> for a single operation — or run it on a dedicated thread
/// with <see cref="EventLoop.Run"/>. The synchronous <see cref="Read(byte[], int, int)"/>/<see cref="Write(byte[], int, int)"/>
/// block until the loop serves them, so they work only with a loop running on another thread, and never inside a
/// foreign callback on a virtual loop (the loop waits for the callback: its watchdog throws).</para>
/// The stream takes over the socket's <see cref="TcpSocket.Readable"/>, <see cref="TcpSocket.Writable"/> and
/// <see cref="TcpSocket.Closed"/> callbacks.
/// </remarks>
public sealed class TcpStream : Stream
{
    private readonly TcpSocket _socket;
    private readonly EventLoop _loop;
    private ForeignOperation<int>? _read;
    private Memory<byte> _readBuffer;
    private ForeignOperation<bool>? _write;
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

        var operation = _loop.StartForeign<int>(op =>
        {
            if (_read is not null)
            {
                op.TrySetException(new InvalidOperationException("A read is already pending."));
                return;
            }

            _read = op;
            _readBuffer = buffer;
            ServeRead();
        });
        if (cancellationToken.CanBeCanceled)
        {
            cancellationToken.Register(() => _loop.PostFromAnyThread(_ =>
            {
                if (ReferenceEquals(_read, operation))
                {
                    _read = null;
                    _readBuffer = default;
                }

                operation.TrySetCanceled(cancellationToken);
            }));
        }

        return new ValueTask<int>(operation.Task);
    }

    /// <inheritdoc />
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
        {
            return ValueTask.CompletedTask;
        }

        var operation = _loop.StartForeign<bool>(op =>
        {
            if (_write is not null)
            {
                op.TrySetException(new InvalidOperationException("A write is already pending."));
                return;
            }

            _write = op;
            _writeRemaining = buffer;
            ServeWrite();
        });
        if (cancellationToken.CanBeCanceled)
        {
            cancellationToken.Register(() => _loop.PostFromAnyThread(_ =>
            {
                if (ReferenceEquals(_write, operation))
                {
                    _write = null;
                    _writeRemaining = default;
                }

                operation.TrySetCanceled(cancellationToken);
            }));
        }

        return new ValueTask(operation.Task);
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
        tcs.TrySetResult(true);
    }
}
