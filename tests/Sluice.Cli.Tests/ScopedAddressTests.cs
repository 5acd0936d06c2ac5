namespace Sluice.Cli.Tests;

/// <summary>netstat -rn IPv6 rows, %zone parsing in the tools, and per-address netstat -i counters.</summary>
public sealed class ScopedAddressTests
{
    private static (int Status, string Out, string Err) Run(params string[] lines)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Lab(stdout, stderr);
        var status = 0;
        foreach (var line in lines)
        {
            status = lab.Execute(line);
        }

        return (status, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void NetstatShowsTheRoutesOfABootedFreeBsdHostWithZones()
    {
        var (status, output, _) = Run("ifconfig epair0 create", "ifconfig epair0a inet6 2001:db8::1/64", "netstat -rn -f inet6");
        Assert.Equal(0, status);
        Assert.Contains("""
            Internet6:
            Destination                       Gateway                       Flags     Netif Expire
            ::/96                             ::1                           URS         lo0
            ::1                               link#1                        UHS         lo0
            ::ffff:0.0.0.0/96                 ::1                           URS         lo0
            2001:db8::/64                     link#2                        U       epair0a
            2001:db8::1                       link#2                        UHS         lo0
            fe80::/10                         ::1                           URS         lo0
            fe80::%lo0/64                     link#1                        U           lo0
            fe80::1%lo0                       link#1                        UHS         lo0
            fe80::%epair0a/64                 link#2                        U       epair0a
            """, output, StringComparison.Ordinal);
        Assert.Matches(@"fe80::[0-9a-f:]+%epair0a +link#2 +UHS +lo0\nff02::/16 +::1 +URS +lo0\n$", output);
    }

    [Theory]
    [InlineData("ping -6 -c 1 fe80::1%")]
    [InlineData("ping -6 -c 1 fe80::1%nosuchif")]
    [InlineData("ping -6 -c 1 fe80::1%99")]
    [InlineData("ping -6 -c 1 fe80::1%99999999999999999999")]
    [InlineData("ping -6 -c 1 fe80::1%lo0%lo0")]
    [InlineData("ping -6 -c 1 2001:db8::1%1")]
    [InlineData("ping -6 -c 1 %lo0")]
    public void BadZonesAreUnknownHostsNotExceptions(string command)
    {
        var (status, _, err) = Run(command);
        Assert.Equal(68, status);
        Assert.StartsWith("ping: cannot resolve ", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("route add -inet6 2001:db8:6::/64 fe80::1%nope", "route: bad address: fe80::1%nope")]
    [InlineData("route add -inet6 fe80::%nope/64 ::1", "route: bad address: fe80::%nope/64")]
    [InlineData("ifconfig lo0 inet6 fe80::5%", "ifconfig: fe80::5%: bad value")]
    [InlineData("ifconfig lo0 inet6 fe80::5%nope/64", "ifconfig: fe80::5%nope/64: bad value")]
    [InlineData("ndp -d fe80::1%zz", "ndp: fe80::1%zz: Unknown host")]
    public void ToolsRejectBadZonesWithTheirOwnWords(string command, string message)
    {
        var (status, _, err) = Run(command);
        Assert.NotEqual(0, status);
        Assert.Contains(message, err, StringComparison.Ordinal);
    }

    [Fact]
    public void ZoneOfAnotherInterfaceIsInvalidForIfconfig()
    {
        var (status, _, err) = Run("ifconfig epair0 create", "ifconfig epair0a inet6 fe80::99%lo0/64");
        Assert.Equal(1, status);
        Assert.Contains("ioctl (SIOCAIFADDR_IN6): Invalid argument", err, StringComparison.Ordinal);
    }

    [Fact]
    public void ZonelessLinkLocalPingMeetsTheRejectRouteAndZonedOneGoesOut()
    {
        // in6_selectif refuses the fe80::/10 reject route, a network route: ENETUNREACH for ping6's dummy UDP connect.
        var (status, _, err) = Run("ping -6 -c 1 fe80::1");
        Assert.Equal(1, status);
        Assert.Contains("ping: UDP connect: Network is unreachable", err, StringComparison.Ordinal);

        (status, var output, _) = Run(
            "jail -c name=a vnet persist", "jail -c name=b vnet persist", "ifconfig epair0 create",
            "ifconfig epair0a vnet a", "ifconfig epair0b vnet b",
            "jexec a ifconfig epair0a inet6 -ifdisabled up", "jexec b ifconfig epair0b inet6 -ifdisabled up",
            "jexec b ifconfig epair0b", "jexec a ndp -an");
        Assert.Equal(0, status);
        var ll = System.Text.RegularExpressions.Regex.Match(output, @"inet6 (fe80::[0-9a-f:]+)%epair0b prefixlen 64 (?:tentative )?scopeid 0x2");
        Assert.True(ll.Success, output);

        var lines = new List<string>
        {
            "jail -c name=a vnet persist", "jail -c name=b vnet persist", "ifconfig epair0 create",
            "ifconfig epair0a vnet a", "ifconfig epair0b vnet b",
            "jexec a ifconfig epair0a inet6 -ifdisabled up", "jexec b ifconfig epair0b inet6 -ifdisabled up",
            "jexec a sleep 3",
            $"jexec a ping -6 -c 2 {ll.Groups[1].Value}%epair0a",
            "jexec a netstat -i",
        };
        (status, output, var stderr) = Run([.. lines]);
        Assert.True(status == 0, stderr + output);
        Assert.Contains($"64 bytes from {ll.Groups[1].Value}%epair0a, icmp_seq=1 hlim=64", output, StringComparison.Ordinal);
        Assert.Contains($"--> {ll.Groups[1].Value}%epair0a\n", output, StringComparison.Ordinal);

        // The address row of the link-local address counts the echo requests and replies (plus ND).
        var row = System.Text.RegularExpressions.Regex.Match(output, @"epair     - fe80::%epair0 fe80::\S+ +(\d+) +- +- +(\d+) +- +-\n");
        Assert.True(row.Success, output);
        Assert.True(int.Parse(row.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 2);
        Assert.True(int.Parse(row.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) >= 2);
    }

    private static readonly string[] TwoJails =
    [
        "jail -c name=a vnet persist", "jail -c name=b vnet persist", "ifconfig epair0 create",
        "ifconfig epair0a vnet a", "ifconfig epair0b vnet b",
        "jexec a ifconfig epair0a inet6 fe80::a%epair0a/64", "jexec b ifconfig epair0b inet6 fe80::b%epair0b/64",
        "jexec a sleep 3",
    ];

    [Fact]
    public void PingDashIPicksTheInterfaceOfAZonelessLinkLocalDestination()
    {
        var (status, output, err) = Run([.. TwoJails, "jexec a ping -6 -c 2 -I epair0a fe80::b"]);
        Assert.True(status == 0, err + output);

        // ping6.c: the source from the dummy socket's getsockname carries the zone; the destination has none (-I sets
        // ipi6_ifindex, not sin6_scope_id); replies carry the zone recvmsg reports.
        Assert.Contains("PING(104=40+8+56 bytes) fe80::a%epair0a --> fe80::b\n", output, StringComparison.Ordinal);
        Assert.Contains("64 bytes from fe80::b%epair0a, icmp_seq=0 hlim=64", output, StringComparison.Ordinal);
        Assert.Contains("64 bytes from fe80::b%epair0a, icmp_seq=1 hlim=64", output, StringComparison.Ordinal);
        Assert.Contains("2 packets transmitted, 2 packets received, 0.0% packet loss", output, StringComparison.Ordinal);
    }

    [Fact]
    public void PingDashIWithAnUnknownInterfaceFailsAsPing6Does()
    {
        var (status, _, err) = Run("ping -6 -c 1 -I nosuch0 fe80::1");
        Assert.Equal(1, status);
        Assert.Equal("ping: nosuch0: invalid interface name\n", err);
    }

    [Fact]
    public void RouteGetOfAZonedDestinationShowsTheZonedInterfaceRoute()
    {
        var (status, output, err) = Run("ifconfig epair0 create", "ifconfig epair0a inet6 2001:db8::1/64", "route -n get -inet6 fe80::1%epair0a");
        Assert.True(status == 0, err);

        // route.c print_getmsg: routename() prints the reply's scoped destination with its zone by name; the mask
        // numerically; no gateway line without RTF_GATEWAY.
        Assert.Contains(
            "   route to: fe80::1%epair0a\n"
            + "destination: fe80::%epair0a\n"
            + "       mask: ffff:ffff:ffff:ffff::\n"
            + "        fib: 0\n"
            + "  interface: epair0a\n",
            output,
            StringComparison.Ordinal);
        Assert.DoesNotContain("gateway:", output, StringComparison.Ordinal);

        // Without the zone the lookup meets rc.d's fe80::/10 reject route via ::1.
        (status, output, _) = Run("ifconfig epair0 create", "ifconfig epair0a inet6 2001:db8::1/64", "route -n get -inet6 fe80::1");
        Assert.Equal(0, status);
        Assert.Contains("destination: fe80::\n       mask: ffc0::\n    gateway: ::1\n", output, StringComparison.Ordinal);
        Assert.Contains("  interface: lo0\n", output, StringComparison.Ordinal);
        Assert.Contains("REJECT", output, StringComparison.Ordinal);
    }

    [Fact]
    public void OneLinkLocalAddressOnTwoInterfacesKeepsBothZones()
    {
        var (status, output, err) = Run(
            "ifconfig epair0 create", "ifconfig epair1 create",
            "ifconfig epair0a inet6 fe80::1%epair0a/64", "ifconfig epair1a inet6 fe80::1%epair1a/64",
            "ifconfig epair0a", "ifconfig epair1a", "route -n get -inet6 fe80::1%epair1a", "netstat -rn -f inet6");
        Assert.True(status == 0, err);
        Assert.Contains("inet6 fe80::1%epair0a prefixlen 64", output, StringComparison.Ordinal);
        Assert.Contains("inet6 fe80::1%epair1a prefixlen 64", output, StringComparison.Ordinal);
        Assert.Contains("   route to: fe80::1%epair1a\ndestination: fe80::1%epair1a\n        fib: 0\n  interface: lo0\n", output, StringComparison.Ordinal);
        Assert.Matches(@"fe80::1%epair0a +link#2 +UHS +lo0\n", output);
        Assert.Matches(@"fe80::1%epair1a +link#4 +UHS +lo0\n", output);
    }

    [Fact]
    public void NetstatCountsTheMldReportsInTheIcmp6OutputHistogram()
    {
        var (status, output, err) = Run("ifconfig epair0 create", "ifconfig epair0a inet6 2001:db8::1/64", "sleep 5", "netstat -s -p icmp6");
        Assert.True(status == 0, err);

        // Two solicited-node groups (link-local and global address), each reported twice (robustness 2): the first
        // report carries both records, the retransmissions may share a report or not (random delays).
        var output6 = System.Text.RegularExpressions.Regex.Match(output, "\tOutput histogram:\n((?:\t\t.*\n)+)");
        Assert.True(output6.Success, output);
        Assert.Matches("\t\tneighbor solicitation: \\d+\n\t\tMLDv2 listener report: [23]\n$", output6.Groups[1].Value);
        Assert.DoesNotContain("multicast listener report", output, StringComparison.Ordinal);
    }
}
