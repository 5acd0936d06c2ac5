using System.Diagnostics;
using System.Net.Http;
using System.Net.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;

namespace Sluice.Stack.Sockets;

/// <summary>
/// Plugs a Sluice stack into <see cref="SocketsHttpHandler.ConnectCallback"/>, so that an <see cref="HttpClient"/>'s
/// connections are Sluice TCP connections: <c>new SocketsHttpHandler { ConnectCallback = SluiceConnect.For(stack) }</c>.
/// </summary>
/// <remarks>
/// Each connection is a <see cref="TcpStream"/>; the callback may be called on any thread and marshals onto the
/// stack's loop. Hosts must be numeric unless a <c>resolve</c> function is given.
/// <para>Real time: run the loop on its own thread (<see cref="EventLoop.Run"/>) and use the client anywhere.</para>
/// <para>Virtual time: start the request without awaiting it, then drive the loop on the test thread with
/// <see cref="RunUntilCompleted"/>. The plain <c>loop.RunUntil(() =&gt; task.IsCompleted, timeout)</c> is not enough
/// here: the client's continuations run on the thread pool, and when the loop finds no work and no timer it jumps to
/// the timeout before they have posted their next read or write.</para>
/// </remarks>
public static class SluiceConnect
{
    // Largest jump of virtual time RunUntilCompleted makes while other threads may still be about to post.
    private const long MaxStep = 10 * Nanos.PerMillisecond;

    /// <summary>A connect callback that opens Sluice TCP connections on <paramref name="stack"/>.</summary>
    /// <param name="stack">The VNET whose TCP carries the connections.</param>
    /// <param name="resolve">Maps a host name to an address (null: numeric hosts only).</param>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> For(NetStack stack, Func<string, InetAddress?>? resolve = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        return (context, cancel) => ConnectAsync(stack, context.DnsEndPoint.Host, (ushort)context.DnsEndPoint.Port, resolve, cancel);
    }

    /// <summary>Connects to <paramref name="host"/>:<paramref name="port"/> over <paramref name="stack"/>; any thread. The task completes on the loop.</summary>
    /// <exception cref="HttpRequestException">The host is not numeric and cannot be resolved.</exception>
    /// <exception cref="SocketException">The connection failed (refused, reset, timed out, unreachable).</exception>
    public static ValueTask<Stream> ConnectAsync(NetStack stack, string host, ushort port, Func<string, InetAddress?>? resolve = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(host);
        var text = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        InetAddress address;
        if (!InetAddress.TryParse(text, out address))
        {
            if (resolve?.Invoke(host) is not { } resolved)
            {
                return ValueTask.FromException<Stream>(new HttpRequestException($"{host}: No address record"));
            }

            address = resolved;
        }

        var loop = stack.Loop;
        var done = new TaskCompletionSource<Stream>(TaskCreationOptions.RunContinuationsAsynchronously);
        TcpSocket? socket = null;
        loop.PostFromAnyThread(_ =>
        {
            var s = stack.OpenTcp(address.IsIPv6);
            socket = s;
            s.Connected = c =>
            {
                c.Connected = null;
                c.Closed = null;
                done.TrySetResult(new TcpStream(c, loop));
            };
            s.Closed = (c, error) =>
            {
                c.Close();
                done.TrySetException(new SocketException((int)ToSocketError(error == Errno.None ? Errno.ECONNREFUSED : error), ErrnoText.Describe(error)));
            };
            var e = s.Connect(new InetEndpoint(address, port));
            if (e is Errno.EINPROGRESS)
            {
                return;
            }

            if (e == Errno.None || s.State == TcpState.Established)
            {
                s.Connected?.Invoke(s);
                return;
            }

            s.Close();
            done.TrySetException(new SocketException((int)ToSocketError(e), ErrnoText.Describe(e)));
        });

        if (cancel.CanBeCanceled)
        {
            var registration = cancel.Register(() => loop.PostFromAnyThread(_ =>
            {
                if (done.TrySetCanceled(cancel))
                {
                    socket?.Abort();
                }
            }));
            done.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        // Not an async method: the task completes on the loop itself, so a virtual loop driven with
        // RunUntil(() => task.IsCompleted) sees it at once (TcpStream's contract).
        return new ValueTask<Stream>(done.Task);
    }

    /// <summary>
    /// Virtual time: runs <paramref name="loop"/> on the calling thread until <paramref name="task"/> completes, letting other
    /// threads (an <see cref="HttpClient"/>'s continuations) post their work before virtual time moves on.
    /// </summary>
    /// <returns>Whether the task completed within <paramref name="virtualTimeout"/> ns of loop time and <paramref name="realTimeout"/>.</returns>
    /// <remarks>When the loop is idle it waits a few real milliseconds for the task or a post before it moves to the next timer
    /// (at most 10 ms of virtual time at once); with no timer pending it only waits (bounded by <paramref name="realTimeout"/>).</remarks>
    public static bool RunUntilCompleted(EventLoop loop, Task task, long virtualTimeout, TimeSpan realTimeout)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(task);
        if (!loop.Clock.IsVirtual)
        {
            return loop.RunUntil(() => task.IsCompleted, virtualTimeout, CancellationToken.None);
        }

        var limit = loop.Now + virtualTimeout;
        var watch = Stopwatch.StartNew();
        var idle = 0;
        while (!task.IsCompleted)
        {
            if (watch.Elapsed > realTimeout)
            {
                return false;
            }

            if (loop.RunPending() > 0)
            {
                idle = 0;
                continue;
            }

            // Nothing to do now: give the other threads a chance to post before time moves (a few short waits), and
            // never jump while no timer is pending: only another thread can then make progress.
            if (idle++ < 5 || loop.ScheduledTimers == 0)
            {
                ((IAsyncResult)task).AsyncWaitHandle.WaitOne(1); // clock-ok: lets thread-pool continuations post to the loop
                continue;
            }

            if (loop.Now >= limit)
            {
                return task.IsCompleted;
            }

            // Move on to the next timer, but at most MaxStep of virtual time: a post that comes late then costs little drift.
            idle = 0;
            var steps = 0;
            loop.RunUntil(() => task.IsCompleted || steps++ > 0, Math.Min(limit - loop.Now, MaxStep));
        }

        return true;
    }

    private static SocketError ToSocketError(Errno e) => e switch
    {
        Errno.ECONNREFUSED => SocketError.ConnectionRefused,
        Errno.ECONNRESET => SocketError.ConnectionReset,
        Errno.ETIMEDOUT => SocketError.TimedOut,
        Errno.EHOSTUNREACH => SocketError.HostUnreachable,
        Errno.ENETUNREACH => SocketError.NetworkUnreachable,
        Errno.EADDRINUSE => SocketError.AddressAlreadyInUse,
        Errno.EADDRNOTAVAIL => SocketError.AddressNotAvailable,
        Errno.ECONNABORTED => SocketError.ConnectionAborted,
        _ => SocketError.SocketError,
    };
}
