namespace Sluice.Stack.Sockets;

/// <summary>shutdown(2) directions (SHUT_RD, SHUT_WR, SHUT_RDWR).</summary>
public enum TcpShutdown
{
    Read = 0,
    Write = 1,
    Both = 2,
}

/// <summary>Integer socket options of a TCP socket (SOL_SOCKET and IPPROTO_TCP levels, FreeBSD names).</summary>
public enum TcpSocketOption
{
    /// <summary>Receive buffer size in bytes.</summary>
    SO_RCVBUF,
    /// <summary>Send buffer size in bytes.</summary>
    SO_SNDBUF,
    /// <summary>Linger seconds; negative turns lingering off; 0 makes close send RST.</summary>
    SO_LINGER,
    /// <summary>Keepalive probes on an idle connection.</summary>
    SO_KEEPALIVE,
    /// <summary>Allow binding a port that non-listening connections still use.</summary>
    SO_REUSEADDR,
    /// <summary>Disable Nagle.</summary>
    TCP_NODELAY,
    /// <summary>Cap the MSS.</summary>
    TCP_MAXSEG,
    /// <summary>Send no TCP options in the SYN.</summary>
    TCP_NOOPT,
    /// <summary>Seconds idle before keepalive probes.</summary>
    TCP_KEEPIDLE,
    /// <summary>Seconds between keepalive probes.</summary>
    TCP_KEEPINTVL,
    /// <summary>Keepalive probes before dropping.</summary>
    TCP_KEEPCNT,
    /// <summary>Seconds allowed for connection establishment.</summary>
    TCP_KEEPINIT,
    /// <summary>Sign segments with the TCP MD5 option (RFC 2385), keys from the SAD (setkey -A tcp-md5).</summary>
    TCP_MD5SIG,
    /// <summary>TCP Fast Open (RFC 7413): on a client, sendto(2) opens with a cookie and data in the SYN; on a listener, serve TFO.</summary>
    TCP_FASTOPEN,
    /// <summary>The peer's UDP port for TCP over UDP (0 = plain TCP); only before connect, and only with net.inet.tcp.udp_tunneling_port set.</summary>
    TCP_REMOTE_UDP_ENCAPS_PORT,
    /// <summary>IPPROTO_IP: the TOS byte of every IPv4 packet the connection sends (TCP keeps the ECN bits).</summary>
    IP_TOS,
    /// <summary>IPPROTO_IP: the TTL of every IPv4 packet the connection sends.</summary>
    IP_TTL,
    /// <summary>IPPROTO_IPV6: the traffic class of every IPv6 packet (-1 = the default, 0).</summary>
    IPV6_TCLASS,
    /// <summary>IPPROTO_IPV6: the hop limit of every IPv6 packet (-1 = the default, net.inet6.ip6.hlim).</summary>
    IPV6_UNICAST_HOPS,
    /// <summary>Leave urgent data in the normal stream instead of pulling it out for recv(MSG_OOB).</summary>
    SO_OOBINLINE,
}

/// <summary>The flags of send(2) and recv(2) that a TCP socket honours.</summary>
[Flags]
public enum TcpMessageFlags
{
    /// <summary>Normal data.</summary>
    None = 0,
    /// <summary>MSG_OOB: urgent data (send sets the urgent pointer past it; recv reads the out-of-band byte).</summary>
    OutOfBand = 0x1,
    /// <summary>MSG_PEEK: read without consuming.</summary>
    Peek = 0x2,
}

/// <summary>TCPI_OPT_* bits of <see cref="TcpInfo.tcpi_options"/>.</summary>
[Flags]
public enum TcpInfoOptions : byte
{
    None = 0,
    TCPI_OPT_TIMESTAMPS = 0x01,
    TCPI_OPT_SACK = 0x02,
    TCPI_OPT_WSCALE = 0x04,
    TCPI_OPT_ECN = 0x08,
    TCPI_OPT_TOE = 0x10,
}

/// <summary>TCP_INFO: FreeBSD's struct tcp_info (sys/netinet/tcp.h); times in microseconds, windows in bytes.</summary>
#pragma warning disable CA1707, IDE1006 // FreeBSD's field names
public struct TcpInfo
{
    public byte tcpi_state;
    public byte tcpi_ca_state;
    public byte tcpi_retransmits;
    public byte tcpi_probes;
    public byte tcpi_backoff;
    public TcpInfoOptions tcpi_options;
    public byte tcpi_snd_wscale;
    public byte tcpi_rcv_wscale;
    public uint tcpi_rto;
    public uint tcpi_ato;
    public uint tcpi_snd_mss;
    public uint tcpi_rcv_mss;
    public uint tcpi_unacked;
    public uint tcpi_sacked;
    public uint tcpi_lost;
    public uint tcpi_retrans;
    public uint tcpi_fackets;
    public uint tcpi_last_data_sent;
    public uint tcpi_last_ack_sent;
    public uint tcpi_last_data_recv;
    public uint tcpi_last_ack_recv;
    public uint tcpi_pmtu;
    public uint tcpi_rcv_ssthresh;
    public uint tcpi_rtt;
    public uint tcpi_rttvar;
    public uint tcpi_snd_ssthresh;
    public uint tcpi_snd_cwnd;
    public uint tcpi_advmss;
    public uint tcpi_reordering;
    public uint tcpi_rcv_rtt;
    public uint tcpi_rcv_space;
    public uint tcpi_snd_wnd;
    public uint tcpi_snd_bwnd;
    public uint tcpi_snd_nxt;
    public uint tcpi_rcv_nxt;
    public uint tcpi_toe_tid;
    public uint tcpi_snd_rexmitpack;
    public uint tcpi_rcv_ooopack;
    public uint tcpi_snd_zerowin;
}
#pragma warning restore CA1707, IDE1006
