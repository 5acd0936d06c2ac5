using System.Globalization;

namespace Sluice.Pf.Config;

/// <summary>
/// The name tables pfctl reads from the system: a built-in subset of FreeBSD's /etc/services and /etc/protocols,
/// and pf's own ICMP type/code and timeout names (sbin/pfctl/pfctl_parser.c).
/// </summary>
public static class PfNames
{
    // FreeBSD /etc/services subset: name, port, protocols ("tcp", "udp" or "both"); the first name of a port is its print name.
    private static readonly (string Name, int Port, string Proto)[] Services =
    [
        ("tcpmux", 1, "both"), ("compressnet", 2, "both"), ("compressnet", 3, "both"), ("rje", 5, "both"),
        ("echo", 7, "both"), ("discard", 9, "both"), ("systat", 11, "both"), ("daytime", 13, "both"),
        ("qotd", 17, "both"), ("msp", 18, "both"), ("chargen", 19, "both"), ("ftp-data", 20, "both"),
        ("ftp", 21, "both"), ("ssh", 22, "both"), ("telnet", 23, "both"), ("smtp", 25, "both"),
        ("time", 37, "both"), ("nicname", 43, "both"), ("whois", 43, "both"), ("domain", 53, "both"),
        ("bootps", 67, "both"), ("bootpc", 68, "both"), ("tftp", 69, "both"), ("gopher", 70, "both"),
        ("finger", 79, "both"), ("http", 80, "both"), ("www", 80, "both"), ("www-http", 80, "both"),
        ("kerberos-sec", 88, "both"), ("kerberos", 88, "both"), ("pop2", 109, "both"), ("pop3", 110, "both"),
        ("sunrpc", 111, "both"), ("rpcbind", 111, "both"), ("auth", 113, "both"), ("ident", 113, "both"),
        ("sftp", 115, "both"), ("nntp", 119, "both"), ("ntp", 123, "both"), ("netbios-ns", 137, "both"),
        ("netbios-dgm", 138, "both"), ("netbios-ssn", 139, "both"), ("imap", 143, "both"), ("imap2", 143, "both"),
        ("snmp", 161, "both"), ("snmptrap", 162, "both"), ("bgp", 179, "both"), ("irc", 194, "both"),
        ("ldap", 389, "both"), ("https", 443, "both"), ("microsoft-ds", 445, "both"), ("isakmp", 500, "both"),
        ("exec", 512, "tcp"), ("biff", 512, "udp"), ("login", 513, "tcp"), ("who", 513, "udp"),
        ("shell", 514, "tcp"), ("cmd", 514, "tcp"), ("syslog", 514, "udp"), ("printer", 515, "both"),
        ("talk", 517, "udp"), ("ntalk", 518, "udp"), ("route", 520, "udp"), ("router", 520, "udp"),
        ("submission", 587, "both"), ("ldaps", 636, "both"), ("imaps", 993, "both"), ("pop3s", 995, "both"),
        ("socks", 1080, "both"), ("openvpn", 1194, "both"), ("nfsd", 2049, "both"), ("nfs", 2049, "both"),
        ("mysql", 3306, "both"), ("sip", 5060, "both"), ("postgresql", 5432, "both"),
        ("personal-agent", 5555, "both"), ("x11", 6000, "both"), ("ircd", 6667, "tcp"),
    ];

    private static readonly (string Name, int Number)[] Protocols =
    [
        ("ip", 0), ("icmp", 1), ("igmp", 2), ("ggp", 3), ("ipencap", 4), ("st2", 5), ("tcp", 6), ("egp", 8),
        ("igp", 9), ("pup", 12), ("udp", 17), ("hmp", 20), ("xns-idp", 22), ("rdp", 27), ("iso-tp4", 29),
        ("xtp", 36), ("ddp", 37), ("idpr-cmtp", 38), ("ipv6", 41), ("ipv6-route", 43), ("ipv6-frag", 44),
        ("idrp", 45), ("rsvp", 46), ("gre", 47), ("esp", 50), ("ah", 51), ("skip", 57), ("ipv6-icmp", 58),
        ("ipv6-nonxt", 59), ("ipv6-opts", 60), ("rspf", 73), ("vmtp", 81), ("eigrp", 88), ("ospf", 89),
        ("ax.25", 93), ("ipip", 94), ("etherip", 97), ("encap", 98), ("pim", 103), ("ipcomp", 108),
        ("vrrp", 112), ("l2tp", 115), ("isis", 124), ("sctp", 132), ("fc", 133), ("mobility-header", 135),
        ("udplite", 136), ("mpls-in-ip", 137), ("hip", 139), ("shim6", 140), ("wesp", 141), ("rohc", 142),
        ("pfsync", 240), ("divert", 258),
    ];

    private static readonly (string Name, int Number)[] ProtocolAliases =
    [
        ("icmp6", 58), ("carp", 112), ("ospfigp", 89),
    ];

    private static readonly (string Name, int Type)[] IcmpTypes =
    [
        ("echoreq", 8), ("echorep", 0), ("unreach", 3), ("squench", 4), ("redir", 5), ("althost", 6),
        ("routeradv", 9), ("routersol", 10), ("timex", 11), ("paramprob", 12), ("timereq", 13), ("timerep", 14),
        ("inforeq", 15), ("inforep", 16), ("maskreq", 17), ("maskrep", 18), ("trace", 30), ("dataconv", 31),
        ("mobredir", 32), ("ipv6-where", 33), ("ipv6-here", 34), ("mobregreq", 35), ("mobregrep", 36),
        ("skip", 39), ("photuris", 40),
    ];

    private static readonly (string Name, int Type)[] Icmp6Types =
    [
        ("unreach", 1), ("toobig", 2), ("timex", 3), ("paramprob", 4), ("echoreq", 128), ("echorep", 129),
        ("groupqry", 130), ("listqry", 130), ("grouprep", 131), ("listenrep", 131), ("groupterm", 132),
        ("listendone", 132), ("routersol", 133), ("routeradv", 134), ("neighbrsol", 135), ("neighbradv", 136),
        ("redir", 137), ("routrrenum", 138), ("wrureq", 139), ("wrurep", 140), ("fqdnreq", 139), ("fqdnrep", 140),
        ("niqry", 139), ("nirep", 140), ("mtraceresp", 200), ("mtrace", 201),
    ];

    private static readonly (string Name, int Type, int Code)[] IcmpCodes =
    [
        ("net-unr", 3, 0), ("host-unr", 3, 1), ("proto-unr", 3, 2), ("port-unr", 3, 3), ("needfrag", 3, 4),
        ("srcfail", 3, 5), ("net-unk", 3, 6), ("host-unk", 3, 7), ("isolate", 3, 8), ("net-prohib", 3, 9),
        ("host-prohib", 3, 10), ("net-tos", 3, 11), ("host-tos", 3, 12), ("filter-prohib", 3, 13),
        ("host-preced", 3, 14), ("cutoff-preced", 3, 15), ("redir-net", 5, 0), ("redir-host", 5, 1),
        ("redir-tos-net", 5, 2), ("redir-tos-host", 5, 3), ("normal-adv", 9, 0), ("common-adv", 9, 16),
        ("transit", 11, 0), ("reassemb", 11, 1), ("badhead", 12, 0), ("optmiss", 12, 1), ("badlen", 12, 2),
        ("unknown-ind", 40, 1), ("auth-fail", 40, 2), ("decrypt-fail", 40, 3),
    ];

    private static readonly (string Name, int Type, int Code)[] Icmp6Codes =
    [
        ("admin-unr", 1, 1), ("noroute-unr", 1, 0), ("notnbr-unr", 1, 2), ("beyond-unr", 1, 2), ("addr-unr", 1, 3),
        ("port-unr", 1, 4), ("transit", 3, 0), ("reassemb", 3, 1), ("badhead", 4, 0), ("nxthdr", 4, 1),
        ("redironlink", 137, 0), ("redirrouter", 137, 1),
    ];

    /// <summary>pf's timeout names with their PFTM_* index, in pfctl's order.</summary>
    public static readonly (string Name, int Index)[] Timeouts =
    [
        ("tcp.first", 0), ("tcp.opening", 1), ("tcp.established", 2), ("tcp.closing", 3), ("tcp.finwait", 4),
        ("tcp.closed", 5), ("tcp.tsdiff", 21), ("sctp.first", 22), ("sctp.opening", 23), ("sctp.established", 24),
        ("sctp.closing", 25), ("sctp.closed", 26), ("udp.first", 6), ("udp.single", 7), ("udp.multiple", 8),
        ("icmp.first", 9), ("icmp.error", 10), ("other.first", 11), ("other.single", 12), ("other.multiple", 13),
        ("frag", 14), ("interval", 15), ("adaptive.start", 16), ("adaptive.end", 17), ("src.track", 18),
    ];

    /// <summary>FreeBSD's default timeout values by PFTM_* index (seconds; adaptive values are state counts).</summary>
    public static readonly IReadOnlyDictionary<int, uint> DefaultTimeouts = new Dictionary<int, uint>
    {
        [0] = 120, [1] = 30, [2] = 86400, [3] = 900, [4] = 45, [5] = 90, [21] = 30,
        [22] = 120, [23] = 30, [24] = 86400, [25] = 900, [26] = 90,
        [6] = 60, [7] = 30, [8] = 60, [9] = 20, [10] = 10, [11] = 60, [12] = 30, [13] = 60,
        [14] = 60, [15] = 10, [16] = 6000, [17] = 12000, [18] = 0,
    };

    /// <summary>The port number of service <paramref name="name"/> for <paramref name="proto"/> ("tcp"/"udp"), or -1.</summary>
    public static int ServicePort(string name, string proto)
    {
        foreach (var s in Services)
        {
            if (s.Name == name && (s.Proto == "both" || s.Proto == proto))
            {
                return s.Port;
            }
        }

        return -1;
    }

    /// <summary>The print name of <paramref name="port"/> for <paramref name="proto"/>, or null (getservbyport).</summary>
    public static string? ServiceName(uint port, string proto)
    {
        foreach (var s in Services)
        {
            if (s.Port == port && (s.Proto == "both" || s.Proto == proto))
            {
                return s.Name;
            }
        }

        return null;
    }

    /// <summary>The protocol number of <paramref name="name"/>, or -1 (getprotobyname).</summary>
    public static int ProtocolNumber(string name)
    {
        foreach (var p in Protocols)
        {
            if (p.Name == name)
            {
                return p.Number;
            }
        }

        foreach (var p in ProtocolAliases)
        {
            if (p.Name == name)
            {
                return p.Number;
            }
        }

        return -1;
    }

    /// <summary>The name of protocol <paramref name="number"/>, or null (getprotobynumber).</summary>
    public static string? ProtocolName(int number)
    {
        foreach (var p in Protocols)
        {
            if (p.Number == number)
            {
                return p.Name;
            }
        }

        return null;
    }

    /// <summary>The ICMP (or ICMPv6) type named <paramref name="name"/>, or -1.</summary>
    public static int IcmpType(string name, bool v6)
    {
        foreach (var t in v6 ? Icmp6Types : IcmpTypes)
        {
            if (t.Name == name)
            {
                return t.Type;
            }
        }

        return -1;
    }

    /// <summary>The name of ICMP (or ICMPv6) type <paramref name="type"/>, or null.</summary>
    public static string? IcmpTypeName(int type, bool v6)
    {
        foreach (var t in v6 ? Icmp6Types : IcmpTypes)
        {
            if (t.Type == type)
            {
                return t.Name;
            }
        }

        return null;
    }

    /// <summary>The code named <paramref name="name"/> of ICMP type <paramref name="type"/>, or -1.</summary>
    public static int IcmpCode(int type, string name, bool v6)
    {
        foreach (var c in v6 ? Icmp6Codes : IcmpCodes)
        {
            if (c.Type == type && c.Name == name)
            {
                return c.Code;
            }
        }

        return -1;
    }

    /// <summary>The name of code <paramref name="code"/> of ICMP type <paramref name="type"/>, or null.</summary>
    public static string? IcmpCodeName(int type, int code, bool v6)
    {
        foreach (var c in v6 ? Icmp6Codes : IcmpCodes)
        {
            if (c.Type == type && c.Code == code)
            {
                return c.Name;
            }
        }

        return null;
    }

    /// <summary>The PFTM_* index of timeout <paramref name="name"/>, or -1.</summary>
    public static int TimeoutIndex(string name)
    {
        foreach (var t in Timeouts)
        {
            if (t.Name == name)
            {
                return t.Index;
            }
        }

        return -1;
    }

    /// <summary>The name of timeout index <paramref name="index"/>.</summary>
    public static string TimeoutName(int index)
    {
        foreach (var t in Timeouts)
        {
            if (t.Index == index)
            {
                return t.Name;
            }
        }

        return "inv.timeout";
    }

    /// <summary>Formats an unsigned number invariantly.</summary>
    internal static string N(long v) => v.ToString(CultureInfo.InvariantCulture);
}
