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
/// stack's loop as a <see cref="ForeignOperation{T}"/>. Hosts must be numeric unless a <c>resolve</c> function is given.
/// <para>Real time: run the loop on its own thread (<see cref="EventLoop.Run"/>) and use the client anywhere.</para>
/// <para>Virtual time: start the request with <see cref="EventLoop.RunForeign{T}"/> and drive the loop on the test
/// thread with <see cref="EventLoop.RunUntilCompleted"/>, or run the loop on a dedicated thread with
/// <see cref="EventLoop.Run"/> and await the request anywhere. Either way virtual time waits for the client's code
/// between its operations, so virtual durations are the same on every run.</para>
/// </remarks>
public static class SluiceConnect
{
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
        TcpSocket? socket = null;
        var operation = loop.StartForeign<Stream>(op =>
        {
            var s = stack.OpenTcp(address.IsIPv6);
            socket = s;
            s.Connected = c =>
            {
                c.Connected = null;
                c.Closed = null;
                if (!op.TrySetResult(new TcpStream(c, loop)))
                {
                    c.Abort();
                }
            };
            s.Closed = (c, error) =>
            {
                c.Close();
                op.TrySetException(new SocketException((int)ToSocketError(error == Errno.None ? Errno.ECONNREFUSED : error), ErrnoText.Describe(error)));
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
            op.TrySetException(new SocketException((int)ToSocketError(e), ErrnoText.Describe(e)));
        });

        if (cancel.CanBeCanceled)
        {
            var registration = cancel.Register(() => loop.PostFromAnyThread(_ =>
            {
                if (operation.TrySetCanceled(cancel))
                {
                    socket?.Abort();
                }
            }));
            operation.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return new ValueTask<Stream>(operation.Task);
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
