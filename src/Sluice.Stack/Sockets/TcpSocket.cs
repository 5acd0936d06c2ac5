using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Sockets;

/// <summary>
/// A TCP socket (SOCK_STREAM) of one stack with the BSD calls: bind, listen, accept, connect (non-blocking),
/// send, recv, shutdown, close, setsockopt/getsockopt; errors are <see cref="Errno"/> values.
/// </summary>
/// <remarks>
/// Used on the event loop's thread (see <see cref="TcpStream"/> for other threads). Calls never block: connect
/// returns <see cref="Errno.EINPROGRESS"/> and completes through <see cref="Connected"/>; send and receive return
/// <see cref="Errno.EAGAIN"/> when the buffer is full or empty and <see cref="Writable"/>/<see cref="Readable"/>
/// fire when that changes. Callbacks run on the loop.
/// </remarks>
public sealed class TcpSocket : IDisposable
{
    private readonly TcpStack _tcp;
    private readonly Queue<TcpSocket> _acceptQueue = new();
    private TcpControlBlock? _tcb;
    private TcpSocket? _listener;
    private bool _bound;
    private bool _readShutdown;
    private bool _writeShutdown;
    private bool _connectedNotified;
    private Errno _error;
    private bool _connectionGone;
    private ITcpFunctionBlock? _fb;
    private string? _cc;
    private int _sndBuf, _rcvBuf;
    private bool _sndAutoSize = true, _rcvAutoSize = true; // SB_AUTOSIZE, until SO_SNDBUF/SO_RCVBUF
    private bool _noDelay, _noOpt, _keepAlive, _signature, _oobInline;
    private int _maxSeg;
    private long _keepIdle, _keepIntvl, _keepInit;
    private int _keepCnt;
    private int _linger = -1;
    private bool _fastOpen, _fastOpenServer, _queuedAtSyn;
    private ushort _udpPort;
    private byte _ipTos;
    private int _ipTtl = -1;

    internal TcpSocket(TcpStack tcp, bool ipv6)
    {
        _tcp = tcp;
        IsIPv6 = ipv6;
        _sndBuf = (int)tcp.SysctlSendSpace.Value;
        _rcvBuf = (int)tcp.SysctlRecvSpace.Value;
        _keepIdle = tcp.SysctlKeepIdle.Value * Nanos.PerMillisecond;
        _keepIntvl = tcp.SysctlKeepIntvl.Value * Nanos.PerMillisecond;
        _keepInit = tcp.SysctlKeepInit.Value * Nanos.PerMillisecond;
        _keepCnt = (int)tcp.SysctlKeepCnt.Value;
    }

    /// <summary>True for an AF_INET6 socket.</summary>
    public bool IsIPv6 { get; }

    /// <summary>Local address and port.</summary>
    public InetEndpoint LocalEndpoint { get; internal set; }

    /// <summary>The peer, once connecting or accepted.</summary>
    public InetEndpoint? RemoteEndpoint => _tcb?.RemoteEndpoint;

    /// <summary>The connection's state (LISTEN for a listener, CLOSED before connect or after the end).</summary>
    public TcpState State => IsListening ? TcpState.Listen : _tcb?.State ?? TcpState.Closed;

    /// <summary>The control block (null before connect and for listeners).</summary>
    public TcpControlBlock? ControlBlock => _tcb;

    /// <summary>True after <see cref="Listen"/>.</summary>
    public bool IsListening { get; private set; }

    /// <summary>listen(2) backlog.</summary>
    public int Backlog { get; private set; }

    /// <summary>Established connections waiting in <see cref="TryAccept"/>'s queue.</summary>
    public int PendingAccepts => _acceptQueue.Count;

    /// <summary>True once <see cref="Close"/> was called.</summary>
    public bool IsFullyClosed { get; private set; }

    /// <summary>Called on the loop when data (or end of stream, or a pending connection) can be read/accepted.</summary>
    public Action<TcpSocket>? Readable { get; set; }

    /// <summary>Called on the loop when send buffer space was freed.</summary>
    public Action<TcpSocket>? Writable { get; set; }

    /// <summary>Called on the loop when the peer's urgent pointer moved ahead (sohasoutofband: SIGURG, POLLPRI).</summary>
    public Action<TcpSocket>? Urgent { get; set; }

    /// <summary>SIOCATMARK: the next byte to read is the one at the urgent mark (SBS_RCVATMARK).</summary>
    public bool AtMark => _tcb is { AtMark: true };

    /// <summary>Called on the loop when a connect completes (the handshake finished).</summary>
    public Action<TcpSocket>? Connected { get; set; }

    /// <summary>Called on the loop when the connection ends; the argument carries the reason (None for an orderly end).</summary>
    public Action<TcpSocket, Errno>? Closed { get; set; }

    /// <summary>so_error: the error that ended or failed the connection.</summary>
    public Errno Error => _error;

    /// <summary>A soft error reported by ICMP (reported if the connection then times out).</summary>
    public Errno SoftError { get; private set; }

    /// <summary>Bytes readable now.</summary>
    public int Available => _tcb?.RecvBuffer.Count ?? 0;

    /// <summary>Free space in the send buffer.</summary>
    public int SendSpace => _tcb?.SendBuffer.Free ?? _sndBuf;

    /// <summary>True when the peer's FIN was received (reads return 0 after the buffer drains).</summary>
    public bool PeerClosed => _tcb is not null && _tcb.Has(TcbFlags.RcvdFin);

    /// <summary>SO_RCVBUF.</summary>
    public int ReceiveBufferSize => _tcb?.RecvBuffer.Capacity ?? _rcvBuf;

    /// <summary>SO_REUSEADDR.</summary>
    public bool ReuseAddress { get; private set; }

    internal bool ReuseAddressCompatible => !IsListening;

    internal int Incomplete { get; set; }

    /// <summary>A listener that set TCP_FASTOPEN while listening (FreeBSD allocates t_tfo_pending only then).</summary>
    internal bool IsFastOpenListener => IsListening && _fastOpenServer;

    /// <summary>The function block this socket uses (TCP_FUNCTION_BLK).</summary>
    public string FunctionBlockName => (_tcb?.FunctionBlock ?? _fb ?? _tcp.DefaultFunctionBlock).Name;

    /// <summary>The congestion-control module (TCP_CONGESTION).</summary>
    public string CongestionControlName => _tcb?.CongestionControl.Name ?? _cc ?? _tcp.DefaultCongestionControl;

    internal ITcpFunctionBlock? FunctionBlockForChildren => _fb;

    internal string? CongestionControlNameForChildren => _cc;

    internal Errno SetSoftError(Errno e) => SoftError = e;

    // ---------------------------------------------------------------- bind, listen, accept, connect

    /// <summary>bind(2). Port 0 picks an ephemeral port.</summary>
    public Errno Bind(InetAddress address, ushort port)
    {
        if (IsFullyClosed)
        {
            return Errno.EBADF;
        }

        if (_bound || _tcb is not null)
        {
            return Errno.EINVAL;
        }

        if (address.IsIPv6 != IsIPv6)
        {
            return Errno.EAFNOSUPPORT;
        }

        var e = _tcp.Bind(this, address, port);
        _bound = e == Errno.None;
        return e;
    }

    /// <summary>listen(2): accepts connections; at most <paramref name="backlog"/> wait (more are answered with SYN cookies).</summary>
    public Errno Listen(int backlog)
    {
        if (IsFullyClosed)
        {
            return Errno.EBADF;
        }

        if (_tcb is not null)
        {
            return Errno.EINVAL;
        }

        if (!_bound)
        {
            var e = Bind(IsIPv6 ? IPv6Address.Any : IPv4Address.Any, 0);
            if (e != Errno.None)
            {
                return e;
            }
        }

        Backlog = Math.Max(backlog, 0);
        IsListening = true;
        return Errno.None;
    }

    /// <summary>accept(2) without blocking: the next established connection, or EAGAIN.</summary>
    public Errno TryAccept(out TcpSocket? socket)
    {
        socket = null;
        if (!IsListening)
        {
            return Errno.EINVAL;
        }

        if (!_acceptQueue.TryDequeue(out var s))
        {
            return Errno.EAGAIN;
        }

        s._listener = null;
        socket = s;
        return Errno.None;
    }

    /// <summary>connect(2), non-blocking: starts the handshake and returns EINPROGRESS; <see cref="Connected"/> or <see cref="Closed"/> follows.</summary>
    public Errno Connect(InetEndpoint remote) => Open(remote, default, impliedConnect: false, out _);

    private Errno Open(InetEndpoint remote, ReadOnlySpan<byte> firstData, bool impliedConnect, out int queued)
    {
        queued = 0;
        if (IsFullyClosed)
        {
            return Errno.EBADF;
        }

        if (IsListening)
        {
            return Errno.EOPNOTSUPP;
        }

        if (_tcb is not null)
        {
            return _tcb.State == TcpState.SynSent ? Errno.EALREADY : Errno.EISCONN;
        }

        if (remote.Address.IsIPv6 != IsIPv6)
        {
            return Errno.EAFNOSUPPORT;
        }

        if (remote.Port == 0 || remote.Address.IsUnspecified)
        {
            return Errno.EADDRNOTAVAIL;
        }

        var zoneError = _tcp.Net.CheckZone(remote.Address, out var zone);
        if (zoneError != Errno.None)
        {
            return zoneError;
        }

        if (zone is null && IsIPv6 && remote.Address.V6.IsLinkLocal && LocalEndpoint.Address.ScopeId != 0)
        {
            // Bound to a link-local address: a zoneless link-local peer is in that zone.
            remote = remote with { Address = InetAddress.Scoped(remote.Address.V6, LocalEndpoint.Address.ScopeId) };
            zone = _tcp.Net.ZoneInterface(remote.Address);
        }

        if (!_bound)
        {
            var e = Bind(IsIPv6 ? IPv6Address.Any : IPv4Address.Any, 0);
            if (e != Errno.None)
            {
                return e;
            }
        }

        var local = LocalEndpoint.Address;
        if (local.IsUnspecified)
        {
            if (IsIPv6)
            {
                var error = _tcp.Net.SelectSource(remote.Address.V6, zone, out local);
                if (error != Errno.None)
                {
                    return error;
                }
            }
            else
            {
                if (_tcp.Net.SourceFor(remote.Address.V4) is not { } v4)
                {
                    return Errno.ENETUNREACH;
                }

                local = v4;
            }
        }

        if (IsIPv6 && remote.Address.ScopeId == 0 && remote.Address.V6.IsLinkLocal && local.ScopeId != 0)
        {
            remote = remote with { Address = InetAddress.Scoped(remote.Address.V6, local.ScopeId) }; // the zone the source picked
        }

        var key = new TcpConnectionKey(local, LocalEndpoint.Port, remote.Address, remote.Port);
        if (_tcp.TryGetConnection(key, out _))
        {
            return Errno.EADDRINUSE;
        }

        // in_pcbconnect: the source address chosen for the peer becomes the socket's (getsockname(2) shows it).
        LocalEndpoint = new InetEndpoint(local, LocalEndpoint.Port);

        var fb = _fb ?? _tcp.DefaultFunctionBlock;
        var cc = _tcp.CreateCongestionControl(_cc ?? _tcp.DefaultCongestionControl) ?? new NewRenoCongestionControl();
        var tcb = new TcpControlBlock(_tcp, fb, cc, IsIPv6) { Key = key, Socket = this, UdpPort = _udpPort };
        CopyOptionsTo(tcb);
        _tcb = tcb;
        _tcp.AddConnection(tcb);
        fb.Init(tcb);
        if (impliedConnect)
        {
            // tcp_usr_send: the data is queued before the implied connect (tcp_fastopen_connect), so a TFO SYN can carry it.
            tcb.FastOpen |= (tcb.FastOpen & FastOpenFlags.Enabled) != 0 ? FastOpenFlags.ImpliedConnect : FastOpenFlags.None;
            queued = tcb.SendBuffer.Write(firstData);
        }

        fb.Connect(tcb);
        return _tcb.State == TcpState.Closed ? (_error != Errno.None ? _error : Errno.ECONNREFUSED) : Errno.EINPROGRESS;
    }

    /// <summary>
    /// sendto(2) on a socket not yet connected: with TCP_FASTOPEN set this is TFO's implied connect (RFC 7413): the
    /// data is queued and, when the destination's cookie is cached, sent with the SYN; otherwise the SYN asks for a
    /// cookie and the data follows the handshake. Without TCP_FASTOPEN, ENOTCONN. On a connected socket, send(2).
    /// </summary>
    public Errno SendTo(ReadOnlySpan<byte> data, InetEndpoint remote, out int sent)
    {
        sent = 0;
        if (_tcb is not null || IsListening || IsFullyClosed)
        {
            return Send(data, out sent);
        }

        if (!_fastOpen)
        {
            return Errno.ENOTCONN;
        }

        var e = Open(remote, data, impliedConnect: true, out sent);
        return e == Errno.EINPROGRESS ? Errno.None : e;
    }

    internal static TcpSocket CreateChild(TcpStack tcp, TcpSocket listener, TcpControlBlock tcb)
    {
        var s = new TcpSocket(tcp, listener.IsIPv6)
        {
            _tcb = tcb,
            _listener = listener,
            _fb = listener._fb,
            _cc = listener._cc,
            LocalEndpoint = tcb.LocalEndpoint,
            _sndBuf = listener._sndBuf,
            _rcvBuf = listener._rcvBuf,
            _sndAutoSize = listener._sndAutoSize,
            _rcvAutoSize = listener._rcvAutoSize,
            _noDelay = listener._noDelay,
            _noOpt = listener._noOpt,
            _signature = listener._signature,
            _oobInline = listener._oobInline,
            _keepAlive = listener._keepAlive,
            _maxSeg = listener._maxSeg,
            _keepIdle = listener._keepIdle,
            _keepIntvl = listener._keepIntvl,
            _keepInit = listener._keepInit,
            _ipTos = listener._ipTos,
            _ipTtl = listener._ipTtl,
            _keepCnt = listener._keepCnt,
            _linger = listener._linger,
        };
        return s;
    }

    /// <summary>True when TCP_MD5SIG is set (the listener's children inherit it).</summary>
    internal bool SignatureEnabled => _signature;

    internal void CopyOptionsTo(TcpControlBlock tcb)
    {
        tcb.SendBuffer.Resize(_sndBuf);
        tcb.RecvBuffer.Resize(_rcvBuf);
        tcb.SendAutoSize = _sndAutoSize; // sonewconn: a listener's children inherit its SB_AUTOSIZE
        tcb.RecvAutoSize = _rcvAutoSize;
        tcb.Flags |= (_noDelay ? TcbFlags.NoDelay : 0) | (_noOpt ? TcbFlags.NoOpt : 0) | (_keepAlive ? TcbFlags.KeepAlive : 0) | (_signature ? TcbFlags.Signature : 0);
        tcb.UserMaxSeg = _maxSeg;
        tcb.OutOfBandInline = _oobInline;
        tcb.KeepIdle = _keepIdle;
        tcb.KeepIntvl = _keepIntvl;
        tcb.KeepInit = _keepInit;
        tcb.KeepCnt = _keepCnt;
        if (_fastOpen && !IsListening)
        {
            tcb.FastOpen = FastOpenFlags.Enabled;
        }
        tcb.IpTos = _ipTos;
        tcb.IpTtl = _ipTtl;
    }

    // ---------------------------------------------------------------- data

    /// <summary>send(2): copies as much of <paramref name="data"/> as the send buffer takes into <paramref name="sent"/>; EAGAIN when full.</summary>
    public Errno Send(ReadOnlySpan<byte> data, out int sent) => Send(data, TcpMessageFlags.None, out sent);

    /// <summary>
    /// send(2) with flags: <see cref="TcpMessageFlags.OutOfBand"/> makes the data urgent — SND.UP moves past it (BSD's
    /// pointer to the byte after the urgent one, tcp_usr_send PRUS_OOB) and it is pushed out at once (TF_FORCEDATA).
    /// </summary>
    public Errno Send(ReadOnlySpan<byte> data, TcpMessageFlags flags, out int sent)
    {
        sent = 0;
        if (IsFullyClosed)
        {
            return Errno.EBADF;
        }

        if (_tcb is null || IsListening)
        {
            return Errno.ENOTCONN;
        }

        if (_error != Errno.None && _connectionGone)
        {
            return _error;
        }

        if (_writeShutdown || _connectionGone || _tcb.State is TcpState.FinWait1 or TcpState.FinWait2 or TcpState.Closing or TcpState.LastAck or TcpState.TimeWait or TcpState.Closed)
        {
            return Errno.EPIPE;
        }

        if (_tcb.State is TcpState.SynSent or TcpState.SynReceived)
        {
            return Errno.EAGAIN;
        }

        if (data.IsEmpty)
        {
            return Errno.None;
        }

        sent = _tcb.SendBuffer.Write(data);
        if (sent == 0)
        {
            return Errno.EAGAIN;
        }

        if ((flags & TcpMessageFlags.OutOfBand) != 0)
        {
            var tcb = _tcb;
            tcb.SndUp = tcb.SndBufSeq + (uint)tcb.SendBuffer.Count;
            tcb.Flags |= TcbFlags.ForceData;
            tcb.FunctionBlock.Output(tcb);
            tcb.Flags &= ~TcbFlags.ForceData;
            return Errno.None;
        }

        _tcb.FunctionBlock.Output(_tcb);
        return Errno.None;
    }

    /// <summary>Convenience send: bytes accepted, or a negative <see cref="Errno"/> value.</summary>
    public int Send(ReadOnlySpan<byte> data)
    {
        var e = Send(data, out var sent);
        return e == Errno.None ? sent : -(int)e;
    }

    /// <summary>recv(2): copies available bytes; <paramref name="received"/> 0 with None is end of stream; EAGAIN when nothing is ready.</summary>
    public Errno Receive(Span<byte> buffer, out int received) => Receive(buffer, TcpMessageFlags.None, out received);

    /// <summary>
    /// recv(2) with flags. A read never crosses the urgent mark (soreceive_generic stops there and sets
    /// <see cref="AtMark"/>); <see cref="TcpMessageFlags.OutOfBand"/> reads the urgent byte pulled out of the stream;
    /// <see cref="TcpMessageFlags.Peek"/> leaves the data in place.
    /// </summary>
    public Errno Receive(Span<byte> buffer, TcpMessageFlags flags, out int received)
    {
        received = 0;
        if (IsFullyClosed)
        {
            return Errno.EBADF;
        }

        var peek = (flags & TcpMessageFlags.Peek) != 0;
        if ((flags & TcpMessageFlags.OutOfBand) != 0)
        {
            return ReceiveOutOfBand(buffer, peek, out received);
        }

        if (_tcb is null || IsListening)
        {
            return Errno.ENOTCONN;
        }

        var tcb = _tcb;
        if (tcb.RecvBuffer.Count > 0 && !_readShutdown)
        {
            var want = Math.Min(buffer.Length, tcb.RecvBuffer.Count);
            var mark = tcb.OutOfBandMark;
            if (mark > 0 && want > mark)
            {
                want = mark;
            }

            if (peek)
            {
                tcb.RecvBuffer.CopyOut(0, buffer[..want]);
                received = want;
                return Errno.None;
            }

            if (want > 0)
            {
                tcb.AtMark = false;
            }

            received = tcb.RecvBuffer.Read(buffer[..want]);
            if (mark > 0)
            {
                tcb.OutOfBandMark -= received;
                if (tcb.OutOfBandMark == 0)
                {
                    tcb.AtMark = true;
                }
            }

            if (!_connectionGone)
            {
                tcb.FunctionBlock.UserReceived(tcb);
            }

            return Errno.None;
        }

        if (_readShutdown || _tcb.Has(TcbFlags.RcvdFin))
        {
            return Errno.None;
        }

        if (_connectionGone)
        {
            return _error;
        }

        return Errno.EAGAIN;
    }

    /// <summary>
    /// recv(MSG_OOB), soreceive_rcvoob and tcp_usr_rcvoob: the urgent byte, once. EINVAL without a mark, with
    /// SO_OOBINLINE or when the byte was already read; EAGAIN (EWOULDBLOCK) while the mark is known but the byte has
    /// not arrived; ECONNRESET once the connection is gone. Never blocks.
    /// </summary>
    private Errno ReceiveOutOfBand(Span<byte> buffer, bool peek, out int received)
    {
        received = 0;
        if (_tcb is null || IsListening)
        {
            return Errno.EINVAL;
        }

        if (_connectionGone)
        {
            return Errno.ECONNRESET; // INP_DROPPED
        }

        var tcb = _tcb;
        if ((tcb.OutOfBandMark == 0 && !tcb.AtMark) || tcb.OutOfBandInline || (tcb.OutOfBand & OutOfBandFlags.HadData) != 0)
        {
            return Errno.EINVAL;
        }

        if ((tcb.OutOfBand & OutOfBandFlags.HaveData) == 0)
        {
            return Errno.EAGAIN;
        }

        if (!buffer.IsEmpty)
        {
            buffer[0] = tcb.OutOfBandByte;
            received = 1;
        }

        if (!peek)
        {
            tcb.OutOfBand ^= OutOfBandFlags.HaveData | OutOfBandFlags.HadData;
        }

        return Errno.None;
    }

    /// <summary>Convenience receive: bytes read (0 = end of stream), or a negative <see cref="Errno"/> value.</summary>
    public int Receive(Span<byte> buffer)
    {
        var e = Receive(buffer, out var n);
        return e == Errno.None ? n : -(int)e;
    }

    /// <summary>shutdown(2).</summary>
    public Errno Shutdown(TcpShutdown how)
    {
        if (_tcb is null)
        {
            return Errno.ENOTCONN;
        }

        if (how is TcpShutdown.Read or TcpShutdown.Both)
        {
            _readShutdown = true;
            _tcb.RecvBuffer.Clear();
        }

        if (how is TcpShutdown.Write or TcpShutdown.Both && !_writeShutdown)
        {
            _writeShutdown = true;
            if (!_connectionGone)
            {
                _tcb.FunctionBlock.UserClose(_tcb);
            }
        }

        return Errno.None;
    }

    /// <summary>close(2): orderly release (FIN after queued data), or RST with SO_LINGER 0. Listeners reset their queued connections.</summary>
    public void Close()
    {
        if (IsFullyClosed)
        {
            return;
        }

        IsFullyClosed = true;
        if (IsListening)
        {
            IsListening = false;
            while (_acceptQueue.TryDequeue(out var child))
            {
                child.Abort();
            }

            _tcp.Unbind(this);
            return;
        }

        if (_tcb is null || _connectionGone)
        {
            ReleasePort();
            return;
        }

        var tcb = _tcb;
        if (_linger == 0)
        {
            tcb.FunctionBlock.Drop(tcb, Errno.ECONNABORTED);
            return;
        }

        if (!_writeShutdown)
        {
            _writeShutdown = true;
            tcb.FunctionBlock.UserClose(tcb);
        }

        if (tcb.State == TcpState.FinWait2)
        {
            _tcp.Net.Loop.ScheduleAfter(tcb.TwoMslTimer, _tcp.SysctlFinWait2Timeout.Value * Nanos.PerMillisecond);
        }
    }

    /// <summary>Aborts the connection with RST (close with SO_LINGER 0).</summary>
    public void Abort()
    {
        _linger = 0;
        IsFullyClosed = false;
        Close();
    }

    /// <inheritdoc />
    public void Dispose() => Close();

    // ---------------------------------------------------------------- options

    /// <summary>setsockopt(2) for integer options.</summary>
    public Errno SetOption(TcpSocketOption option, int value)
    {
        if (IsFullyClosed)
        {
            return Errno.EBADF;
        }

        switch (option)
        {
            case TcpSocketOption.SO_RCVBUF:
                if (value <= 0)
                {
                    return Errno.EINVAL;
                }

                if (value > _tcp.MaxSocketBufferReserve)
                {
                    return Errno.ENOBUFS; // sbreserve_locked: above sb_max_adj
                }

                // sbsetopt: an explicit size ends autotuning of this buffer.
                _rcvBuf = value;
                _rcvAutoSize = false;
                if (_tcb is not null)
                {
                    _tcb.RecvAutoSize = false;
                    _tcb.RecvBuffer.Resize(value, (int)(_tcb.Reass.Count > 0 ? _tcb.Reass.End(_tcb.Reass.Count - 1) - _tcb.RcvNxt : 0));
                }

                return Errno.None;
            case TcpSocketOption.SO_SNDBUF:
                if (value <= 0)
                {
                    return Errno.EINVAL;
                }

                if (value > _tcp.MaxSocketBufferReserve)
                {
                    return Errno.ENOBUFS; // sbreserve_locked: above sb_max_adj
                }

                _sndBuf = value;
                _sndAutoSize = false;
                if (_tcb is not null)
                {
                    _tcb.SendAutoSize = false;
                    _tcb.SendBuffer.Resize(value);
                }

                return Errno.None;
            case TcpSocketOption.SO_LINGER:
                _linger = value < 0 ? -1 : value;
                return Errno.None;
            case TcpSocketOption.SO_KEEPALIVE:
                _keepAlive = value != 0;
                if (_tcb is not null)
                {
                    _tcb.Flags = _keepAlive ? _tcb.Flags | TcbFlags.KeepAlive : _tcb.Flags & ~TcbFlags.KeepAlive;
                    if (_keepAlive && _tcb.State is TcpState.Established or TcpState.CloseWait)
                    {
                        _tcp.Net.Loop.ScheduleAfter(_tcb.KeepTimer, _tcb.KeepIdle);
                    }
                }

                return Errno.None;
            case TcpSocketOption.SO_REUSEADDR:
                ReuseAddress = value != 0;
                return Errno.None;
            case TcpSocketOption.SO_OOBINLINE:
                _oobInline = value != 0;
                if (_tcb is not null)
                {
                    _tcb.OutOfBandInline = _oobInline;
                }

                return Errno.None;
            case TcpSocketOption.TCP_NODELAY:
                _noDelay = value != 0;
                if (_tcb is not null)
                {
                    _tcb.Flags = _noDelay ? _tcb.Flags | TcbFlags.NoDelay : _tcb.Flags & ~TcbFlags.NoDelay;
                    if (_noDelay && !_connectionGone)
                    {
                        _tcb.FunctionBlock.Output(_tcb);
                    }
                }

                return Errno.None;
            case TcpSocketOption.TCP_MAXSEG:
                if (value is < 64 or > 65535)
                {
                    return Errno.EINVAL;
                }

                _maxSeg = value;
                if (_tcb is not null)
                {
                    _tcb.UserMaxSeg = value;
                    if (_tcb.State >= TcpState.Established)
                    {
                        _tcb.Mss = Math.Min(_tcb.Mss, value);
                    }
                }

                return Errno.None;
            case TcpSocketOption.TCP_NOOPT:
                _noOpt = value != 0;
                if (_tcb is not null && _tcb.State == TcpState.Closed)
                {
                    _tcb.Flags |= TcbFlags.NoOpt;
                }

                return Errno.None;
            case TcpSocketOption.TCP_FASTOPEN:
                // tcp_ctloutput TCP_FASTOPEN: needs TFO enabled; only before connect or on a listener, and a listener
                // only with net.inet.tcp.fastopen.server_enable (set after listen(2) to serve TFO).
                if (_tcp.FastOpen.ClientEnable.Value == 0 && _tcp.FastOpen.ServerEnable.Value == 0)
                {
                    return Errno.EPERM;
                }

                if (_tcb is not null)
                {
                    return Errno.EINVAL;
                }

                if (value != 0 && IsListening && _tcp.FastOpen.ServerEnable.Value == 0)
                {
                    return Errno.EPERM;
                }

                _fastOpen = value != 0;
                _fastOpenServer = _fastOpen && (IsListening || _fastOpenServer);
                return Errno.None;
            case TcpSocketOption.TCP_KEEPIDLE:
            case TcpSocketOption.TCP_KEEPINTVL:
            case TcpSocketOption.TCP_KEEPINIT:
                if (value <= 0)
                {
                    return Errno.EINVAL;
                }

                var ns = value * Nanos.PerSecond;
                if (option == TcpSocketOption.TCP_KEEPIDLE)
                {
                    _keepIdle = ns;
                }
                else if (option == TcpSocketOption.TCP_KEEPINTVL)
                {
                    _keepIntvl = ns;
                }
                else
                {
                    _keepInit = ns;
                }

                if (_tcb is not null)
                {
                    CopyKeepTo(_tcb);
                }

                return Errno.None;
            case TcpSocketOption.TCP_MD5SIG:
                // tcp_ipsec_pcbctl: a flag on the connection; the keys come from the SAD when a segment is signed.
                _signature = value > 0;
                if (_tcb is not null)
                {
                    _tcb.Flags = _signature ? _tcb.Flags | TcbFlags.Signature : _tcb.Flags & ~TcbFlags.Signature;
                }

                return Errno.None;
            case TcpSocketOption.TCP_KEEPCNT:
                if (value <= 0)
                {
                    return Errno.EINVAL;
                }

                _keepCnt = value;
                if (_tcb is not null)
                {
                    _tcb.KeepCnt = value;
                }

                return Errno.None;
            case TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT:
                // tcp_default_ctloutput: a port in range, a tunneling port configured, and the connection still closed.
                if (value is < 0 or > 65535 || (value != 0 && _tcp.SysctlUdpTunnelingPort.Value == 0))
                {
                    return Errno.EINVAL;
                }

                if (_tcb is not null && _tcb.State != TcpState.Closed || IsListening)
                {
                    return Errno.EINVAL;
                }

                _udpPort = (ushort)value;
                return Errno.None;
            case TcpSocketOption.IP_TOS:
            case TcpSocketOption.IP_TTL:
                if (IsIPv6)
                {
                    return Errno.EINVAL; // ip6_ctloutput takes only IPPROTO_IPV6
                }

                // ip_ctloutput stores both in a u_char (inp_ip_tos, inp_ip_ttl).
                if (option == TcpSocketOption.IP_TOS)
                {
                    _ipTos = (byte)value;
                }
                else
                {
                    _ipTtl = (byte)value;
                }

                ApplyIpOptions();
                return Errno.None;
            case TcpSocketOption.IPV6_TCLASS:
            case TcpSocketOption.IPV6_UNICAST_HOPS:
                if (!IsIPv6)
                {
                    return Errno.EINVAL; // ip_ctloutput takes only IPPROTO_IP
                }

                // ip6_setpktopt / ip6_ctloutput: -1 restores the default, anything else must fit a byte.
                if (value is < -1 or > 255)
                {
                    return Errno.EINVAL;
                }

                if (option == TcpSocketOption.IPV6_TCLASS)
                {
                    _ipTos = (byte)Math.Max(value, 0);
                }
                else
                {
                    _ipTtl = value;
                }

                ApplyIpOptions();
                return Errno.None;
            default:
                return Errno.ENOPROTOOPT;
        }
    }

    private void ApplyIpOptions()
    {
        if (_tcb is not null)
        {
            _tcb.IpTos = _ipTos;
            _tcb.IpTtl = _ipTtl;
        }
    }

    private void CopyKeepTo(TcpControlBlock tcb)
    {
        tcb.KeepIdle = _keepIdle;
        tcb.KeepIntvl = _keepIntvl;
        tcb.KeepInit = _keepInit;
    }

    /// <summary>getsockopt(2) for integer options.</summary>
    public Errno GetOption(TcpSocketOption option, out int value)
    {
        value = option switch
        {
            TcpSocketOption.SO_RCVBUF => ReceiveBufferSize,
            TcpSocketOption.SO_SNDBUF => _tcb?.SendBuffer.Capacity ?? _sndBuf,
            TcpSocketOption.SO_LINGER => _linger,
            TcpSocketOption.SO_KEEPALIVE => _keepAlive ? 1 : 0,
            TcpSocketOption.SO_REUSEADDR => ReuseAddress ? 1 : 0,
            TcpSocketOption.SO_OOBINLINE => _oobInline ? 1 : 0,
            TcpSocketOption.TCP_NODELAY => _noDelay ? 1 : 0,
            TcpSocketOption.TCP_MAXSEG => _tcb is { State: >= TcpState.Established } ? _tcb.Mss : _maxSeg != 0 ? _maxSeg : (int)_tcp.DefaultMss(IsIPv6),
            TcpSocketOption.TCP_NOOPT => _noOpt ? 1 : 0,
            TcpSocketOption.TCP_MD5SIG => _signature ? 1 : 0,
            TcpSocketOption.TCP_KEEPIDLE => (int)(_keepIdle / Nanos.PerSecond),
            TcpSocketOption.TCP_KEEPINTVL => (int)(_keepIntvl / Nanos.PerSecond),
            TcpSocketOption.TCP_KEEPINIT => (int)(_keepInit / Nanos.PerSecond),
            TcpSocketOption.TCP_KEEPCNT => _keepCnt,
            TcpSocketOption.TCP_FASTOPEN => _fastOpen ? 1 : 0,
            TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT => _tcb?.UdpPort ?? _udpPort,
            TcpSocketOption.IP_TOS when !IsIPv6 => _ipTos,
            TcpSocketOption.IP_TTL when !IsIPv6 => _ipTtl >= 0 ? _ipTtl : (int)_tcp.Net.SysctlIpTtl.Value,
            TcpSocketOption.IPV6_TCLASS when IsIPv6 => _ipTos,
            TcpSocketOption.IPV6_UNICAST_HOPS when IsIPv6 => _ipTtl >= 0 ? _ipTtl : (int)_tcp.Net.SysctlIp6HopLimit.Value,
            TcpSocketOption.IP_TOS or TcpSocketOption.IP_TTL or TcpSocketOption.IPV6_TCLASS or TcpSocketOption.IPV6_UNICAST_HOPS => int.MaxValue,
            _ => int.MinValue,
        };
        if (value == int.MaxValue)
        {
            value = 0;
            return Errno.EINVAL; // an option of the other address family
        }

        return value == int.MinValue ? Errno.ENOPROTOOPT : Errno.None;
    }

    /// <summary>TCP_FUNCTION_BLK: switches this socket to the stack <paramref name="name"/> (before connect, or when the block allows the hand-off).</summary>
    public Errno SetFunctionBlock(string name)
    {
        var fb = _tcp.FindFunctionBlock(name);
        if (fb is null)
        {
            return Errno.ENOENT;
        }

        if (_tcb is null || _connectionGone)
        {
            _fb = fb;
            return Errno.None;
        }

        if (ReferenceEquals(_tcb.FunctionBlock, fb))
        {
            return Errno.None;
        }

        if (!fb.HandoffOk(_tcb))
        {
            return Errno.EINVAL;
        }

        _tcb.FunctionBlock.Fini(_tcb);
        _tcb.FunctionBlock = fb;
        fb.Init(_tcb);
        _fb = fb;
        return Errno.None;
    }

    /// <summary>TCP_CONGESTION: selects the congestion-control module by name.</summary>
    public Errno SetCongestionControl(string name)
    {
        var cc = _tcp.CreateCongestionControl(name);
        if (cc is null)
        {
            return Errno.ENOENT;
        }

        _cc = name;
        if (_tcb is not null && !_connectionGone)
        {
            _tcb.CongestionControl = cc;
            cc.ConnectionInit(_tcb);
        }

        return Errno.None;
    }

    /// <summary>TCP_INFO.</summary>
    public TcpInfo GetInfo()
    {
        var info = default(TcpInfo);
        var tcb = _tcb;
        info.tcpi_state = (byte)State;
        if (tcb is null)
        {
            return info;
        }

        info.tcpi_options = (tcb.TimestampsEnabled ? TcpInfoOptions.TCPI_OPT_TIMESTAMPS : 0)
            | (tcb.SackEnabled ? TcpInfoOptions.TCPI_OPT_SACK : 0)
            | (tcb.Has(TcbFlags.RcvdScale) && tcb.Has(TcbFlags.ReqScale) ? TcpInfoOptions.TCPI_OPT_WSCALE : 0)
            | (tcb.Has(TcbFlags.EcnPermit) ? TcpInfoOptions.TCPI_OPT_ECN : 0);
        info.tcpi_snd_wscale = (byte)tcb.SndScale;
        info.tcpi_rcv_wscale = (byte)tcb.RcvScale;
        info.tcpi_backoff = (byte)Math.Min(tcb.RxtShift, 255);
        info.tcpi_retransmits = info.tcpi_backoff;
        info.tcpi_ca_state = (byte)(tcb.InRecovery ? 3 : 0);
        info.tcpi_rto = (uint)(tcb.CurrentRto() / Nanos.PerMicrosecond);
        info.tcpi_snd_mss = (uint)tcb.Mss;
        info.tcpi_rcv_mss = (uint)tcb.Mss;
        info.tcpi_rtt = (uint)(tcb.Srtt / Nanos.PerMicrosecond);
        info.tcpi_rttvar = (uint)(tcb.RttVar / Nanos.PerMicrosecond);
        info.tcpi_snd_ssthresh = (uint)Math.Max(tcb.Ssthresh, 0);
        info.tcpi_snd_cwnd = (uint)Math.Max(tcb.Cwnd, 0);
        info.tcpi_rcv_space = tcb.ReceiveWindow();
        info.tcpi_snd_wnd = tcb.SndWnd;
        info.tcpi_snd_nxt = tcb.SndNxt;
        info.tcpi_rcv_nxt = tcb.RcvNxt;
        info.tcpi_unacked = (uint)tcb.Map.Count;
        info.tcpi_snd_rexmitpack = (uint)tcb.RetransmittedPackets;
        info.tcpi_rcv_ooopack = (uint)tcb.OutOfOrderPackets;
        var sacked = 0u;
        var lost = 0u;
        for (var i = 0; i < tcb.Map.Count; i++)
        {
            if (tcb.Map[i].Is(SentFlags.Sacked))
            {
                sacked++;
            }
            else if (tcb.Map[i].Is(SentFlags.Lost))
            {
                lost++;
            }
        }

        info.tcpi_sacked = sacked;
        info.tcpi_lost = lost;
        return info;
    }

    // ---------------------------------------------------------------- notifications from the protocol

    /// <summary>syncache_tfo_expand: a TFO connection goes to the accept queue while still in SYN-RECEIVED.</summary>
    internal void OnFastOpenAccepted()
    {
        if (_listener is not { } listener)
        {
            return;
        }

        _queuedAtSyn = true;
        listener.Incomplete = Math.Max(0, listener.Incomplete - 1);
        _tcp.Statistics.tcps_accepts++;
        listener._acceptQueue.Enqueue(this);
        listener.Readable?.Invoke(listener);
    }

    internal void OnEstablished()
    {
        if (_queuedAtSyn)
        {
            // Already queued (or accepted) when its SYN arrived with a valid TFO cookie.
            _queuedAtSyn = false;
            _tcp.Statistics.tcps_sc_completed++;
            if (_listener is null)
            {
                _connectedNotified = true;
                Connected?.Invoke(this);
            }

            return;
        }

        if (_listener is { } listener)
        {
            listener.Incomplete = Math.Max(0, listener.Incomplete - 1);
            _tcp.Statistics.tcps_accepts++;
            _tcp.Statistics.tcps_sc_completed++;
            if (!listener.IsListening)
            {
                _listener = null;
                Abort();
                return;
            }

            listener._acceptQueue.Enqueue(this);
            listener.Readable?.Invoke(listener);
            return;
        }

        _connectedNotified = true;
        Connected?.Invoke(this);
    }

    internal void OnReadable() => Readable?.Invoke(this);

    internal void OnUrgent() => Urgent?.Invoke(this);

    internal void OnWritable() => Writable?.Invoke(this);

    internal void OnTimeWait()
    {
    }

    internal void OnConnectionClosed(Errno error)
    {
        _connectionGone = true;
        if (error != Errno.None)
        {
            _error = error;
        }

        if (_listener is { } listener && (_tcb is null || !listener._acceptQueue.Contains(this)))
        {
            // Embryonic connection died before accept.
            listener.Incomplete = Math.Max(0, listener.Incomplete - 1);
            _listener = null;
        }

        if (IsFullyClosed)
        {
            ReleasePort();
        }

        _ = _connectedNotified;
        Closed?.Invoke(this, error);
        if (error != Errno.None || _tcb is { } t && t.Has(TcbFlags.RcvdFin))
        {
            Readable?.Invoke(this);
            Writable?.Invoke(this);
        }
    }

    private void ReleasePort()
    {
        if (_bound)
        {
            _tcp.Unbind(this);
            _bound = false;
        }
    }

    /// <inheritdoc />
    public override string ToString() => _tcb?.ToString() ?? $"{LocalEndpoint} {TcpStateNames.Of(State)}";
}
