using System.Buffers.Binary;
using System.Text;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Ip;
using Sluice.Stack.Sockets;
using Sluice.Stack.Sysctl;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tcp;

/// <summary>One row of the connection list (`netstat -an`).</summary>
public readonly record struct TcpConnectionInfo(InetEndpoint Local, InetEndpoint Foreign, TcpState State, int ReceiveQueue, int SendQueue, string Stack, string CongestionControl = "");

/// <summary>
/// TCP of one VNET: the protocol handler, the connection and listener tables, the registries of function blocks
/// (`freebsd`, `rack`) and congestion-control modules (`newreno`, `cubic`), the net.inet.tcp sysctls and counters.
/// </summary>
/// <remarks>
/// Obtain it with <see cref="Attach"/> (or <c>stack.Tcp</c>): one instance per <see cref="NetStack"/>, created on first
/// use, registered for IP protocol 6. Everything runs on the stack's event loop.
/// </remarks>
public sealed partial class TcpStack : IIpProtocolHandler, IUdpTunnel
{
    private readonly Dictionary<TcpConnectionKey, TcpControlBlock> _connections = [];
    private readonly Dictionary<ushort, List<TcpSocket>> _bound = [];
    private readonly List<ITcpFunctionBlock> _blocks = [];
    private readonly Dictionary<string, Func<ICongestionControl>> _cc = new(StringComparer.Ordinal);
    private ulong _secret0, _secret1;
    private bool _haveSecret;
    private int _nextEphemeral;

    internal SysctlInt SysctlMssDflt = null!, SysctlSendSpace = null!, SysctlRecvSpace = null!, SysctlKeepIdle = null!,
        SysctlKeepIntvl = null!, SysctlKeepCnt = null!, SysctlKeepInit = null!, SysctlDelayedAck = null!, SysctlDelAckTime = null!,
        SysctlRfc1323 = null!, SysctlSack = null!, SysctlSynCookies = null!, SysctlMsl = null!, SysctlRexmitMin = null!,
        SysctlRexmitInitial = null!, SysctlRexmitSlop = null!, SysctlEcn = null!, SysctlInitCwndSegments = null!, SysctlFinWait2Timeout = null!,
        SysctlMaxSockBuf = null!, SysctlEcnMaxRetries = null!, SysctlRexmitDropOptions = null!, SysctlDropSynFin = null!,
        SysctlIcmpMayRst = null!, SysctlInsecureRst = null!, SysctlTolerateMissingTs = null!, SysctlRackDsackStdBased = null!, SysctlUdpTunnelingPort = null!,
        SysctlUdpTunnelingOverhead = null!, SysctlV6MssDflt = null!, SysctlPathMtuDiscovery = null!, SysctlMinMss = null!,
        SysctlPmtudBlackholeDetect = null!, SysctlPmtudBlackholeMss = null!, SysctlV6PmtudBlackholeMss = null!, SysctlAlwaysKeepalive = null!,
        SysctlSendBufAuto = null!, SysctlSendBufInc = null!, SysctlSendBufMax = null!, SysctlSendBufAutoLowat = null!,
        SysctlRecvBufAuto = null!, SysctlRecvBufMax = null!, SysctlRackAutoscale = null!, SysctlDoPrr = null!;

    private UdpSocket? _tunnel4, _tunnel6;

    /// <summary>Creates TCP for <paramref name="stack"/> and registers it as IP protocol 6. Prefer <see cref="Attach"/>.</summary>
    public TcpStack(NetStack stack)
    {
        Net = stack;
        RegisterFunctionBlock(new FreeBsdFunctionBlock());
        RegisterFunctionBlock(new RackFunctionBlock());
        DefaultFunctionBlock = _blocks[0];
        RegisterCongestionControl("newreno", static () => new NewRenoCongestionControl());
        RegisterCongestionControl("cubic", static () => new CubicCongestionControl());
        DefaultCongestionControl = "newreno";
        RegisterSysctls();
        FastOpen = new TcpFastOpen(this);
        stack.RegisterProtocol(IPProtocol.Tcp, this);
    }

    /// <summary>The per-VNET TCP of <paramref name="stack"/>, created and registered on first use.</summary>
    public static TcpStack Attach(NetStack stack) => stack.Feature(static s => new TcpStack(s));

    /// <summary>The stack this TCP belongs to.</summary>
    public NetStack Net { get; }

    /// <summary>TCP Fast Open (net.inet.tcp.fastopen): client cookie cache and server cookies.</summary>
    public TcpFastOpen FastOpen { get; }

    /// <summary>Counters (struct tcpstat).</summary>
    public TcpStatistics Statistics { get; } = new();

    /// <summary>Function blocks in registration order.</summary>
    public IReadOnlyList<ITcpFunctionBlock> FunctionBlocks => _blocks;

    /// <summary>The block new connections use (net.inet.tcp.functions_default).</summary>
    public ITcpFunctionBlock DefaultFunctionBlock { get; private set; }

    /// <summary>The congestion-control module new connections use (net.inet.tcp.cc.algorithm).</summary>
    public string DefaultCongestionControl { get; private set; }

    /// <summary>Names of the registered congestion-control modules.</summary>
    public IEnumerable<string> CongestionControlNames => _cc.Keys;

    /// <summary>socket(AF_INET|AF_INET6, SOCK_STREAM, 0).</summary>
    public TcpSocket Open(bool ipv6 = false) => new(this, ipv6);

    /// <summary>Registers a function block (tcp_register_function_block).</summary>
    public void RegisterFunctionBlock(ITcpFunctionBlock block)
    {
        if (FindFunctionBlock(block.Name) is not null)
        {
            throw new ArgumentException($"function block {block.Name} already registered", nameof(block));
        }

        _blocks.Add(block);
    }

    /// <summary>Registers a congestion-control module factory.</summary>
    public void RegisterCongestionControl(string name, Func<ICongestionControl> factory) => _cc[name] = factory;

    /// <summary>The block named <paramref name="name"/>, or null.</summary>
    public ITcpFunctionBlock? FindFunctionBlock(string name)
    {
        foreach (var b in _blocks)
        {
            if (b.Name == name)
            {
                return b;
            }
        }

        return null;
    }

    /// <summary>Sets net.inet.tcp.functions_default; false for an unknown name.</summary>
    public bool TrySetDefaultFunctionBlock(string name)
    {
        if (FindFunctionBlock(name) is not { } b)
        {
            return false;
        }

        DefaultFunctionBlock = b;
        return true;
    }

    /// <summary>Sets net.inet.tcp.cc.algorithm; false for an unknown name.</summary>
    public bool TrySetDefaultCongestionControl(string name)
    {
        if (!_cc.ContainsKey(name))
        {
            return false;
        }

        DefaultCongestionControl = name;
        return true;
    }

    internal ICongestionControl? CreateCongestionControl(string name) => _cc.TryGetValue(name, out var f) ? f() : null;

    /// <summary>Connections (every control block, TIME_WAIT included) and listeners, for netstat -an.</summary>
    public IReadOnlyList<TcpConnectionInfo> Connections()
    {
        var list = new List<TcpConnectionInfo>();
        foreach (var tcb in _connections.Values)
        {
            list.Add(new TcpConnectionInfo(tcb.LocalEndpoint, tcb.RemoteEndpoint, tcb.State, tcb.RecvBuffer.Count, tcb.SendBuffer.Count, tcb.FunctionBlock.Name, tcb.CongestionControl.Name));
        }

        foreach (var sockets in _bound.Values)
        {
            foreach (var s in sockets)
            {
                if (s.IsListening)
                {
                    list.Add(new TcpConnectionInfo(s.LocalEndpoint, new InetEndpoint(s.IsIPv6 ? IPv6Address.Any : IPv4Address.Any, 0), TcpState.Listen, s.PendingAccepts, 0, s.FunctionBlockName, s.CongestionControlName));
                }
            }
        }

        return list;
    }

    /// <summary>Number of control blocks using <paramref name="block"/> (the PCB count column).</summary>
    public int PcbCount(ITcpFunctionBlock block)
    {
        var n = 0;
        foreach (var tcb in _connections.Values)
        {
            if (ReferenceEquals(tcb.FunctionBlock, block))
            {
                n++;
            }
        }

        return n;
    }

    private void RegisterSysctls()
    {
        var t = Net.Sysctl;
        t.AddString("net.inet.tcp.functions_available", "list available TCP Function sets", FormatFunctionsAvailable);
        t.AddString("net.inet.tcp.functions_default", "Set/get the default TCP functions", () => DefaultFunctionBlock.Name,
            v => TrySetDefaultFunctionBlock(v) ? null : "No such file or directory");
        t.AddString("net.inet.tcp.cc.algorithm", "Default congestion control algorithm", () => DefaultCongestionControl,
            v => TrySetDefaultCongestionControl(v) ? null : "No such file or directory");
        t.AddString("net.inet.tcp.cc.available", "List available congestion control algorithms", () => string.Join(", ", _cc.Keys));
        SysctlMssDflt = t.AddInt("net.inet.tcp.mssdflt", "Default TCP Maximum Segment Size", 536, 216, 65535);
        SysctlSendSpace = t.AddInt("net.inet.tcp.sendspace", "Initial send socket buffer size", 32768, 1, 1 << 26);
        SysctlRecvSpace = t.AddInt("net.inet.tcp.recvspace", "Initial receive socket buffer size", 65536, 1, 1 << 26);

        // Socket buffer autotuning: tcp_output.c (send) and tcp_input.c (receive). FreeBSD's SYSCTL_INTs take any int;
        // negative values make no sense for any of them and are refused here.
        SysctlSendBufAuto = t.AddInt("net.inet.tcp.sendbuf_auto", "Enable automatic send buffer sizing", 1, 0, int.MaxValue);
        SysctlSendBufInc = t.AddInt("net.inet.tcp.sendbuf_inc", "Incrementor step size of automatic send buffer", 8 * 1024, 0, int.MaxValue);
        SysctlSendBufMax = t.AddInt("net.inet.tcp.sendbuf_max", "Max size of automatic send buffer", 2 * 1024 * 1024, 0, int.MaxValue);
        SysctlSendBufAutoLowat = t.AddInt("net.inet.tcp.sendbuf_auto_lowat",
            "Modify threshold for auto send buffer growth to account for SO_SNDLOWAT", 0, 0, int.MaxValue);
        SysctlRecvBufAuto = t.AddInt("net.inet.tcp.recvbuf_auto", "Enable automatic receive buffer sizing", 1, 0, int.MaxValue);
        SysctlRecvBufMax = t.AddInt("net.inet.tcp.recvbuf_max", "Max size of automatic receive buffer", 2 * 1024 * 1024, 0, int.MaxValue);
        SysctlKeepIdle = t.AddInt("net.inet.tcp.keepidle", "time before keepalive probes begin", 7_200_000, 1, int.MaxValue);
        SysctlKeepIntvl = t.AddInt("net.inet.tcp.keepintvl", "time between keepalive probes", 75_000, 1, int.MaxValue);
        SysctlKeepCnt = t.AddInt("net.inet.tcp.keepcnt", "Number of keepalive probes to send", 8, 1, 1000);
        SysctlAlwaysKeepalive = t.AddInt("net.inet.tcp.always_keepalive", "Assume SO_KEEPALIVE on all TCP connections", 1, 0, 1);
        SysctlKeepInit = t.AddInt("net.inet.tcp.keepinit", "time to establish connection", 75_000, 1, int.MaxValue);
        SysctlDelayedAck = t.AddInt("net.inet.tcp.delayed_ack", "Delay ACK to try and piggyback it onto a data packet", 1, 0, 1);
        SysctlDelAckTime = t.AddInt("net.inet.tcp.delacktime", "Time before a delayed ACK is sent", 40, 1, 1000);
        SysctlRfc1323 = t.AddInt("net.inet.tcp.rfc1323", "Enable rfc1323 (high performance TCP) extensions", 1, 0, 3);
        SysctlSack = t.AddInt("net.inet.tcp.sack.enable", "Enable/Disable TCP SACK support", 1, 0, 1);

        // tcp_input.c: Proportional Rate Reduction (RFC 6937) for the `freebsd` block's SACK recovery. FreeBSD 14 has
        // no do_prr_conservative any more: tcp_do_prr_ack picks PRR-CRB itself (RFC 6937bis heuristic).
        SysctlDoPrr = t.AddInt("net.inet.tcp.do_prr", "Enable Proportional Rate Reduction per RFC 6937", 1, 0, 1);
        SysctlSynCookies = t.AddInt("net.inet.tcp.syncookies", "Use TCP SYN cookies if the syncache overflows", 1, 0, 1);
        SysctlMsl = t.AddInt("net.inet.tcp.msl", "Maximum Segment Lifetime", 30_000, 1, int.MaxValue);
        SysctlRexmitMin = t.AddInt("net.inet.tcp.rexmit_min", "Minimum Retransmission Timeout", 30, 1, 60_000);
        SysctlRexmitSlop = t.AddInt("net.inet.tcp.rexmit_slop", "Retransmission Timer Slop", 200, 0, 60_000);
        SysctlRexmitInitial = t.AddInt("net.inet.tcp.rexmit_initial", "Initial Retransmission Timeout", 1000, 1, 60_000);
        SysctlEcn = t.AddInt("net.inet.tcp.ecn.enable", "TCP ECN support", 2, 0, 4);
        SysctlInitCwndSegments = t.AddInt("net.inet.tcp.initcwnd_segments", "Slow-start flight size (initial congestion window) in number of segments", 10, 0, 1000);
        SysctlFinWait2Timeout = t.AddInt("net.inet.tcp.fin_wait_2_timeout", "FIN-WAIT2 timeout", 60_000, 1, int.MaxValue);
        SysctlEcnMaxRetries = t.AddInt("net.inet.tcp.ecn.maxretries", "Max retries before giving up on ECN", 1, 0, 30);
        SysctlRexmitDropOptions = t.AddInt("net.inet.tcp.rexmit_drop_options", "Drop TCP options from 3rd and later retransmitted SYN", 0, 0, 1);
        SysctlDropSynFin = t.AddInt("net.inet.tcp.drop_synfin", "Drop TCP packets with SYN+FIN set", 0, 0, 1);
        SysctlIcmpMayRst = t.AddInt("net.inet.tcp.icmp_may_rst", "Certain ICMP unreachable messages may abort connections in SYN_SENT", 1, 0, 1);
        SysctlInsecureRst = t.AddInt("net.inet.tcp.insecure_rst", "Follow RFC793 instead of RFC5961 criteria for accepting RST packets", 0, 0, 1);
        SysctlTolerateMissingTs = t.AddInt("net.inet.tcp.tolerate_missing_ts", "Tolerate missing TCP timestamps", 1, 0, 1);
        RackFunctionBlock.RegisterSysctls(this, t);
        SysctlV6MssDflt = t.AddInt("net.inet.tcp.v6mssdflt", "Default TCP Maximum Segment Size for IPv6", 1220, 216, 65535);
        SysctlMinMss = t.AddInt("net.inet.tcp.minmss", "Minimum TCP Maximum Segment Size", 216, 0, 65535);
        SysctlPathMtuDiscovery = t.AddInt("net.inet.tcp.path_mtu_discovery", "Enable Path MTU Discovery", 1, 0, 1);
        SysctlPmtudBlackholeDetect = t.AddInt("net.inet.tcp.pmtud_blackhole_detection", "Path MTU Discovery Black Hole Detection Enabled", 0, 0, 3);
        SysctlPmtudBlackholeMss = t.AddInt("net.inet.tcp.pmtud_blackhole_mss", "Path MTU Discovery Black Hole Detection lowered MSS", 1200, 0, 65535);
        SysctlV6PmtudBlackholeMss = t.AddInt("net.inet.tcp.v6pmtud_blackhole_mss", "Path MTU Discovery IPv6 Black Hole Detection lowered MSS", 1220, 0, 65535);

        // tcp_subr.c: TCP over UDP. Setting the port opens kernel tunneling UDP sockets on it (tcp_over_udp_start);
        // 0 closes them. The overhead is what the MSS loses to the UDP header (TCP_TUNNELING_OVERHEAD_MIN..MAX).
        SysctlUdpTunnelingPort = t.AddInt("net.inet.tcp.udp_tunneling_port", "Tunneling port for tcp over udp", 0, 0, 65535);
        SysctlUdpTunnelingPort.Changed = _ => RestartUdpTunneling();
        SysctlUdpTunnelingOverhead = t.AddInt("net.inet.tcp.udp_tunneling_overhead", "MSS reduction when using tcp over udp", 8, 8, 1024);

        // uipc_sockbuf.c sb_max: TCP is its only user here; at least MSIZE + MCLBYTES (sysctl_handle_sb_max).
        SysctlMaxSockBuf = Net.Sysctl.Find("kern.ipc.maxsockbuf") as SysctlInt
            ?? t.AddInt("kern.ipc.maxsockbuf", "Maximum socket buffer size", 2 * 1024 * 1024, 256 + 2048, int.MaxValue);
    }

    /// <summary>The table FreeBSD's sysctl_net_inet_list_available prints (tcp_subr.c).</summary>
    public string FormatFunctionsAvailable()
    {
        var sb = new StringBuilder();
        sb.Append('\n');
        sb.Append(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{"Stack",-32}{'D'} {"Alias",-32} {"PCB count"}\n"));
        foreach (var b in _blocks)
        {
            var d = ReferenceEquals(b, DefaultFunctionBlock) ? '*' : ' ';
            sb.Append(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{b.Name,-32}{d} {b.Name,-32} {PcbCount(b)}\n"));
        }

        return sb.ToString();
    }

    // ---- TCP over UDP (tcp_subr.c tcp_over_udp_start/stop, tcp_recv_udp_tunneled_packet, tcp_ctlinput_viaudp) ----

    /// <summary>True when net.inet.tcp.udp_tunneling_port is set and its sockets are bound.</summary>
    public bool UdpTunnelingActive => _tunnel4 is not null;

    private void RestartUdpTunneling()
    {
        _tunnel4?.Dispose();
        _tunnel6?.Dispose();
        _tunnel4 = _tunnel6 = null;
        var port = (ushort)SysctlUdpTunnelingPort.Value;
        if (port == 0)
        {
            return;
        }

        var v4 = Net.OpenUdp(ipv6: false);
        var v6 = Net.OpenUdp(ipv6: true);
        if (v4.Bind(IPv4Address.Any, port) != Errno.None || v6.Bind(IPv6Address.Any, port) != Errno.None)
        {
            // tcp_over_udp_start failed (port in use): FreeBSD leaves the sysctl at 0.
            v4.Dispose();
            v6.Dispose();
            SysctlUdpTunnelingPort.Value = 0;
            return;
        }

        v4.Tunnel = this;
        v6.Tunnel = this;
        _tunnel4 = v4;
        _tunnel6 = v6;
    }

    /// <summary>The MSS a connection loses to encapsulation: net.inet.tcp.udp_tunneling_overhead when <paramref name="udpPort"/> is set.</summary>
    internal int TunnelOverhead(ushort udpPort) => udpPort != 0 ? (int)SysctlUdpTunnelingOverhead.Value : 0;

    /// <inheritdoc />
    void IUdpTunnel.TunnelInput(Packet packet, int udpOffset, bool ipv6)
    {
        Statistics.tcps_tunneled_pkts++;
        var data = packet.Data;
        if ((uint)udpOffset > (uint)data.Length || data.Length - udpOffset < UdpPacket.HeaderLength + TcpPacket.MinimumHeaderLength)
        {
            Statistics.tcps_tunneled_errs++;
            packet.Release();
            return;
        }

        var port = BinaryPrimitives.ReadUInt16BigEndian(data[udpOffset..]);
        InputWithPort(packet, udpOffset + UdpPacket.HeaderLength, ipv6, port);
    }

    /// <inheritdoc />
    void IUdpTunnel.TunnelControlInput(byte icmpType, byte icmpCode, int mtu, ReadOnlySpan<byte> quoted, bool ipv6)
    {
        // tcp_ctlinput_viaudp / tcp6_ctlinput_viaudp: the quoted datagram must come from the tunneling port and carry
        // the TCP ports and sequence number after its UDP header; its UDP destination is the connection's t_port.
        var hlen = ipv6 ? IPv6Packet.HeaderLength : (quoted.Length > 0 ? (quoted[0] & 0x0f) * 4 : 0);
        if (hlen < 20 || quoted.Length < hlen + UdpPacket.HeaderLength + 8)
        {
            return;
        }

        var udp = quoted[hlen..];
        if (BinaryPrimitives.ReadUInt16BigEndian(udp) != SysctlUdpTunnelingPort.Value)
        {
            return;
        }

        var port = BinaryPrimitives.ReadUInt16BigEndian(udp[2..]);
        InetAddress src = ipv6 ? IPv6Address.Read(quoted[8..]) : IPv4Address.Read(quoted[12..]);
        InetAddress dst = ipv6 ? IPv6Address.Read(quoted[24..]) : IPv4Address.Read(quoted[16..]);
        ControlInputCore(icmpType, icmpCode, mtu, src, dst, udp[UdpPacket.HeaderLength..], ipv6, port);
    }

    // ---- Connection table ----

    internal bool TryGetConnection(in TcpConnectionKey key, out TcpControlBlock tcb) => _connections.TryGetValue(key, out tcb!);

    internal void AddConnection(TcpControlBlock tcb) => _connections[tcb.Key] = tcb;

    internal void RemoveConnection(TcpControlBlock tcb)
    {
        if (_connections.TryGetValue(tcb.Key, out var existing) && ReferenceEquals(existing, tcb))
        {
            _connections.Remove(tcb.Key);
        }
    }

    internal Errno Bind(TcpSocket socket, InetAddress address, ushort port)
    {
        var zoneError = Net.CheckZone(address, out _);
        if (zoneError != Errno.None)
        {
            return zoneError;
        }

        // in6_pcbbind: a link-local address names one interface's address only with its zone.
        if (!address.IsUnspecified && !(address.IsIPv6
                ? address.V6.IsLinkLocal ? address.ScopeId != 0 && Net.IsLocalAddress(address.V6, (int)address.ScopeId) : Net.IsLocalAddress(address.V6)
                : Net.IsLocalAddress(address.V4)))
        {
            return Errno.EADDRNOTAVAIL;
        }

        if (port == 0)
        {
            var first = (int)Net.SysctlPortFirst.Value;
            var last = (int)Net.SysctlPortLast.Value;
            var span = last - first + 1;
            if (_nextEphemeral == 0)
            {
                _nextEphemeral = first + Net.Random.Next(span);
            }

            for (var i = 0; i < span; i++)
            {
                var candidate = (ushort)(first + ((_nextEphemeral - first + i) % span));
                if (!_bound.ContainsKey(candidate))
                {
                    port = candidate;
                    _nextEphemeral = candidate + 1;
                    break;
                }
            }

            if (port == 0)
            {
                return Errno.EADDRNOTAVAIL;
            }
        }
        else if (_bound.TryGetValue(port, out var existing))
        {
            foreach (var other in existing)
            {
                if (other.IsIPv6 != socket.IsIPv6)
                {
                    continue;
                }

                var overlap = other.LocalEndpoint.Address.IsUnspecified || address.IsUnspecified || other.LocalEndpoint.Address == address;
                if (!overlap)
                {
                    continue;
                }

                // SO_REUSEADDR lets a socket bind beside connections that are not listening (TIME_WAIT, accepted).
                if (other.IsListening || !(socket.ReuseAddress && other.ReuseAddressCompatible))
                {
                    return Errno.EADDRINUSE;
                }
            }
        }

        if (!_bound.TryGetValue(port, out var list))
        {
            list = [];
            _bound.Add(port, list);
        }

        list.Add(socket);
        socket.LocalEndpoint = new InetEndpoint(address, port);
        return Errno.None;
    }

    internal void Unbind(TcpSocket socket)
    {
        var port = socket.LocalEndpoint.Port;
        if (port != 0 && _bound.TryGetValue(port, out var list))
        {
            list.Remove(socket);
            if (list.Count == 0)
            {
                _bound.Remove(port);
            }
        }
    }

    /// <summary>A socket bound to <paramref name="local"/>:<paramref name="port"/> (or the wildcard) that neither listens nor has a connection.</summary>
    private TcpSocket? BoundClosedSocket(InetAddress local, ushort port)
    {
        if (!_bound.TryGetValue(port, out var list))
        {
            return null;
        }

        foreach (var s in list)
        {
            if (!s.IsListening && s.ControlBlock is null && !s.IsFullyClosed && s.IsIPv6 == local.IsIPv6
                && (s.LocalEndpoint.Address == local || s.LocalEndpoint.Address.IsUnspecified))
            {
                return s;
            }
        }

        return null;
    }

    private TcpSocket? FindListener(InetAddress local, ushort port)
    {
        if (!_bound.TryGetValue(port, out var list))
        {
            return null;
        }

        TcpSocket? wildcard = null;
        foreach (var s in list)
        {
            if (!s.IsListening || s.IsIPv6 != local.IsIPv6)
            {
                continue;
            }

            if (s.LocalEndpoint.Address == local)
            {
                return s;
            }

            if (s.LocalEndpoint.Address.IsUnspecified)
            {
                wildcard = s;
            }
        }

        return wildcard;
    }

    // ---- Sizing ----

    /// <summary>
    /// MSS for a peer: the route's or interface's MTU minus IP and TCP headers (tcp_maxmtu, tcp_mssopt). This is what
    /// the SYN advertises, with no floor (tcp_mssopt); the MSS used for sending is floored at 64 by tcp_mss_update.
    /// </summary>
    internal int MssFor(InetAddress remote)
    {
        var ipHeader = remote.IsIPv6 ? 40 : 20;
        var mtu = 0;
        if (remote.IsIPv6)
        {
            var r = Net.IsLocalAddress(remote.V6) ? null : Net.Routes6.Lookup(remote.V6);
            mtu = r is null ? (Net.IsLocalAddress(remote.V6) ? Net.Loopback.Mtu : 0) : r.Mtu != 0 ? r.Mtu : Net.InterfaceByIndex(r.GatewayInterfaceIndex != 0 ? r.GatewayInterfaceIndex : r.InterfaceIndex)?.Mtu ?? 0;
        }
        else
        {
            var r = Net.IsLocalAddress(remote.V4) || remote.V4.IsLoopback ? null : Net.Routes4.Lookup(remote.V4);
            mtu = r is null ? (Net.IsLocalAddress(remote.V4) || remote.V4.IsLoopback ? Net.Loopback.Mtu : 0) : r.Mtu != 0 ? r.Mtu : Net.InterfaceByIndex(r.InterfaceIndex)?.Mtu ?? 0;
        }

        if (mtu == 0)
        {
            return (int)DefaultMss(remote.IsIPv6);
        }

        return Math.Max(mtu - ipHeader - TcpPacket.MinimumHeaderLength, 1);
    }

    /// <summary>net.inet.tcp.mssdflt, or net.inet.tcp.v6mssdflt for IPv6 (tcp_newtcpcb, tcp_mss_update).</summary>
    internal long DefaultMss(bool ipv6) => ipv6 ? SysctlV6MssDflt.Value : SysctlMssDflt.Value;

    /// <summary>Largest IP packet the link toward <paramref name="remote"/> takes for segmentation offload (0: none).</summary>
    internal int TsoFor(InetAddress remote)
    {
        int index;
        if (remote.IsIPv6)
        {
            var r = Net.IsLocalAddress(remote.V6) ? null : Net.Routes6.Lookup(remote.V6);
            index = r is null ? 0 : r.GatewayInterfaceIndex != 0 ? r.GatewayInterfaceIndex : r.InterfaceIndex;
        }
        else
        {
            var r = Net.IsLocalAddress(remote.V4) || remote.V4.IsLoopback ? null : Net.Routes4.Lookup(remote.V4);
            index = r?.InterfaceIndex ?? 0;
        }

        return index == 0 ? 0 : Net.InterfaceByIndex(index)?.Link?.MaxSegmentOffload ?? 0;
    }

    /// <summary>An initial sequence number from the stack's random source (deterministic labs).</summary>
    internal uint NewIss() => (uint)Net.Random.NextInt64(0, 1L << 32);

    internal uint NewTsOffset() => (uint)Net.Random.NextInt64(0, 1L << 32);

    // ---- Input ----

    /// <inheritdoc />
    public void Input(NetworkInterface ifp, Packet packet, int transportOffset, bool ipv6) => InputWithPort(packet, transportOffset, ipv6, 0, ifp);

    /// <summary>tcp_input_with_port: <paramref name="port"/> is the UDP source port of a TCP-over-UDP segment, 0 for plain TCP. Takes ownership.</summary>
    private void InputWithPort(Packet packet, int transportOffset, bool ipv6, ushort port, NetworkInterface? ifp = null)
    {
        Statistics.tcps_rcvtotal++;
        var data = packet.Data;
        InetAddress src, dst;
        byte ecn;
        if (ipv6)
        {
            var ip = IPv6Packet.CreateUnchecked(data);
            // tcp6_input: link-local endpoints carry the zone the segment arrived in (the PCB key embeds it).
            var zone = ifp is null ? 0 : Net.InputZone6(ifp, ip.Destination);
            src = NetStack.ScopeOf(ip.Source, zone);
            dst = NetStack.ScopeOf(ip.Destination, zone);
            ecn = (byte)(ip.TrafficClass & 3);
        }
        else
        {
            var ip = IPv4Packet.CreateUnchecked(data);
            src = ip.Source;
            dst = ip.Destination;
            ecn = (byte)(ip.Tos & 3);
        }

        if ((uint)transportOffset > (uint)data.Length)
        {
            Statistics.tcps_rcvshort++;
            packet.Release();
            return;
        }

        var seg = data[transportOffset..];
        if (seg.Length < TcpPacket.MinimumHeaderLength)
        {
            Statistics.tcps_rcvshort++;
            packet.Release();
            return;
        }

        if (!TcpPacket.TryCreate(seg, out var tcp))
        {
            Statistics.tcps_rcvbadoff++;
            packet.Release();
            return;
        }

        // tcp_input: an encapsulated segment is covered by the UDP checksum (checked by UDP), its own is not checked.
        if (port == 0 && (packet.Flags & PacketFlags.ChecksumVerified) == 0
            && !(ipv6 ? tcp.VerifyChecksumV6(src.V6, dst.V6) : tcp.VerifyChecksumV4(src.V4, dst.V4)))
        {
            Statistics.tcps_rcvbadsum++;
            packet.Release();
            return;
        }

        // Multicast or broadcast destinations never reach TCP (tcp_input drops them).
        if (ipv6 ? dst.V6.IsMulticast : dst.V4.IsMulticast || dst.V4.IsBroadcast || Net.IsDirectedBroadcast(dst.V4))
        {
            packet.Release();
            return;
        }

        var flags = tcp.Flags;
        var s = new TcpSegment
        {
            Seq = tcp.SequenceNumber,
            Ack = tcp.AcknowledgmentNumber,
            Flags = flags,
            Window = tcp.WindowSize,
            Payload = tcp.Payload,
            IpEcn = ecn,
            Port = port,
            Urgent = (flags & TcpFlags.Urg) != 0 ? tcp.UrgentPointer : (ushort)0,
        };
        TcpSegmentOptions.Parse(tcp.Options, (flags & TcpFlags.Syn) != 0, out s.Options);
        if ((flags & TcpFlags.Syn) != 0 && (FastOpen.ClientEnable.Value != 0 || FastOpen.ServerEnable.Value != 0))
        {
            // tcp_dooptions: TCPOPT_FAST_OPEN only on SYNs and only while TFO is enabled; lengths are checked by its users.
            var reader = new TcpOptionReader(tcp.Options);
            while (reader.TryReadNext(out var opt))
            {
                if (opt.Kind == TcpOptionKind.FastOpen)
                {
                    s.HasFastOpen = true;
                    s.FastOpenCookie = opt.FastOpenCookie;
                }
            }
        }
        // tcp_input: with net.inet.tcp.drop_synfin every SYN|FIN segment is dropped, whatever the state.
        if (SysctlDropSynFin.Value != 0 && (flags & (TcpFlags.Syn | TcpFlags.Fin)) == (TcpFlags.Syn | TcpFlags.Fin))
        {
            packet.Release();
            return;
        }

        var key = new TcpConnectionKey(dst, tcp.DestinationPort, src, tcp.SourcePort);
        if (_connections.TryGetValue(key, out var tcb))
        {
            // tcp_input: TIME_WAIT is handled by tcp_twcheck; a new SYN that ends it is looked up again (findpcb).
            if (tcb.State != TcpState.TimeWait)
            {
                // tcp_input_with_port: a segment whose UDP encapsulation differs from the connection's is answered with RST.
                if (tcb.UdpPort != port && tcb.State > TcpState.Listen)
                {
                    RespondReset(key, ref s, tcb);
                    packet.Release();
                    return;
                }

                // tcp_input: a TF_SIGNATURE connection takes only segments with a valid signature (RFC 2385 §2.0);
                // the others are dropped without a reply. Syncache entries (SYN_RECEIVED here) check the same way.
                if (tcb.Has(TcbFlags.Signature) && !VerifySignature(seg, src, dst))
                {
                    packet.Release();
                    return;
                }

                tcb.FunctionBlock.SegmentInput(tcb, ref s);
                packet.Release();
                return;
            }

            if (!TcpFunctionBlockBase.TimeWaitCheck(tcb, ref s))
            {
                packet.Release();
                return;
            }
        }

        // tcp_input (findpcb) with a PACKET_TAG_IPFORWARD tag (ipfw fwd to a local address): a segment of no connection
        // is looked up at the next hop and its port (the segment's own without one), wildcards allowed; the socket
        // there takes it with the segment's own destination as local address ("pretend to be the destination").
        var lookup = dst;
        var lookupPort = tcp.DestinationPort;
        if ((packet.Flags & PacketFlags.NextHop) != 0 && packet.NextHop.Address.IsIPv6 == ipv6)
        {
            lookup = packet.NextHop.Address;
            lookupPort = packet.NextHop.Port != 0 ? packet.NextHop.Port : lookupPort;
        }

        var listener = FindListener(lookup, lookupPort);
        if (listener is not null)
        {
            // syncache_add: a TCP_MD5SIG listener takes a SYN only with a valid signature.
            if (listener.SignatureEnabled && (flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) == TcpFlags.Syn && !VerifySignature(seg, src, dst))
            {
                packet.Release();
                return;
            }

            ListenInput(listener, key, ref s);
            packet.Release();
            return;
        }

        Statistics.tcps_noport++;
        if ((flags & TcpFlags.Rst) == 0)
        {
            // A bound socket that neither listens nor connects still answers with its options: tcp_dropwithreset
            // gets its tcpcb (state CLOSED), so tcp_respond signs the RST when it has TF_SIGNATURE.
            RespondReset(key, ref s, sign: BoundClosedSocket(lookup, lookupPort)?.SignatureEnabled == true);
        }

        packet.Release();
    }

    /// <inheritdoc />
    public void ControlInput(byte icmpType, byte icmpCode, int mtu, ReadOnlySpan<byte> quoted, bool ipv6)
    {
        InetAddress src, dst;
        int hlen;
        if (ipv6)
        {
            if (quoted.Length < 40 + 8)
            {
                return;
            }

            src = IPv6Address.Read(quoted[8..]);
            dst = IPv6Address.Read(quoted[24..]);
            hlen = 40;
        }
        else
        {
            hlen = (quoted[0] & 0x0f) * 4;
            if (quoted.Length < hlen + 8)
            {
                return;
            }

            src = IPv4Address.Read(quoted[12..]);
            dst = IPv4Address.Read(quoted[16..]);
        }

        ControlInputCore(icmpType, icmpCode, mtu, src, dst, quoted[hlen..], ipv6, 0);
    }

    /// <summary>tcp_ctlinput_with_port: <paramref name="tcp"/> holds at least the quoted TCP ports and sequence number.</summary>
    private void ControlInputCore(byte icmpType, byte icmpCode, int mtu, InetAddress src, InetAddress dst, ReadOnlySpan<byte> tcp, bool ipv6, ushort port)
    {
        var sport = BinaryPrimitives.ReadUInt16BigEndian(tcp);
        var dport = BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]);
        var seq = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
        if (!_connections.TryGetValue(new TcpConnectionKey(src, sport, dst, dport), out var tcb))
        {
            return;
        }

        // An error about a datagram with another encapsulation than the connection's is not about this connection.
        if (tcb.UdpPort != port)
        {
            return;
        }

        // RFC 5927 §4.1 / tcp_ctlinput: the quoted sequence number must be in flight, snd_una <= seq < snd_max.
        if (Seq.Lt(seq, tcb.SndUna) || Seq.Geq(seq, tcb.SndMax))
        {
            return;
        }

        var error = IcmpErrno(icmpType, icmpCode, ipv6);
        if (error == Errno.None)
        {
            return;
        }

        var packetTooBig = error == Errno.EMSGSIZE;
        if (packetTooBig && mtu > 0)
        {
            var mss = Math.Max(mtu - (ipv6 ? 40 : 20) - TcpPacket.MinimumHeaderLength - TunnelOverhead(tcb.UdpPort), 64);
            if (mss < tcb.Mss)
            {
                tcb.Mss = mss;
                tcb.FunctionBlock.MtuReduced(tcb);
            }

            return;
        }

        if (packetTooBig)
        {
            return;
        }

        // tcp_ctlinput_with_port / tcp6_ctlinput: with net.inet.tcp.icmp_may_rst, "refused" errors and time exceeded
        // drop a connection in SYN-SENT (tcp_drop_syn_sent); everything else is a soft error (tcp_notify) that matters
        // only if the connection then times out.
        var timeExceeded = ipv6 ? icmpType == 3 : icmpType == 11;
        if (SysctlIcmpMayRst.Value != 0 && tcb.State == TcpState.SynSent && (error == Errno.ECONNREFUSED || (error == Errno.EHOSTUNREACH && timeExceeded)))
        {
            if ((tcb.FastOpen & FastOpenFlags.Enabled) != 0)
            {
                FastOpen.DisablePath(tcb);
            }

            tcb.FunctionBlock.Drop(tcb, error);
            return;
        }

        tcb.Socket?.SetSoftError(error);
    }

    /// <summary>icmp_errmap (ip_icmp.c) and icmp6_errmap (icmp6.c): the errno an ICMP error stands for; None to ignore it.</summary>
    private static Errno IcmpErrno(byte type, byte code, bool ipv6)
    {
        if (ipv6)
        {
            return type switch
            {
                1 => code switch // destination unreachable
                {
                    0 or 2 or 3 => Errno.EHOSTUNREACH, // no route, beyond scope, address unreachable
                    1 or 4 => Errno.ECONNREFUSED,      // administratively prohibited, port unreachable
                    _ => Errno.None,
                },
                2 => Errno.EMSGSIZE,                   // packet too big
                3 => code == 0 ? Errno.EHOSTUNREACH : Errno.None, // hop limit exceeded in transit
                4 => code switch { 0 or 2 => Errno.ENOPROTOOPT, 1 => Errno.ECONNREFUSED, _ => Errno.None }, // header, next header, option
                _ => Errno.None,
            };
        }

        return type switch
        {
            3 => code switch // unreachable
            {
                0 or 1 or 5 or 6 or 7 or 8 or 11 or 12 => Errno.EHOSTUNREACH,
                4 => Errno.EMSGSIZE,
                2 or 3 or 9 or 10 or 13 => Errno.ECONNREFUSED, // protocol, port, prohibited
                _ => Errno.None,
            },
            11 => code == 0 ? Errno.EHOSTUNREACH : Errno.None, // time exceeded in transit
            12 => code is 0 or 1 ? Errno.ENOPROTOOPT : Errno.None, // parameter problem
            _ => Errno.None,
        };
    }

    // ---- Listen, SYN cache and cookies ----

    private void ListenInput(TcpSocket listener, TcpConnectionKey key, ref TcpSegment s)
    {
        if (s.Has(TcpFlags.Rst))
        {
            return;
        }

        if (s.Has(TcpFlags.Ack))
        {
            // A stray ACK to a listener: maybe a SYN cookie (syncache_expand).
            if (!s.Has(TcpFlags.Syn) && SysctlSynCookies.Value != 0 && TryExpandCookie(listener, key, ref s))
            {
                return;
            }

            Statistics.tcps_sc_badack++;
            RespondReset(key, ref s, sign: listener.SignatureEnabled);
            return;
        }

        if (!s.Has(TcpFlags.Syn))
        {
            Statistics.tcps_badsyn++;
            return;
        }

        if (s.Has(TcpFlags.Fin))
        {
            // tcp_input (LISTEN): SYN|FIN is dropped with net.inet.tcp.drop_synfin, else taken as a SYN (the syncache keeps no FIN).
            if (SysctlDropSynFin.Value != 0)
            {
                Statistics.tcps_badsyn++;
                return;
            }

            s.Flags &= ~TcpFlags.Fin;
        }

        if (key.RemotePort == 0 || key.LocalPort == 0)
        {
            return;
        }

        var queue = listener.PendingAccepts;
        var incomplete = listener.Incomplete;
        if (incomplete + queue >= listener.Backlog || queue >= listener.Backlog)
        {
            if (SysctlSynCookies.Value != 0)
            {
                SendCookie(listener, key, ref s);
                return;
            }

            Statistics.tcps_listendrop++;
            return;
        }

        var fb = listener.FunctionBlockForChildren ?? DefaultFunctionBlock;
        var cc = CreateCongestionControl(listener.CongestionControlName ?? DefaultCongestionControl) ?? new NewRenoCongestionControl();
        var tcb = new TcpControlBlock(this, fb, cc, key.LocalAddress.IsIPv6) { Key = key, UdpPort = s.Port };
        listener.CopyOptionsTo(tcb);
        tcb.Socket = TcpSocket.CreateChild(this, listener, tcb);
        listener.Incomplete++;
        Statistics.tcps_sc_added++;
        AddConnection(tcb);
        if (s.HasFastOpen && listener.IsFastOpenListener && FastOpen.ServerEnable.Value != 0)
        {
            // syncache_add: a valid cookie opens the connection with the SYN's data; a cookie request or a bad
            // cookie gets a fresh cookie on the SYN-ACK and a normal handshake (RFC 7413 §4.2).
            tcb.FastOpen = FastOpenFlags.Enabled;
            if (FastOpen.CheckCookie(key.RemoteAddress, s.FastOpenCookie))
            {
                tcb.FastOpen |= FastOpenFlags.Accepted;
            }
            else
            {
                tcb.FastOpenCookie = new byte[TcpFastOpen.MaxCookieLength];
                FastOpen.MakeCookie(key.RemoteAddress, tcb.FastOpenCookie);
                tcb.FastOpenCookieLength = TcpFastOpen.CookieLength;
                tcb.FastOpen |= FastOpenFlags.SendCookie;
            }
        }

        fb.Init(tcb);
        fb.PassiveOpen(tcb, ref s);
        if ((tcb.FastOpen & FastOpenFlags.Accepted) != 0 && tcb.State == TcpState.SynReceived)
        {
            tcb.Socket?.OnFastOpenAccepted(); // syncache_tfo_expand: accept(2) returns it before the handshake ends
        }
    }

    private uint CookieMac(in TcpConnectionKey key, uint irs, uint slot)
    {
        if (!_haveSecret)
        {
            // Drawn on first use so that attaching TCP does not shift the stack's random sequence (MACs, ports).
            _secret0 = (ulong)Net.Random.NextInt64();
            _secret1 = (ulong)Net.Random.NextInt64();
            _haveSecret = true;
        }

        var h = _secret0 ^ ((ulong)irs << 17) ^ slot;
        h = Mix(h ^ key.LocalPort ^ ((ulong)key.RemotePort << 16));
        h = Mix(h ^ AddressHash(key.LocalAddress) ^ _secret1);
        h = Mix(h ^ AddressHash(key.RemoteAddress));
        return (uint)(h >> 32);
    }

    private static ulong AddressHash(InetAddress a)
    {
        if (!a.IsIPv6)
        {
            return a.V4.Value;
        }

        return a.V6.High ^ Mix(a.V6.Low);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
        return z ^ (z >> 31);
    }

    private static readonly ushort[] CookieMssTable = [216, 536, 1200, 1360, 1400, 1440, 1452, 1460];

    private uint CookieSlot => (uint)(Net.Loop.Now / (15 * Nanos.PerSecond)) & 0xF;

    // Cookie layout (our own, after the idea of syncookie_generate): bits 31..12 MAC, 11..8 time slot, 7..5 MSS
    // index, 4 SACK permitted, 3..0 window scale + 1 (0 = none).
    private void SendCookie(TcpSocket listener, TcpConnectionKey key, ref TcpSegment s)
    {
        var peerMss = s.Options.Mss == 0 ? (int)DefaultMss(key.RemoteAddress.IsIPv6) : s.Options.Mss;
        var mssIndex = 0;
        for (var i = CookieMssTable.Length - 1; i >= 0; i--)
        {
            if (CookieMssTable[i] <= peerMss)
            {
                mssIndex = i;
                break;
            }
        }

        var sack = s.Options.SackPermitted && SysctlSack.Value != 0;
        var wscale = s.Options.WindowScale >= 0 && SysctlRfc1323.Value is 1 or 2 ? WindowScaleToRequest() : -1;
        var slot = CookieSlot;
        var low = (slot << 8) | ((uint)mssIndex << 5) | (sack ? 16u : 0u) | (uint)(wscale + 1);
        var iss = (CookieMac(key, s.Seq, slot) & 0xFFFFF000u) | low;
        Statistics.tcps_sc_sendcookie++;
        var o = new OutSegment
        {
            Key = key,
            Seq = iss,
            Ack = s.Seq + 1,
            Flags = TcpFlags.Syn | TcpFlags.Ack,
            Window = (uint)Math.Min(listener.ReceiveBufferSize, 65535),
            Mss = (ushort)(MssFor(key.RemoteAddress) - TunnelOverhead(s.Port)),
            WindowScale = s.Options.WindowScale >= 0 ? wscale : -1,
            SackPermitted = sack,
            Signature = listener.SignatureEnabled, // syncache_respond: SCF_SIGNATURE
            UdpPort = s.Port,
            UdpPortExplicit = true,
        };
        Emit(in o, null);
    }

    private bool TryExpandCookie(TcpSocket listener, TcpConnectionKey key, ref TcpSegment s)
    {
        var iss = s.Ack - 1;
        var irs = s.Seq - 1;
        var slot = (iss >> 8) & 0xF;
        var now = CookieSlot;
        if (slot != now && slot != ((now - 1) & 0xF))
        {
            return false;
        }

        if ((CookieMac(key, irs, slot) & 0xFFFFF000u) != (iss & 0xFFFFF000u))
        {
            return false;
        }

        if (listener.PendingAccepts >= listener.Backlog * 3 / 2 + 1)
        {
            Statistics.tcps_listendrop++;
            return true;
        }

        Statistics.tcps_sc_recvcookie++;
        var fb = listener.FunctionBlockForChildren ?? DefaultFunctionBlock;
        var cc = CreateCongestionControl(listener.CongestionControlName ?? DefaultCongestionControl) ?? new NewRenoCongestionControl();
        var tcb = new TcpControlBlock(this, fb, cc, key.LocalAddress.IsIPv6) { Key = key, UdpPort = s.Port };
        listener.CopyOptionsTo(tcb);
        tcb.Socket = TcpSocket.CreateChild(this, listener, tcb);
        listener.Incomplete++;
        AddConnection(tcb);
        var mss = CookieMssTable[(iss >> 5) & 7];
        var ws = (int)(iss & 0xF) - 1;
        var sack = (iss & 16) != 0;
        fb.Init(tcb);
        fb.CookieOpen(tcb, iss, irs, mss, ws, sack, ref s);
        return true;
    }

    /// <summary>
    /// The receive window scale to request: the smallest that still reaches sb_max (kern.ipc.maxsockbuf), as
    /// tcp_connect (tcp_usrreq.c) and syncache_add (tcp_syncache.c) pick it — not the current buffer size.
    /// </summary>
    internal int WindowScaleToRequest()
    {
        var sbMax = SysctlMaxSockBuf.Value;
        var shift = 0;
        while (shift < 14 && (65535L << shift) < sbMax)
        {
            shift++;
        }

        return shift;
    }

    /// <summary>sb_max_adj (uipc_sockbuf.c): the largest socket buffer sbreserve grants, sb_max scaled by MCLBYTES / (MSIZE + MCLBYTES).</summary>
    internal long MaxSocketBufferReserve => SysctlMaxSockBuf.Value * 2048 / (256 + 2048);

    /// <summary>
    /// tcp_dropwithreset: answers a segment with RST (RFC 9293 §3.10.7.1), encapsulated as the segment was (tcp_respond
    /// takes the port from the received packet). With <paramref name="tcb"/> the RST carries its IP_TOS / IP_TTL (and
    /// its TCP-MD5 signature); <paramref name="sign"/> signs an RST sent for a TCP_MD5SIG socket without a connection.
    /// </summary>
    internal void RespondReset(in TcpConnectionKey key, ref TcpSegment s, TcpControlBlock? tcb = null, bool sign = false)
    {
        if (s.Has(TcpFlags.Rst))
        {
            return;
        }

        var o = new OutSegment { Key = key, WindowScale = -1, Signature = sign, UdpPort = s.Port, UdpPortExplicit = true };
        if (s.Has(TcpFlags.Ack))
        {
            o.Seq = s.Ack;
            o.Flags = TcpFlags.Rst;
        }
        else
        {
            o.Seq = 0;
            o.Ack = s.Seq + (uint)s.Length;
            o.Flags = TcpFlags.Rst | TcpFlags.Ack;
        }

        Emit(in o, tcb);
    }
}
