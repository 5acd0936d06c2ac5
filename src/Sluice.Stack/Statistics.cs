namespace Sluice.Stack;

/// <summary>IPv4 counters (struct ipstat; `netstat -s -p ip`). Field comments give FreeBSD's name.</summary>
public sealed class IpStatistics
{
    public long Total;             // ips_total
    public long BadSum;            // ips_badsum
    public long TooShort;          // ips_tooshort
    public long TooSmall;          // ips_toosmall
    public long BadHeaderLength;   // ips_badhlen
    public long BadLength;         // ips_badlen
    public long Fragments;         // ips_fragments
    public long FragmentsDropped;  // ips_fragdropped
    public long FragmentsTimedOut; // ips_fragtimeout
    public long Forwarded;         // ips_forward
    public long FastForwarded;     // ips_fastforward
    public long CantForward;       // ips_cantforward
    public long RedirectSent;      // ips_redirectsent
    public long NoProtocol;        // ips_noproto
    public long Delivered;         // ips_delivered
    public long LocalOut;          // ips_localout
    public long OutputDropped;     // ips_odropped
    public long Reassembled;       // ips_reassembled
    public long Fragmented;        // ips_fragmented
    public long OutputFragments;   // ips_ofragments
    public long CantFragment;      // ips_cantfrag
    public long BadOptions;        // ips_badoptions
    public long NoRoute;           // ips_noroute
    public long BadVersion;        // ips_badvers
    public long RawOut;            // ips_rawout
    public long TooLong;           // ips_toolong
    public long NotMember;         // ips_notmember
    public long NoGif;             // ips_nogif
    public long BadAddress;        // ips_badaddr
    public long FilterDropped;     // dropped by a pfil hook (pf/ipfw keep their own counts)
}

/// <summary>ICMPv4 counters (struct icmpstat).</summary>
public sealed class IcmpStatistics
{
    public long Error;             // icps_error: calls to icmp_error
    public long OldShort;          // icps_oldshort
    public long OldIcmp;           // icps_oldicmp
    public long BadCode;           // icps_badcode
    public long TooShort;          // icps_tooshort
    public long Checksum;          // icps_checksum
    public long BadLength;         // icps_badlen
    public long Reflect;           // icps_reflect
    public long BroadcastEchoDropped; // icps_bmcastecho
    public long RateLimited;       // responses suppressed by net.inet.icmp.icmplim
    public readonly long[] OutHistogram = new long[256]; // icps_outhist
    public readonly long[] InHistogram = new long[256];  // icps_inhist
}

/// <summary>UDP counters (struct udpstat).</summary>
public sealed class UdpStatistics
{
    public long Received;          // udps_ipackets
    public long HeaderDropped;     // udps_hdrops
    public long BadSum;            // udps_badsum
    public long NoChecksum;        // udps_nosum
    public long BadLength;         // udps_badlen
    public long NoPort;            // udps_noport
    public long NoPortBroadcast;   // udps_noportbcast
    public long FullSocket;        // udps_fullsock
    public long Delivered;         // udps_ipackets - drops
    public long Sent;              // udps_opackets
}

/// <summary>IPv6 counters (struct ip6stat).</summary>
public sealed class Ip6Statistics
{
    public long Total;             // ip6s_total
    public long TooShort;          // ip6s_tooshort
    public long TooSmall;          // ip6s_toosmall
    public long Fragments;         // ip6s_fragments
    public long FragmentsDropped;  // ip6s_fragdropped
    public long FragmentsTimedOut; // ip6s_fragtimeout
    public long FragmentOverflow;  // ip6s_fragoverflow
    public long Forwarded;         // ip6s_forward
    public long CantForward;       // ip6s_cantforward
    public long Delivered;         // ip6s_delivered
    public long LocalOut;          // ip6s_localout
    public long OutputDropped;     // ip6s_odropped
    public long Reassembled;       // ip6s_reassembled
    public long Fragmented;        // ip6s_fragmented
    public long OutputFragments;   // ip6s_ofragments
    public long CantFragment;      // ip6s_cantfrag
    public long BadOptions;        // ip6s_badoptions
    public long NoRoute;           // ip6s_noroute
    public long BadVersion;        // ip6s_badvers
    public long BadScope;          // ip6s_badscope
    public long NoProtocol;        // ip6s_noproto (unknown next header)
    public long TooManyHeaders;    // ip6s_toomanyhdr
    public long FilterDropped;
}

/// <summary>ICMPv6 counters (struct icmp6stat).</summary>
public sealed class Icmp6Statistics
{
    public long Error;             // icp6s_error
    public long CantError;         // icp6s_canterror
    public long TooFreq;           // icp6s_toofreq (rate limited)
    public long BadCode;           // icp6s_badcode
    public long TooShort;          // icp6s_tooshort
    public long Checksum;          // icp6s_checksum
    public long BadLength;         // icp6s_badlen
    public long Reflect;           // icp6s_reflect
    public long BadNeighborSolicit;  // icp6s_badns
    public long BadNeighborAdvert;   // icp6s_badna
    public long DadConflicts;      // duplicate addresses detected
    public readonly long[] OutHistogram = new long[256];
    public readonly long[] InHistogram = new long[256];
}

/// <summary>ARP counters (struct arpstat).</summary>
public sealed class ArpStatistics
{
    public long TxRequests;        // txrequests
    public long TxReplies;         // txreplies
    public long RxRequests;        // rxrequests
    public long RxReplies;         // rxreplies
    public long Received;          // received
    public long Dropped;           // dropped: held packets dropped for lack of a reply or queue space
    public long Timeouts;          // timeouts
    public long DuplicateIPs;      // dupips
}
