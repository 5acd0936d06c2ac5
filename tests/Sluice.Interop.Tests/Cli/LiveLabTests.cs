using System.Globalization;
using System.Text.RegularExpressions;
using Sluice.Interop.Tests.Infrastructure;

namespace Sluice.Interop.Tests.Cli;

/// <summary>
/// Real-time labs driven by FreeBSD commands against Linux in namespaces: <c>ifconfig tapN create</c>, the CLI's
/// <c>ping</c> with FreeBSD output, forwarding across VNET jails, and <c>tcpdump -w</c> read back by tshark.
/// </summary>
public sealed partial class LiveLabTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [InteropFact]
    public void SluicePingReachesLinuxWithFreeBsdOutputWhileTcpdumpCapturesTheExchange()
    {
        var pcap = Path.Combine(Path.GetTempPath(), $"sluice-live-{NetNamespace.RandomHex(4)}.pcap");
        try
        {
            string ping;
            using (var live = new LiveLab(output))
            {
                live.Run("ifconfig tap0 create");
                live.Run("ifconfig tap0 inet 192.0.2.2/24 up");
                var ns = live.CreateNamespace();
                ns.AdoptAndConfigure(live.LinuxName("tap0"), "192.0.2.1/24", ipv6: null);

                live.Run($"tcpdump -i tap0 -w {pcap}");
                Assert.Contains("tcpdump: listening on tap0, link-type EN10MB (Ethernet), snapshot length 262144 bytes", live.Stderr, StringComparison.Ordinal);
                ping = live.Run("ping -c 3 192.0.2.1");
            }

            Assert.Contains("PING 192.0.2.1 (192.0.2.1): 56 data bytes", ping, StringComparison.Ordinal);
            Assert.Contains("--- 192.0.2.1 ping statistics ---", ping, StringComparison.Ordinal);
            Assert.Contains("3 packets transmitted, 3 packets received, 0.0% packet loss", ping, StringComparison.Ordinal);
            AssertRealRoundTrips(ping, 3);
            Assert.Matches(@"64 bytes from 192\.0\.2\.1: icmp_seq=0 ttl=64 time=", ping);

            var decoded = Command.Run("tshark", ["-n", "-r", pcap], Bound, output);
            Assert.True(decoded.Succeeded, decoded.ToString());
            Assert.DoesNotContain("[Malformed", decoded.Stdout, StringComparison.Ordinal);
            Assert.Equal(3, CountOf(decoded.Stdout, "Echo (ping) request"));
            Assert.Equal(3, CountOf(decoded.Stdout, "Echo (ping) reply"));
            Assert.Matches(@"192\.0\.2\.2 → 192\.0\.2\.1 +ICMP 98 Echo \(ping\) request", decoded.Stdout);
            Assert.Contains("ARP", decoded.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(pcap);
        }
    }

    [InteropFact]
    public void SluicePing6ReachesLinuxWithFreeBsdOutput()
    {
        using var live = new LiveLab(output);
        live.Run("ifconfig tap0 create");
        live.Run("ifconfig tap0 inet6 2001:db8::2/64 no_dad up");
        var ns = live.CreateNamespace();
        ns.AdoptAndConfigure(live.LinuxName("tap0"), ipv4: null, ipv6: "2001:db8::1/64");

        var ping = live.Run("ping -6 -c 3 2001:db8::1");
        Assert.Contains("PING(104=40+8+56 bytes) 2001:db8::2 --> 2001:db8::1", ping, StringComparison.Ordinal);
        Assert.Contains("3 packets transmitted, 3 packets received, 0.0% packet loss", ping, StringComparison.Ordinal);
        AssertRealRoundTrips(ping, 3);
    }

    [InteropFact]
    public void LinuxPingReachesAJailBehindASluiceRouterJail()
    {
        using var live = new LiveLab(output);

        // Linux (192.0.2.1) -- tap0 [jail rtr] epair0a -- epair0b [jail srv 198.51.100.2]
        live.Run("jail -c name=rtr vnet persist");
        live.Run("jail -c name=srv vnet persist");
        live.Run("ifconfig tap0 create");
        live.Run("ifconfig tap0 vnet rtr");
        live.Run("ifconfig epair0 create");
        live.Run("ifconfig epair0a vnet rtr");
        live.Run("ifconfig epair0b vnet srv");
        live.Run("jexec rtr sysctl net.inet.ip.forwarding=1");
        live.Run("jexec rtr sysctl net.inet6.ip6.forwarding=1");
        live.Run("jexec rtr ifconfig tap0 inet 192.0.2.2/24 up");
        live.Run("jexec rtr ifconfig tap0 inet6 2001:db8::2/64 no_dad");
        live.Run("jexec rtr ifconfig epair0a inet 198.51.100.1/24 up");
        live.Run("jexec rtr ifconfig epair0a inet6 2001:db8:1::1/64 no_dad");
        live.Run("jexec srv ifconfig epair0b inet 198.51.100.2/24 up");
        live.Run("jexec srv ifconfig epair0b inet6 2001:db8:1::2/64 no_dad");
        live.Run("jexec srv route add default 198.51.100.1");
        live.Run("jexec srv route add -inet6 default 2001:db8:1::1");
        Assert.Null(live.Lab.Host.FindInterface("tap0"));

        var ns = live.CreateNamespace();
        ns.AdoptAndConfigure(live.LinuxName("tap0"), "192.0.2.1/24", "2001:db8::1/64");
        ns.Exec("ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.2").EnsureSuccess();
        ns.Exec("ip", "-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8::2").EnsureSuccess();

        var ping = live.Drive(ns.ExecAsync(Bound, "ping", "-c", "3", "-i", "0.3", "-W", "2", "198.51.100.2"), Bound);
        Assert.True(ping.Succeeded, ping.ToString());
        Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", ping.Stdout, StringComparison.Ordinal);
        Assert.Contains("ttl=63", ping.Stdout, StringComparison.Ordinal); // one hop: the router jail decremented it

        var ping6 = live.Drive(ns.ExecAsync(Bound, "ping", "-6", "-c", "3", "-i", "0.3", "-W", "2", "2001:db8:1::2"), Bound);
        Assert.True(ping6.Succeeded, ping6.ToString());
        Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", ping6.Stdout, StringComparison.Ordinal);
        Assert.Contains("ttl=63", ping6.Stdout, StringComparison.Ordinal);

        // And back out: the server jail pings Linux through the router.
        var back = live.Run("jexec srv ping -c 2 -i 0.3 192.0.2.1");
        Assert.Contains("2 packets transmitted, 2 packets received, 0.0% packet loss", back, StringComparison.Ordinal);
        Assert.Contains("ttl=63", back, StringComparison.Ordinal);
    }

    [InteropFact]
    public void LinuxHostsPingEachOtherThroughTheLiveRouterExample()
    {
        using var live = new LiveLab(output);
        Assert.Equal(0, live.Lab.RunScript(ExamplesPath("live-router.lab")));

        var a = live.CreateNamespace();
        a.AdoptAndConfigure(live.LinuxName("tap0"), "198.51.100.2/24", "2001:db8:1::2/64");
        a.Exec("ip", "route", "add", "default", "via", "198.51.100.1").EnsureSuccess();
        a.Exec("ip", "-6", "route", "add", "default", "via", "2001:db8:1::1").EnsureSuccess();
        var b = live.CreateNamespace();
        b.AdoptAndConfigure(live.LinuxName("tap1"), "203.0.113.2/24", "2001:db8:2::2/64");
        b.Exec("ip", "route", "add", "default", "via", "203.0.113.1").EnsureSuccess();
        b.Exec("ip", "-6", "route", "add", "default", "via", "2001:db8:2::1").EnsureSuccess();

        // The IPv6 addresses on Sluice's side do DAD for a second after the script; ping's retries cover it.
        var ping = live.Drive(a.ExecAsync(Bound, "ping", "-c", "3", "-i", "0.3", "-W", "2", "203.0.113.2"), Bound);
        Assert.True(ping.Succeeded, ping.ToString());
        Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", ping.Stdout, StringComparison.Ordinal);
        Assert.Contains("ttl=63", ping.Stdout, StringComparison.Ordinal);

        var ping6 = live.Drive(b.ExecAsync(Bound, "ping", "-6", "-c", "3", "-i", "0.3", "-W", "2", "2001:db8:1::2"), Bound);
        Assert.True(ping6.Succeeded, ping6.ToString());
        Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", ping6.Stdout, StringComparison.Ordinal);

        var netstat = live.Run("netstat -rn");
        Assert.Contains("198.51.100.0/24", netstat, StringComparison.Ordinal);
    }

    [InteropFact]
    public void TapDestroyRemovesTheLinuxDeviceAndEndsItsCapture()
    {
        var pcap = Path.Combine(Path.GetTempPath(), $"sluice-live-{NetNamespace.RandomHex(4)}.pcap");
        try
        {
            using var live = new LiveLab(output);
            Assert.Equal("tap0\n", live.Run("ifconfig tap create"));
            Assert.Equal("tap1\n", live.Run("ifconfig tap create"));
            Command.Run("ip", ["link", "show", live.LinuxName("tap0")], log: output).EnsureSuccess();
            Assert.Contains("groups: tap", live.Run("ifconfig tap0"), StringComparison.Ordinal);
            var (status, _) = live.TryRun("ifconfig tap0 create");
            Assert.Equal(1, status);
            Assert.Contains("ifconfig: SIOCIFCREATE2 (tap0): File exists", live.Stderr, StringComparison.Ordinal);

            live.Run($"tcpdump -i tap1 -w {pcap}");
            live.Run("ifconfig tap1 destroy");
            live.Run("ifconfig tap0 destroy");
            Assert.Contains("0 packets captured", live.Stderr, StringComparison.Ordinal);
            Assert.Empty(live.Lab.Captures);
            Assert.Equal("lo0\n", live.Run("ifconfig -l"));
            Assert.False(Command.Run("ip", ["link", "show", live.LinuxName("tap0")], log: output).Succeeded);
            Assert.False(Command.Run("ip", ["link", "show", live.LinuxName("tap1")], log: output).Succeeded);
        }
        finally
        {
            File.Delete(pcap);
        }
    }

    private static void AssertRealRoundTrips(string ping, int expected)
    {
        var times = TimeRegex().Matches(ping).Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(expected, times.Count);
        Assert.All(times, t => Assert.True(t > 0, $"time={t} in\n{ping}"));
        Assert.Matches(@"round-trip min/avg/max/stddev = \d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3} ms", ping);
    }

    internal static string ExamplesPath(string file)
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !Directory.Exists(Path.Combine(dir, "examples")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        Assert.NotNull(dir);
        return Path.Combine(dir!, "examples", file);
    }

    internal static int CountOf(string text, string what)
    {
        var count = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    [GeneratedRegex(@" time=(\d+\.\d+) ms")]
    private static partial Regex TimeRegex();
}
