namespace Sluice.Wire;

/// <summary>IP protocol numbers / IPv6 next-header values (IANA "Assigned Internet Protocol Numbers").</summary>
public enum IPProtocol : byte
{
    /// <summary>IPv6 Hop-by-Hop Options.</summary>
    HopByHop = 0,
    /// <summary>ICMP for IPv4.</summary>
    Icmp = 1,
    /// <summary>IGMP.</summary>
    Igmp = 2,
    /// <summary>IPv4 encapsulation (IP-in-IP).</summary>
    IPv4 = 4,
    /// <summary>TCP.</summary>
    Tcp = 6,
    /// <summary>UDP.</summary>
    Udp = 17,
    /// <summary>IPv6 encapsulation.</summary>
    IPv6 = 41,
    /// <summary>IPv6 Routing header.</summary>
    IPv6Route = 43,
    /// <summary>IPv6 Fragment header.</summary>
    IPv6Fragment = 44,
    /// <summary>GRE.</summary>
    Gre = 47,
    /// <summary>Encapsulating Security Payload.</summary>
    Esp = 50,
    /// <summary>Authentication Header.</summary>
    Ah = 51,
    /// <summary>ICMP for IPv6.</summary>
    IcmpV6 = 58,
    /// <summary>IPv6 No Next Header.</summary>
    IPv6NoNext = 59,
    /// <summary>IPv6 Destination Options.</summary>
    IPv6DestinationOptions = 60,
    /// <summary>VRRP / CARP.</summary>
    Carp = 112,
    /// <summary>SCTP.</summary>
    Sctp = 132,
    /// <summary>pfsync (FreeBSD's IPPROTO_PFSYNC).</summary>
    Pfsync = 240,
}
