using System.Globalization;
using System.Text;

namespace Sluice.Cli.Formatting;

/// <summary>An IPv4 address as ifconfig prints it.</summary>
internal sealed record Inet4Line(string Address, uint Netmask, string? Broadcast);

/// <summary>An IPv6 address as ifconfig prints it (link-local already carrying <c>%ifname</c>).</summary>
internal sealed record Inet6Line(string Address, int PrefixLength, uint Flags, int ScopeId);

/// <summary>Everything ifconfig prints about one interface.</summary>
internal sealed record InterfaceStatus(
    string Name,
    uint Flags,
    int Mtu,
    string? Description,
    uint Options,
    string? Ether,
    IReadOnlyList<Inet4Line> Inet,
    IReadOnlyList<Inet6Line> Inet6,
    IReadOnlyList<string> Groups,
    string? Media,
    string? Status,
    uint Nd6Options);

/// <summary>ifconfig's status output in FreeBSD 14's order (ifconfig_netlink.c status_nl, af_inet.c, af_inet6.c).</summary>
internal static class IfconfigFormat
{
    /// <summary>IFFBITS; names past the sampled ones are from memory (unconfirmed); 0x20 and 0x10000 have no name [sample].</summary>
    public static readonly (ulong Bit, string Name)[] InterfaceFlagNames =
    [
        (0x1, "UP"), (0x2, "BROADCAST"), (0x4, "DEBUG"), (0x8, "LOOPBACK"), (0x10, "POINTOPOINT"), (0x40, "RUNNING"),
        (0x80, "NOARP"), (0x100, "PROMISC"), (0x200, "ALLMULTI"), (0x400, "OACTIVE"), (0x800, "SIMPLEX"), (0x1000, "LINK0"),
        (0x2000, "LINK1"), (0x4000, "LINK2"), (0x8000, "MULTICAST"), (0x20000, "PPROMISC"), (0x40000, "MONITOR"),
        (0x80000, "STATICARP"), (0x100000, "STICKYARP"), (0x1000000, "LOWER_UP"),
    ];

    /// <summary>IFCAPBITS for the capabilities Sluice's interfaces report (lo0 and epair values [sample]).</summary>
    public static readonly (ulong Bit, string Name)[] CapabilityNames =
    [
        (0x1, "RXCSUM"), (0x2, "TXCSUM"), (0x4, "NETCONS"), (0x8, "VLAN_MTU"), (0x10, "VLAN_HWTAGGING"), (0x20, "JUMBO_MTU"),
        (0x40, "POLLING"), (0x80, "VLAN_HWCSUM"), (0x100, "TSO4"), (0x200, "TSO6"), (0x400, "LRO"), (0x800, "WOL_UCAST"),
        (0x1000, "WOL_MCAST"), (0x2000, "WOL_MAGIC"), (0x4000, "TOE4"), (0x8000, "TOE6"), (0x10000, "VLAN_HWFILTER"),
        (0x40000, "VLAN_HWTSO"), (0x80000, "LINKSTATE"), (0x100000, "NETMAP"), (0x200000, "RXCSUM_IPV6"),
        (0x400000, "TXCSUM_IPV6"), (0x800000, "HWSTATS"), (0x1000000, "TXRTLMT"), (0x2000000, "HWRXTSTMP"), (0x4000000, "NOMAP"),
    ];

    /// <summary>ND6BITS [sample for PERFORMNUD, ACCEPT_RTADV, IFDISABLED, AUTO_LINKLOCAL; rest unconfirmed].</summary>
    public static readonly (ulong Bit, string Name)[] Nd6Names =
    [
        (0x1, "PERFORMNUD"), (0x2, "ACCEPT_RTADV"), (0x4, "PREFER_SOURCE"), (0x8, "IFDISABLED"), (0x10, "DONT_SET_IFROUTE"),
        (0x20, "AUTO_LINKLOCAL"), (0x40, "NO_RADR"), (0x80, "NO_PREFER_IFACE"), (0x100, "NO_DAD"),
    ];

    /// <summary>in6_status flag words in af_inet6.c's order, with IN6_IFF_* values [src].</summary>
    private static readonly (uint Bit, string Name)[] Inet6FlagNames =
    [
        (0x01, "anycast"), (0x02, "tentative"), (0x04, "duplicated"), (0x08, "detached"), (0x10, "deprecated"),
        (0x40, "autoconf"), (0x80, "temporary"), (0x100, "prefer_source"),
    ];

    /// <summary>The full block for one interface; every line ends with '\n', continuation lines start with a TAB.</summary>
    public static string Status(InterfaceStatus s)
    {
        var sb = new StringBuilder();
        sb.Append(s.Name).Append(": flags=").Append(CFormat.Bits(s.Flags, InterfaceFlagNames))
          .Append(" metric 0 mtu ").Append(s.Mtu.ToString(CultureInfo.InvariantCulture)).Append('\n');
        if (!string.IsNullOrEmpty(s.Description))
        {
            sb.Append("\tdescription: ").Append(s.Description).Append('\n');
        }

        if (s.Options != 0)
        {
            sb.Append("\toptions=").Append(CFormat.Bits(s.Options, CapabilityNames)).Append('\n');
        }

        if (s.Ether is not null)
        {
            sb.Append("\tether ").Append(s.Ether).Append('\n');
        }

        foreach (var a in s.Inet)
        {
            sb.Append(Inet(a));
        }

        foreach (var a in s.Inet6)
        {
            sb.Append(Inet6(a));
        }

        if (s.Groups.Count > 0)
        {
            sb.Append("\tgroups: ").Append(string.Join(' ', s.Groups)).Append('\n');
        }

        if (s.Media is not null)
        {
            sb.Append("\tmedia: ").Append(s.Media).Append('\n');
        }

        if (s.Status is not null)
        {
            sb.Append("\tstatus: ").Append(s.Status).Append('\n');
        }

        sb.Append("\tnd6 options=").Append(CFormat.Bits(s.Nd6Options, Nd6Names)).Append('\n');
        return sb.ToString();
    }

    /// <summary><c>\tinet A netmask 0xM broadcast B</c> (af_inet.c; broadcast only when the interface has one) [src].</summary>
    public static string Inet(Inet4Line a)
    {
        var sb = new StringBuilder("\tinet ");
        sb.Append(a.Address).Append(" netmask 0x").Append(a.Netmask.ToString("x", CultureInfo.InvariantCulture));
        if (a.Broadcast is not null)
        {
            sb.Append(" broadcast ").Append(a.Broadcast);
        }

        return sb.Append('\n').ToString();
    }

    /// <summary><c>\tinet6 A prefixlen N [flags] [scopeid 0xN]</c> (af_inet6.c) [src].</summary>
    public static string Inet6(Inet6Line a)
    {
        var sb = new StringBuilder("\tinet6 ");
        sb.Append(a.Address).Append(" prefixlen ").Append(a.PrefixLength.ToString(CultureInfo.InvariantCulture));
        foreach (var (bit, name) in Inet6FlagNames)
        {
            if ((a.Flags & bit) != 0)
            {
                sb.Append(' ').Append(name);
            }
        }

        if (a.ScopeId != 0)
        {
            sb.Append(" scopeid 0x").Append(a.ScopeId.ToString("x", CultureInfo.InvariantCulture));
        }

        return sb.Append('\n').ToString();
    }
}
