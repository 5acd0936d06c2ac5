using Sluice.Stack.Sockets;

namespace Sluice.Cli.Packetdrill;

internal sealed partial class PacketdrillRunner
{
    private const int ORdWr = 0x02;
    private const int ONonBlock = 0x04;
    private const int MsgPeek = 0x02;
    private const int MsgOob = 0x01;

    private readonly Dictionary<int, FileEntry> _files = [];
    private TcpSocket? _current;
    private PendingCall? _pending;
    private bool _pendingDone;
    private (long Result, Errno Errno) _pendingResult;

    /// <summary>An open descriptor of the script.</summary>
    private sealed class FileEntry(TcpSocket socket)
    {
        public TcpSocket Socket { get; } = socket;

        public bool NonBlocking { get; set; }

        public Errno ReportedError { get; set; }
    }

    /// <summary>A blocking call waiting for the stack: polled after each step of the loop.</summary>
    private sealed record PendingCall(SyscallEvent Event, long ExpectedEndMicros, Func<(bool Done, long Result, Errno Errno)> Poll);

    private bool PollPending()
    {
        if (_pending is null || _pendingDone)
        {
            return _pendingDone;
        }

        var (done, result, errno) = _pending.Poll();
        if (done)
        {
            _pendingDone = true;
            _pendingResult = (result, errno);
        }

        return done;
    }

    private void CompletePending()
    {
        var p = _pending!;
        _pending = null;
        _pendingDone = false;
        var now = NowMicros;
        if (Math.Abs(now - p.ExpectedEndMicros) > _tolerance)
        {
            SyscallFailure(p.Event, $"{p.Event.Name}: timing error: expected system call to return at {Sec(p.ExpectedEndMicros)} sec but happened at {Sec(now)} sec; tolerance {Sec(_tolerance)} sec");
        }

        CheckResult(p.Event, _pendingResult.Result, _pendingResult.Errno);
    }

    private void CheckPendingNotLate()
    {
        if (_pending is not null && !_pendingDone && NowMicros > _pending.ExpectedEndMicros + _tolerance)
        {
            var p = _pending;
            _pending = null;
            SyscallFailure(p.Event, $"{p.Event.Name}: timing error: expected system call to return at {Sec(p.ExpectedEndMicros)} sec but it is still blocking at {Sec(NowMicros)} sec");
        }
    }

    private void SyscallFailure(SyscallEvent ev, string message)
    {
        if (_nonFatalSyscall)
        {
            _log.WriteLine($"{_script.FileName}:{ev.Line}: warning: {message}");
            return;
        }

        throw new ScriptException(ev.Line, message);
    }

    private void CheckResult(SyscallEvent ev, long result, Errno errno)
    {
        if (result != ev.Result)
        {
            var got = result < 0 ? $"-1 with errno {(int)errno} ({ErrnoText.Describe(errno)})" : result.ToString(System.Globalization.CultureInfo.InvariantCulture);
            SyscallFailure(ev, $"runtime error in {ev.Name} call: Expected result {ev.Result} but got {got}");
            return;
        }

        if (result < 0 && ev.Errno is { } name)
        {
            var want = ParseErrno(ev, name);
            if (want != errno)
            {
                SyscallFailure(ev, $"runtime error in {ev.Name} call: Expected errno {(int)want} ({name}) but got {(int)errno} ({errno})");
            }
        }
    }

    private static Errno ParseErrno(SyscallEvent ev, string name) => name switch
    {
        "EWOULDBLOCK" => Errno.EAGAIN,
        _ when Enum.TryParse<Errno>(name, out var e) && e != Errno.None => e,
        _ => throw new ScriptException(ev.Line, $"unknown errno name {name}"),
    };

    // ---------------------------------------------------------------- dispatch

    private void RunSyscall(SyscallEvent ev, long startMicros)
    {
        var args = ev.Arguments;
        var end = startMicros;
        if (ev.Time.BlockEnd is { } b)
        {
            end = ev.Time.Start.Kind == TimeKind.Absolute && b.Kind == TimeKind.Absolute ? b.Micros : startMicros - ev.Time.Start.Micros + b.Micros;
        }

        if (_pending is not null)
        {
            // packetdrill runs one blocking call at a time in its syscall thread.
            throw new ScriptException(ev.Line, $"{ev.Name}: a blocking {_pending.Event.Name} call (line {_pending.Event.Line}) has not returned yet");
        }

        Func<(bool, long, Errno)>? blocking = null;
        long result;
        Errno errno;
        switch (ev.Name)
        {
            case "socket":
                (result, errno) = DoSocket(ev, args);
                break;
            case "bind":
                (result, errno) = Do(ev, args, 3, (f, _) => Res(f.Socket.Bind(_localAddress, LocalPort), () => { _localPort = LocalPort; }));
                break;
            case "listen":
                (result, errno) = Do(ev, args, 2, (f, a) => Res(f.Socket.Listen((int)Int(ev, a[1]))));
                break;
            case "accept":
                (result, errno) = Do(ev, args, 3, (f, _) =>
                {
                    var r = TryAccept(f);
                    if (r.Errno == Errno.EAGAIN && !f.NonBlocking)
                    {
                        blocking = () =>
                        {
                            var x = TryAccept(f);
                            return (x.Errno != Errno.EAGAIN, x.Result, x.Errno);
                        };
                    }

                    return r;
                });
                break;
            case "connect":
                (result, errno) = Do(ev, args, 3, (f, _) =>
                {
                    var e = f.Socket.Connect(new InetEndpoint(_remoteAddress, LocalPort));
                    _remotePort = LocalPort;
                    _localPort = f.Socket.LocalEndpoint.Port;
                    if (e == Errno.EINPROGRESS && !f.NonBlocking)
                    {
                        blocking = () => ConnectDone(f);
                    }

                    return Res(e);
                });
                break;
            case "close":
                (result, errno) = Do(ev, args, 1, (f, a) =>
                {
                    f.Socket.Close();
                    _files.Remove((int)Int(ev, a[0]));
                    return (0, Errno.None);
                });
                break;
            case "shutdown":
                (result, errno) = Do(ev, args, 2, (f, a) => Res(f.Socket.Shutdown(Symbol(ev, a[1]) switch
                {
                    "SHUT_RD" or "0" => TcpShutdown.Read,
                    "SHUT_WR" or "1" => TcpShutdown.Write,
                    "SHUT_RDWR" or "2" => TcpShutdown.Both,
                    var other => throw new ScriptException(ev.Line, $"shutdown: unknown how {other}"),
                })));
                break;
            case "read" or "recv" or "recvfrom":
                (result, errno) = Do(ev, args, ev.Name == "read" ? 3 : 4, (f, a) =>
                {
                    var n = (int)Math.Clamp(Int(ev, a[2]), 0, 1 << 24);
                    var flags = ev.Name == "read" ? 0 : (int)Int(ev, a[3]);
                    if ((flags & MsgOob) != 0)
                    {
                        // soreceive_rcvoob never blocks: EINVAL or EWOULDBLOCK come back at once.
                        var oob = f.Socket.Receive(new byte[n], (flags & MsgPeek) != 0 ? TcpMessageFlags.OutOfBand | TcpMessageFlags.Peek : TcpMessageFlags.OutOfBand, out var got);
                        return oob == Errno.None ? (got, Errno.None) : (-1, oob);
                    }

                    var r = Receive(f, n, (flags & MsgPeek) != 0);
                    if (r.Errno == Errno.EAGAIN && !f.NonBlocking)
                    {
                        blocking = () =>
                        {
                            var x = Receive(f, n, (flags & MsgPeek) != 0);
                            return (x.Errno != Errno.EAGAIN, x.Result, x.Errno);
                        };
                    }

                    return r;
                });
                break;
            case "write" or "send" or "sendto":
                (result, errno) = Do(ev, args, ev.Name switch { "write" => 3, "send" => 4, _ => 6 }, (f, a) =>
                {
                    var n = (int)Math.Clamp(Int(ev, a[2]), 0, 1 << 24);
                    if (ev.Name == "sendto" && f.Socket.State == Stack.Tcp.TcpState.Closed && f.Socket.ControlBlock is null && !f.Socket.IsListening)
                    {
                        // sendto(2) on an unconnected socket with TCP_FASTOPEN connects implicitly (tcp_usr_send),
                        // the data riding on the SYN when a cookie is cached.
                        var ce = f.Socket.SendTo(new byte[n], new InetEndpoint(_remoteAddress, LocalPort), out var queued);
                        if (ce != Errno.None)
                        {
                            return (-1, ce);
                        }

                        _remotePort = LocalPort;
                        _localPort = f.Socket.LocalEndpoint.Port;
                        return (queued, Errno.None);
                    }

                    var sent = 0;
                    if (ev.Name != "write" && (Int(ev, a[3]) & MsgOob) != 0)
                    {
                        // send(MSG_OOB): the urgent pointer moves past this data (tcp_usr_send PRUS_OOB).
                        var oe = f.Socket.Send(new byte[n], TcpMessageFlags.OutOfBand, out var queued);
                        return oe == Errno.None ? (queued, Errno.None) : (-1, oe);
                    }

                    var r = SendSome(f, n, ref sent);
                    if (!f.NonBlocking && r.Errno is Errno.None or Errno.EAGAIN && sent < n)
                    {
                        blocking = () =>
                        {
                            var x = SendSome(f, n, ref sent);
                            return (sent >= n || x.Errno is not (Errno.None or Errno.EAGAIN), x.Errno is Errno.None or Errno.EAGAIN ? sent : -1, x.Errno is Errno.EAGAIN ? Errno.None : x.Errno);
                        };
                        return (sent, Errno.None);
                    }

                    return r.Errno is Errno.None ? (sent, Errno.None) : (sent > 0 ? sent : -1, r.Errno);
                });
                break;
            case "fcntl":
                (result, errno) = Do(ev, args, args.Count is 2 or 3 ? args.Count : 2, (f, a) => Fcntl(ev, f, a));
                break;
            case "ioctl":
                (result, errno) = Do(ev, args, 3, (f, a) => Ioctl(ev, f, a));
                break;
            case "getsockopt":
                (result, errno) = Do(ev, args, 5, (f, a) => GetSockOpt(ev, f, a));
                break;
            case "setsockopt":
                (result, errno) = Do(ev, args, 5, (f, a) => SetSockOpt(ev, f, a));
                break;
            default:
                throw new ScriptException(ev.Line, $"unsupported system call {ev.Name}() (interpreter)");
        }

        if (blocking is not null)
        {
            _pending = new PendingCall(ev, end, blocking);
            _pendingDone = false;
            return;
        }

        if (ev.Time.BlockEnd is not null && Math.Abs(end - startMicros) > _tolerance)
        {
            SyscallFailure(ev, $"{ev.Name}: timing error: expected system call to return at {Sec(end)} sec but happened at {Sec(startMicros)} sec; tolerance {Sec(_tolerance)} sec");
        }

        CheckResult(ev, result, errno);
    }

    private static (long, Errno) Res(Errno e, Action? onSuccess = null)
    {
        if (e is Errno.None)
        {
            onSuccess?.Invoke();
            return (0, Errno.None);
        }

        return (-1, e);
    }

    private (long, Errno) Do(SyscallEvent ev, IReadOnlyList<Expr> args, int arity, Func<FileEntry, IReadOnlyList<Expr>, (long, Errno)> body)
    {
        if (args.Count != arity)
        {
            throw new ScriptException(ev.Line, $"{ev.Name}: expected {arity} arguments, got {args.Count}");
        }

        var fd = Int(ev, args[0]);
        if (!_files.TryGetValue((int)fd, out var f) || fd is < 0 or > int.MaxValue)
        {
            return (-1, Errno.EBADF);
        }

        _current = f.Socket;
        return body(f, args);
    }

    private (long, Errno) DoSocket(SyscallEvent ev, IReadOnlyList<Expr> args)
    {
        if (args.Count != 3)
        {
            throw new ScriptException(ev.Line, $"socket: expected 3 arguments, got {args.Count}");
        }

        var domain = args[0] is EllipsisExpr ? (_ipv6 ? "AF_INET6" : "AF_INET") : Symbol(ev, args[0]);
        var type = Symbol(ev, args[1]);
        if (type != "SOCK_STREAM")
        {
            throw new ScriptException(ev.Line, $"socket: only SOCK_STREAM is supported (interpreter), not {type}");
        }

        if (domain is not ("AF_INET" or "AF_INET6" or "PF_INET" or "PF_INET6"))
        {
            return (-1, Errno.EAFNOSUPPORT);
        }

        var socket = _tcp.Open(domain.EndsWith('6'));
        var fd = 3;
        while (_files.ContainsKey(fd))
        {
            fd++;
        }

        _files[fd] = new FileEntry(socket);
        _current = socket;
        return (fd, Errno.None);
    }

    private (long Result, Errno Errno) TryAccept(FileEntry f)
    {
        var e = f.Socket.TryAccept(out var child);
        if (e != Errno.None || child is null)
        {
            return (-1, e == Errno.None ? Errno.EAGAIN : e);
        }

        var fd = 3;
        while (_files.ContainsKey(fd))
        {
            fd++;
        }

        _files[fd] = new FileEntry(child);
        _current = child;
        return (fd, Errno.None);
    }

    private static (bool, long, Errno) ConnectDone(FileEntry f)
    {
        var s = f.Socket;
        if (s.State is Stack.Tcp.TcpState.Established or Stack.Tcp.TcpState.CloseWait or Stack.Tcp.TcpState.FinWait1 or Stack.Tcp.TcpState.FinWait2
            or Stack.Tcp.TcpState.Closing or Stack.Tcp.TcpState.LastAck or Stack.Tcp.TcpState.TimeWait)
        {
            return (true, 0, Errno.None);
        }

        if (s.Error != Errno.None)
        {
            f.ReportedError = s.Error;
            return (true, -1, s.Error);
        }

        return (false, 0, Errno.None);
    }

    private static (long Result, Errno Errno) Receive(FileEntry f, int n, bool peek)
    {
        if (peek)
        {
            var avail = f.Socket.Available;
            if (avail > 0)
            {
                return (Math.Min(avail, n), Errno.None);
            }

            if (f.Socket.PeerClosed)
            {
                return (0, Errno.None);
            }

            if (f.Socket.Error != Errno.None)
            {
                return (-1, f.Socket.Error);
            }

            return (-1, Errno.EAGAIN);
        }

        var buffer = new byte[n];
        var e = f.Socket.Receive(buffer, out var got);
        return e == Errno.None ? (got, Errno.None) : (-1, e);
    }

    private static (long Result, Errno Errno) SendSome(FileEntry f, int n, ref int sent)
    {
        if (sent >= n)
        {
            return (sent, Errno.None);
        }

        var data = new byte[n - sent];
        var e = f.Socket.Send(data, out var now);
        sent += now;
        return (sent, e);
    }

    private (long, Errno) Fcntl(SyscallEvent ev, FileEntry f, IReadOnlyList<Expr> a)
    {
        var cmd = Symbol(ev, a[1]);
        switch (cmd)
        {
            case "F_GETFL":
                if (a.Count != 2)
                {
                    throw new ScriptException(ev.Line, "fcntl(F_GETFL) takes 2 arguments");
                }

                return (ORdWr | (f.NonBlocking ? ONonBlock : 0), Errno.None);
            case "F_SETFL":
                if (a.Count != 3)
                {
                    throw new ScriptException(ev.Line, "fcntl(F_SETFL) takes 3 arguments");
                }

                f.NonBlocking = (Int(ev, a[2]) & ONonBlock) != 0;
                return (0, Errno.None);
            default:
                throw new ScriptException(ev.Line, $"fcntl: unsupported command {cmd} (interpreter)");
        }
    }

    private (long, Errno) Ioctl(SyscallEvent ev, FileEntry f, IReadOnlyList<Expr> a)
    {
        var cmd = Symbol(ev, a[1]);
        switch (cmd)
        {
            case "FIONBIO":
                f.NonBlocking = ListInt(ev, a[2]) != 0;
                return (0, Errno.None);
            case "FIONREAD":
                ExpectValue(ev, a[2], f.Socket.Available, "ioctl FIONREAD");
                return (0, Errno.None);
            case "SIOCATMARK":
                ExpectValue(ev, a[2], f.Socket.AtMark ? 1 : 0, "ioctl SIOCATMARK");
                return (0, Errno.None);
            default:
                throw new ScriptException(ev.Line, $"ioctl: unsupported request {cmd} (interpreter)");
        }
    }

    // ---------------------------------------------------------------- expressions

    private static readonly Dictionary<string, long> Constants = new(StringComparer.Ordinal)
    {
        ["O_RDONLY"] = 0, ["O_WRONLY"] = 1, ["O_RDWR"] = ORdWr, ["O_NONBLOCK"] = ONonBlock,
        ["MSG_PEEK"] = MsgPeek, ["MSG_OOB"] = MsgOob, ["MSG_DONTWAIT"] = 0x80, ["MSG_WAITALL"] = 0x40, ["MSG_EOR"] = 0x8, ["MSG_NOSIGNAL"] = 0x20000,
        ["SHUT_RD"] = 0, ["SHUT_WR"] = 1, ["SHUT_RDWR"] = 2,
        ["IPTOS_LOWDELAY"] = 0x10, ["IPTOS_THROUGHPUT"] = 0x08, ["IPTOS_RELIABILITY"] = 0x04,
        ["IPTOS_ECN_NOTECT"] = 0, ["IPTOS_ECN_ECT1"] = 1, ["IPTOS_ECN_ECT0"] = 2, ["IPTOS_ECN_CE"] = 3,
        ["IPTOS_DSCP_CS0"] = 0x00, ["IPTOS_DSCP_CS1"] = 0x20, ["IPTOS_DSCP_CS2"] = 0x40, ["IPTOS_DSCP_CS3"] = 0x60,
        ["IPTOS_DSCP_CS4"] = 0x80, ["IPTOS_DSCP_CS5"] = 0xa0, ["IPTOS_DSCP_CS6"] = 0xc0, ["IPTOS_DSCP_CS7"] = 0xe0,
        ["IPTOS_DSCP_EF"] = 0xb8,
    };

    private static string Symbol(SyscallEvent ev, Expr e) => e switch
    {
        NameExpr n => n.Name,
        IntExpr i => i.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => throw new ScriptException(ev.Line, $"{ev.Name}: expected a symbol, got {e.GetType().Name.Replace("Expr", "", StringComparison.Ordinal).ToLowerInvariant()}"),
    };

    private static long Int(SyscallEvent ev, Expr e) => e switch
    {
        IntExpr i => i.Value,
        NameExpr n when Constants.TryGetValue(n.Name, out var v) => v,
        NameExpr n when n.Name.StartsWith('E') && Enum.TryParse<Errno>(n.Name, out var er) => (long)er,
        OrExpr o => o.Terms.Aggregate(0L, (acc, t) => acc | Int(ev, t)),
        ListExpr { Items.Count: 1 } l => Int(ev, l.Items[0]),
        _ => throw new ScriptException(ev.Line, $"{ev.Name}: expected an integer, got {Show(e)}"),
    };

    private static long ListInt(SyscallEvent ev, Expr e) => e is ListExpr { Items.Count: 1 } l ? Int(ev, l.Items[0]) : Int(ev, e);

    private static string Show(Expr e) => e switch
    {
        EllipsisExpr => "...",
        IntExpr i => i.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
        NameExpr n => n.Name,
        StringExpr s => $"\"{s.Value}\"",
        OrExpr o => string.Join(" | ", o.Terms.Select(Show)),
        ListExpr l => "[" + string.Join(", ", l.Items.Select(Show)) + "]",
        StructExpr s => "{" + string.Join(", ", s.Fields.Select(f => $"{f.Name}={Show(f.Value)}")) + "}",
        _ => "?",
    };

    private void ExpectValue(SyscallEvent ev, Expr expected, long actual, string what)
    {
        if (expected is EllipsisExpr or ListExpr { Items: [EllipsisExpr] })
        {
            return;
        }

        var want = ListInt(ev, expected);
        if (want != actual)
        {
            SyscallFailure(ev, $"{what}: bad getsockopt optval: expected: {want} actual: {actual}");
        }
    }
}
