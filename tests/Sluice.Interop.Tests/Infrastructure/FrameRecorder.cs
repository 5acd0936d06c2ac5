using System.Collections.Concurrent;
using Sluice.Stack.Buffers;
using Sluice.Stack.Time;

namespace Sluice.Interop.Tests.Infrastructure;

/// <summary>A sink that keeps a copy of every frame and releases the packet; waits for a frame matching a predicate.</summary>
public sealed class FrameRecorder : IPacketSink
{
    private readonly ConcurrentQueue<byte[]> _frames = new();
    private readonly List<(Func<byte[], bool> Match, TaskCompletionSource<byte[]> Done)> _waiters = [];

    /// <summary>Every frame received so far.</summary>
    public IReadOnlyCollection<byte[]> Frames => _frames;

    /// <inheritdoc />
    public void Deliver(Packet packet)
    {
        var bytes = packet.Data.ToArray();
        packet.Release();
        _frames.Enqueue(bytes);
        lock (_waiters)
        {
            foreach (var (match, done) in _waiters)
            {
                if (match(bytes))
                {
                    done.TrySetResult(bytes);
                }
            }
        }
    }

    /// <summary>Completes with the first frame (already received or to come) for which <paramref name="match"/> holds.</summary>
    public Task<byte[]> WaitForAsync(Func<byte[], bool> match, TimeSpan timeout)
    {
        var done = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_waiters)
        {
            _waiters.Add((match, done));
            foreach (var frame in _frames)
            {
                if (match(frame))
                {
                    done.TrySetResult(frame);
                    break;
                }
            }
        }

        return done.Task.WaitAsync(timeout);
    }
}
