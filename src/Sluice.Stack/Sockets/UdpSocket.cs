using Sluice.Stack.Buffers;
using Sluice.Wire;

namespace Sluice.Stack.Sockets;

/// <summary>A queued datagram: the packet (trimmed to the payload), where it came from and where it was sent to.</summary>
internal readonly record struct QueuedDatagram(Packet Packet, InetEndpoint From, InetEndpoint To);

/// <summary>
/// A UDP socket (SOCK_DGRAM) of one stack: bind, connect, sendto, recvfrom, with FreeBSD's errors.
/// </summary>
/// <remarks>
/// Used on the event loop's thread. Received datagrams queue up to <see cref="ReceiveBufferSize"/> bytes; more are
/// dropped and counted in udps_fullsock. <see cref="DataAvailable"/> is invoked on the loop for each arrival.
/// </remarks>
public sealed class UdpSocket : IDisposable
{
    private readonly NetStack _stack;
    private readonly Queue<QueuedDatagram> _queue = new();
    private int _queuedBytes;

    internal UdpSocket(NetStack stack, bool ipv6)
    {
        _stack = stack;
        IsIPv6 = ipv6;
        ReceiveBufferSize = (int)stack.SysctlUdpRecvSpace.Value;
    }

    /// <summary>True for an AF_INET6 socket.</summary>
    public bool IsIPv6 { get; }

    /// <summary>Local address and port (port 0 until bound); getsockname, with the zone of a link-local address.</summary>
    public InetEndpoint LocalEndpoint { get; internal set; }

    /// <summary>The connected peer, if any (getpeername, with its zone).</summary>
    public InetEndpoint? RemoteEndpoint { get; private set; }

    /// <summary>True after <see cref="Bind"/> (explicit or implicit).</summary>
    public bool IsBound => LocalEndpoint.Port != 0;

    /// <summary>SO_RCVBUF.</summary>
    public int ReceiveBufferSize { get; set; }

    /// <summary>SO_BROADCAST.</summary>
    public bool Broadcast { get; set; }

    /// <summary>
    /// IP_BINDANY / IPV6_BINDANY: <see cref="Bind"/> accepts an address that is not the stack's, so a transparent
    /// proxy can answer from the original destination of a datagram that ipfw <c>fwd</c> delivered to it.
    /// </summary>
    public bool BindAny { get; set; }

    /// <summary>IP_TTL / IPV6_UNICAST_HOPS (-1 = default).</summary>
    public int Ttl { get; set; } = -1;

    /// <summary>Datagrams waiting to be read.</summary>
    public int Available => _queue.Count;

    /// <summary>The kernel tunnel that takes this socket's datagrams and ICMP errors (udp_set_kernel_tunneling), or null.</summary>
    internal IUdpTunnel? Tunnel { get; set; }

    /// <summary>Bytes waiting to be read.</summary>
    public int QueuedBytes => _queuedBytes;

    /// <summary>Asynchronous error (so_error) reported by ICMP for a connected socket.</summary>
    public Errno PendingError { get; internal set; }

    /// <summary>Called on the loop whenever a datagram is queued.</summary>
    public Action<UdpSocket>? DataAvailable { get; set; }

    /// <summary>True once closed.</summary>
    public bool IsClosed { get; private set; }

    /// <summary>bind(2). Port 0 picks an ephemeral port.</summary>
    public Errno Bind(InetAddress address, ushort port)
    {
        if (IsClosed)
        {
            return Errno.EBADF;
        }

        if (IsBound)
        {
            return Errno.EINVAL;
        }

        if (address.IsIPv6 != IsIPv6)
        {
            return Errno.EAFNOSUPPORT;
        }

        return _stack.UdpBind(this, address, port);
    }

    /// <summary>connect(2): fixes the peer; binds implicitly.</summary>
    public Errno Connect(InetEndpoint remote)
    {
        if (IsClosed)
        {
            return Errno.EBADF;
        }

        if (remote.Address.IsIPv6 != IsIPv6)
        {
            return Errno.EAFNOSUPPORT;
        }

        var zoneError = ScopeRemote(ref remote);
        if (zoneError != Errno.None)
        {
            return zoneError;
        }

        InetAddress? source = null;
        if (IsIPv6 && LocalEndpoint.Address.IsUnspecified)
        {
            // in6_pcbconnect → in6_pcbladdr: the source (and its zone) is chosen now; getsockname shows it.
            var error = _stack.SelectSource(remote.Address.V6, _stack.ZoneInterface(remote.Address), out var chosen);
            if (error != Errno.None)
            {
                return error;
            }

            source = chosen;
        }

        if (!IsBound)
        {
            var e = _stack.UdpBind(this, IsIPv6 ? IPv6Address.Any : IPv4Address.Any, 0);
            if (e != Errno.None)
            {
                return e;
            }
        }

        if (source is { } local)
        {
            LocalEndpoint = new InetEndpoint(local, LocalEndpoint.Port);
            if (remote.Address.ScopeId == 0 && remote.Address.V6.IsLinkLocal && local.ScopeId != 0)
            {
                remote = remote with { Address = InetAddress.Scoped(remote.Address.V6, local.ScopeId) }; // the zone the source picked
            }
        }

        RemoteEndpoint = remote;
        return Errno.None;
    }

    /// <summary>
    /// Checks the zone of a destination (EINVAL on a global address, ENXIO for an unknown interface); a zoneless
    /// link-local destination of a socket bound to a link-local address takes that address's zone.
    /// </summary>
    private Errno ScopeRemote(ref InetEndpoint remote)
    {
        if (!IsIPv6)
        {
            return Errno.None;
        }

        var error = _stack.CheckZone(remote.Address, out _);
        if (error != Errno.None)
        {
            return error;
        }

        if (remote.Address.ScopeId == 0 && remote.Address.V6.IsLinkLocal && LocalEndpoint.Address.ScopeId != 0)
        {
            remote = remote with { Address = InetAddress.Scoped(remote.Address.V6, LocalEndpoint.Address.ScopeId) };
        }

        return Errno.None;
    }

    /// <summary>send(2) on a connected socket.</summary>
    public Errno Send(ReadOnlySpan<byte> data) =>
        RemoteEndpoint is { } remote ? SendTo(data, remote) : Errno.EDESTADDRREQ;

    /// <summary>sendto(2): copies <paramref name="data"/> into a packet and sends it.</summary>
    public Errno SendTo(ReadOnlySpan<byte> data, InetEndpoint remote)
    {
        if (IsClosed)
        {
            return Errno.EBADF;
        }

        if (remote.Address.IsIPv6 != IsIPv6)
        {
            return Errno.EAFNOSUPPORT;
        }

        var zoneError = ScopeRemote(ref remote);
        if (zoneError != Errno.None)
        {
            return zoneError;
        }

        if (RemoteEndpoint is not null && remote != RemoteEndpoint)
        {
            return Errno.EISCONN;
        }

        if (data.Length > _stack.SysctlUdpMaxDgram.Value || data.Length + 8 + 40 > 65535)
        {
            return Errno.EMSGSIZE;
        }

        if (!IsBound)
        {
            var e = _stack.UdpBind(this, IsIPv6 ? IPv6Address.Any : IPv4Address.Any, 0);
            if (e != Errno.None)
            {
                return e;
            }
        }

        if (!IsIPv6 && (remote.Address.V4.IsBroadcast || _stack.IsDirectedBroadcast(remote.Address.V4)) && !Broadcast)
        {
            return Errno.EACCES;
        }

        return _stack.UdpOutput(this, data, remote);
    }

    /// <summary>recvfrom(2) without blocking: copies the next datagram into <paramref name="buffer"/> (truncating, as UDP does).</summary>
    public bool TryReceive(Span<byte> buffer, out int length, out InetEndpoint from) => TryReceive(buffer, out length, out from, out _);

    /// <summary>
    /// recvmsg(2) with IP_ORIGDSTADDR / IPV6_ORIGDSTADDR: like <see cref="TryReceive(Span{byte}, out int, out InetEndpoint)"/>,
    /// and <paramref name="originalDestination"/> is the address and port the datagram was sent to, which differ from
    /// <see cref="LocalEndpoint"/> when ipfw <c>fwd</c> delivered it here.
    /// </summary>
    public bool TryReceive(Span<byte> buffer, out int length, out InetEndpoint from, out InetEndpoint originalDestination)
    {
        if (!_queue.TryDequeue(out var d))
        {
            length = 0;
            from = default;
            originalDestination = default;
            return false;
        }

        originalDestination = d.To;

        var data = d.Packet.Data;
        _queuedBytes -= data.Length;
        length = Math.Min(buffer.Length, data.Length);
        data[..length].CopyTo(buffer);
        from = d.From;
        d.Packet.Release();
        return true;
    }

    /// <summary>Takes the next datagram as a packet (zero copy); the caller owns and must release it.</summary>
    public bool TryReceivePacket(out Packet packet, out InetEndpoint from)
    {
        if (!_queue.TryDequeue(out var d))
        {
            packet = null!;
            from = default;
            return false;
        }

        _queuedBytes -= d.Packet.Length;
        packet = d.Packet;
        from = d.From;
        return true;
    }

    internal bool Enqueue(Packet payload, InetEndpoint from, InetEndpoint to)
    {
        if (_queuedBytes + payload.Length > ReceiveBufferSize)
        {
            return false;
        }

        _queuedBytes += payload.Length;
        _queue.Enqueue(new QueuedDatagram(payload, from, to));
        DataAvailable?.Invoke(this);
        return true;
    }

    internal void SetRemoteError(Errno error)
    {
        if (RemoteEndpoint is not null)
        {
            PendingError = error;
        }
    }

    /// <summary>Closes the socket, releasing queued datagrams.</summary>
    public void Dispose()
    {
        if (IsClosed)
        {
            return;
        }

        IsClosed = true;
        _stack.UdpUnbind(this);
        while (_queue.TryDequeue(out var d))
        {
            d.Packet.Release();
        }

        _queuedBytes = 0;
    }
}
