using Sluice.Stack.Sockets;

namespace Sluice.Cli.Packetdrill;

internal sealed partial class PacketdrillRunner
{
    private static readonly Dictionary<string, TcpSocketOption> IntOptions = new(StringComparer.Ordinal)
    {
        ["SO_RCVBUF"] = TcpSocketOption.SO_RCVBUF,
        ["SO_SNDBUF"] = TcpSocketOption.SO_SNDBUF,
        ["SO_KEEPALIVE"] = TcpSocketOption.SO_KEEPALIVE,
        ["SO_REUSEADDR"] = TcpSocketOption.SO_REUSEADDR,
        ["SO_OOBINLINE"] = TcpSocketOption.SO_OOBINLINE,
        ["TCP_NODELAY"] = TcpSocketOption.TCP_NODELAY,
        ["TCP_MAXSEG"] = TcpSocketOption.TCP_MAXSEG,
        ["TCP_NOOPT"] = TcpSocketOption.TCP_NOOPT,
        ["TCP_KEEPIDLE"] = TcpSocketOption.TCP_KEEPIDLE,
        ["TCP_KEEPINTVL"] = TcpSocketOption.TCP_KEEPINTVL,
        ["TCP_KEEPCNT"] = TcpSocketOption.TCP_KEEPCNT,
        ["TCP_KEEPINIT"] = TcpSocketOption.TCP_KEEPINIT,
        ["TCP_MD5SIG"] = TcpSocketOption.TCP_MD5SIG,
        ["TCP_REMOTE_UDP_ENCAPS_PORT"] = TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT,
        ["IP_TOS"] = TcpSocketOption.IP_TOS,
        ["IP_TTL"] = TcpSocketOption.IP_TTL,
        ["IPV6_TCLASS"] = TcpSocketOption.IPV6_TCLASS,
        ["IPV6_UNICAST_HOPS"] = TcpSocketOption.IPV6_UNICAST_HOPS,
    };

    private (long, Errno) GetSockOpt(SyscallEvent ev, FileEntry f, IReadOnlyList<Expr> a)
    {
        var name = Symbol(ev, a[2]);
        var expected = a[3];
        var s = f.Socket;
        switch (name)
        {
            case "SO_ERROR":
            {
                // getsockopt(SO_ERROR) returns so_error and clears it.
                var err = s.Error;
                var value = err != Errno.None && err != f.ReportedError ? err : Errno.None;
                if (value != Errno.None)
                {
                    f.ReportedError = value;
                }

                ExpectValue(ev, expected, (long)value, "getsockopt SO_ERROR");
                return (0, Errno.None);
            }

            case "SO_LINGER":
            {
                s.GetOption(TcpSocketOption.SO_LINGER, out var linger);
                if (expected is StructExpr st)
                {
                    foreach (var (field, v) in st.Fields)
                    {
                        var actual = field == "l_onoff" ? (linger >= 0 ? 1 : 0) : Math.Max(0, linger);
                        ExpectValue(ev, v, actual, $"getsockopt SO_LINGER {field}");
                    }
                }

                return (0, Errno.None);
            }

            case "TCP_FUNCTION_BLK":
                if (expected is StructExpr fb)
                {
                    foreach (var (field, v) in fb.Fields)
                    {
                        if (field == "function_set_name" && v is StringExpr str && str.Value != s.FunctionBlockName)
                        {
                            SyscallFailure(ev, $"getsockopt TCP_FUNCTION_BLK: expected: \"{str.Value}\" actual: \"{s.FunctionBlockName}\"");
                        }
                    }
                }

                return (0, Errno.None);
            case "TCP_CONGESTION":
                if (expected is StringExpr cc && cc.Value != s.CongestionControlName)
                {
                    SyscallFailure(ev, $"getsockopt TCP_CONGESTION: expected: \"{cc.Value}\" actual: \"{s.CongestionControlName}\"");
                }

                return (0, Errno.None);
            case "TCP_INFO":
                return (0, Errno.None);
            case "SO_DEBUG":
                ExpectValue(ev, expected, 0, "getsockopt SO_DEBUG");
                return (0, Errno.None);
        }

        if (!IntOptions.TryGetValue(name, out var opt))
        {
            return (-1, Errno.ENOPROTOOPT);
        }

        var e = s.GetOption(opt, out var val);
        if (e != Errno.None)
        {
            return (-1, e);
        }

        ExpectValue(ev, expected, val, $"getsockopt {name}");
        return (0, Errno.None);
    }

    private (long, Errno) SetSockOpt(SyscallEvent ev, FileEntry f, IReadOnlyList<Expr> a)
    {
        var name = Symbol(ev, a[2]);
        var value = a[3];
        var s = f.Socket;
        switch (name)
        {
            case "SO_LINGER":
            {
                long onoff = 1, linger = 0;
                if (value is StructExpr st)
                {
                    foreach (var (field, v) in st.Fields)
                    {
                        if (field == "l_onoff")
                        {
                            onoff = Int(ev, v);
                        }
                        else if (field == "l_linger")
                        {
                            linger = Int(ev, v);
                        }
                    }
                }

                return Res(s.SetOption(TcpSocketOption.SO_LINGER, onoff != 0 ? (int)Math.Clamp(linger, 0, int.MaxValue) : -1));
            }

            case "TCP_FUNCTION_BLK":
            {
                var fb = value is StructExpr st ? st.Fields.FirstOrDefault(x => x.Name == "function_set_name").Value as StringExpr : value as StringExpr;
                if (fb is null)
                {
                    throw new ScriptException(ev.Line, "setsockopt TCP_FUNCTION_BLK needs {function_set_name=\"...\"}");
                }

                return Res(s.SetFunctionBlock(fb.Value));
            }

            case "TCP_CONGESTION":
                return value is StringExpr cc ? Res(s.SetCongestionControl(cc.Value)) : throw new ScriptException(ev.Line, "setsockopt TCP_CONGESTION needs a string");
            case "SO_DEBUG":
                // Debug tracing only; Sluice has nothing to switch.
                return (0, Errno.None);
            case "TCP_FASTOPEN":
                // An int or the enable field of struct tcp_fastopen; a pre-shared key is not supported.
                return Res(s.SetOption(TcpSocketOption.TCP_FASTOPEN, ListInt(ev, value) != 0 ? 1 : 0));
        }

        if (!IntOptions.TryGetValue(name, out var opt))
        {
            // TCP_RACK_*: not in the socket API.
            return (-1, Errno.ENOPROTOOPT);
        }

        return Res(s.SetOption(opt, (int)Math.Clamp(ListInt(ev, value), int.MinValue, int.MaxValue)));
    }
}
