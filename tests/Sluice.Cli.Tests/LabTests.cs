namespace Sluice.Cli.Tests;

/// <summary>Whole labs on virtual time: several VNET stacks in one process driven by FreeBSD commands.</summary>
public sealed class LabTests
{
    private static string ExamplesPath(string file)
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !Directory.Exists(Path.Combine(dir, "examples")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        Assert.NotNull(dir);
        return Path.Combine(dir!, "examples", file);
    }

    private static (int Status, string Out, string Err) Script(string text, string name = "test.lab")
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Lab(stdout, stderr);
        var status = lab.RunScriptText(text, name);
        return (status, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void QuickstartPingsAcrossTheRouter()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Lab(stdout, stderr);
        var status = lab.RunScript(ExamplesPath("quickstart.lab"));
        var output = stdout.ToString();
        Assert.True(status == 0, stderr.ToString());
        Assert.Equal(string.Empty, stderr.ToString());
        Assert.Contains("PING 198.51.100.2 (198.51.100.2): 56 data bytes\n", output, StringComparison.Ordinal);
        for (var seq = 0; seq < 3; seq++)
        {
            Assert.Matches($@"64 bytes from 198\.51\.100\.2: icmp_seq={seq} ttl=63 time=\d+\.\d{{3}} ms\n", output);
            Assert.Matches($@"64 bytes from 2001:db8:2::2, icmp_seq={seq} hlim=63 time=\d+\.\d{{3}} ms\n", output);
        }

        Assert.Contains("\n--- 198.51.100.2 ping statistics ---\n3 packets transmitted, 3 packets received, 0.0% packet loss\n", output, StringComparison.Ordinal);
        Assert.Contains("PING(104=40+8+56 bytes) 2001:db8:1::2 --> 2001:db8:2::2\n", output, StringComparison.Ordinal);
        Assert.Contains("net.inet.ip.forwarding: 0 -> 1\n", output, StringComparison.Ordinal);

        // The three pings took seconds of virtual time.
        Assert.True(lab.Loop.Now >= 3_000_000_000L, $"virtual time {lab.Loop.Now}");
        Assert.Equal(3, lab.Jails.Count);
        Assert.NotNull(lab.Jail("r")!.Stack.FindInterface("epair0b"));
    }

    [Fact]
    public void AFailingLineStopsTheScriptWithFileAndLine()
    {
        var (status, stdout, stderr) = Script("echo first\n\n# comment\nifconfig epair9a up\necho never\n", "bad.lab");
        Assert.Equal(1, status);
        Assert.Equal("first\n", stdout);
        Assert.Contains("ifconfig: interface epair9a does not exist\n", stderr, StringComparison.Ordinal);
        Assert.Contains("bad.lab:4: ifconfig epair9a up: ifconfig: interface epair9a does not exist\n", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void ContinuedLinesReportTheirFirstLine()
    {
        var (status, _, stderr) = Script("echo a\nping -c 1 \\\n  10.0.0.999\n", "c.lab");
        Assert.Equal(68, status);
        Assert.Contains("ping: cannot resolve 10.0.0.999: Unknown host\n", stderr, StringComparison.Ordinal);
        Assert.Contains("c.lab:2: ping -c 1   10.0.0.999: ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void NegatedCommandsExpectFailure()
    {
        var (status, _, _) = Script("! ifconfig nope0 up\n");
        Assert.Equal(0, status);
        var (status2, _, stderr2) = Script("! echo hi\n", "n.lab");
        Assert.Equal(1, status2);
        Assert.Contains("n.lab:1: ! echo hi: command unexpectedly succeeded", stderr2, StringComparison.Ordinal);
    }

    [Fact]
    public void AnInterfaceMovedIntoAJailLeavesTheHost()
    {
        var stdout = new StringWriter();
        using var lab = new Lab(stdout, new StringWriter());
        Assert.Equal(0, lab.Execute("jail -c name=j1 vnet persist"));
        Assert.Equal(0, lab.Execute("ifconfig epair create"));
        Assert.Equal("epair0a\n", stdout.ToString());
        Assert.Equal(0, lab.Execute("ifconfig epair0b vnet j1"));
        stdout.GetStringBuilder().Clear();
        Assert.Equal(0, lab.Execute("ifconfig -l"));
        Assert.Equal("lo0 epair0a\n", stdout.ToString());
        stdout.GetStringBuilder().Clear();
        lab.Execute("ifconfig");
        Assert.DoesNotContain("epair0b", stdout.ToString(), StringComparison.Ordinal);
        stdout.GetStringBuilder().Clear();
        Assert.Equal(0, lab.Execute("jexec j1 ifconfig -l"));
        Assert.Equal("lo0 epair0b\n", stdout.ToString());
        Assert.Equal(1, lab.Execute("ifconfig epair0b up"));

        // ... and -vnet brings it back.
        Assert.Equal(0, lab.Execute("ifconfig epair0b -vnet j1"));
        Assert.NotNull(lab.Host.FindInterface("epair0b"));
        Assert.Null(lab.Jail("j1")!.Stack.FindInterface("epair0b"));
    }

    [Fact]
    public void EpairUnitsAreGlobalAcrossVnets()
    {
        var stdout = new StringWriter();
        using var lab = new Lab(stdout, new StringWriter());
        lab.Execute("jail -c name=a vnet persist");
        lab.Execute("ifconfig epair create");
        lab.Execute("jexec a ifconfig epair create");
        lab.Execute("ifconfig epair5 create");
        Assert.Equal("epair0a\nepair1a\nepair5a\n", stdout.ToString());
        Assert.Equal(1, lab.Execute("jexec a ifconfig epair0 create"));
        Assert.Equal(0, lab.Execute("ifconfig epair0a destroy"));
        Assert.Null(lab.Host.FindInterface("epair0b"));
    }

    [Fact]
    public void SysctlSetPrintsOldAndNew()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Lab(stdout, stderr);
        Assert.Equal(0, lab.Execute("sysctl net.inet.ip.forwarding=1"));
        Assert.Equal("net.inet.ip.forwarding: 0 -> 1\n", stdout.ToString());
        stdout.GetStringBuilder().Clear();
        Assert.Equal(0, lab.Execute("sysctl -n net.inet.ip.forwarding"));
        Assert.Equal("1\n", stdout.ToString());
        Assert.Equal(1, lab.Execute("sysctl net.inet.no.such"));
        Assert.Equal("sysctl: unknown oid 'net.inet.no.such'\n", stderr.ToString());
        stdout.GetStringBuilder().Clear();
        Assert.Equal(0, lab.Execute("sysctl net.inet.ip"));
        Assert.Contains("net.inet.ip.forwarding: 1\n", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("net.inet.ip.ttl: 64\n", stdout.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void SysctlsArePerVnet()
    {
        var stdout = new StringWriter();
        using var lab = new Lab(stdout, new StringWriter());
        lab.Execute("jail -c name=r vnet persist");
        lab.Execute("jexec r sysctl net.inet.ip.forwarding=1");
        stdout.GetStringBuilder().Clear();
        lab.Execute("sysctl -n net.inet.ip.forwarding");
        lab.Execute("jexec r sysctl -n net.inet.ip.forwarding");
        Assert.Equal("0\n1\n", stdout.ToString());
    }

    [Fact]
    public void PingWithoutAnswerExitsTwo()
    {
        var (status, stdout, _) = Script("""
            ifconfig epair0 create
            ifconfig epair0a inet 192.0.2.1/24 up
            ping -c 2 -i 0.2 192.0.2.99
            """);
        Assert.Equal(2, status);
        Assert.Contains("PING 192.0.2.99 (192.0.2.99): 56 data bytes\n", stdout, StringComparison.Ordinal);
        Assert.Contains("\n--- 192.0.2.99 ping statistics ---\n2 packets transmitted, 0 packets received, 100.0% packet loss\n", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("round-trip", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void PingOptionErrorsUseFreeBsdWordsAndExitCodes()
    {
        var stderr = new StringWriter();
        using var lab = new Lab(new StringWriter(), stderr);
        Assert.Equal(64, lab.Execute("ping -i x 127.0.0.1"));
        Assert.Equal(68, lab.Execute("ping -c 1 10.0.0.999"));
        Assert.Equal(64, lab.Execute("ping -K 127.0.0.1"));
        Assert.Equal(64, lab.Execute("ping"));
        Assert.Contains("ping: invalid timing interval: `x'\n", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("ping: cannot resolve 10.0.0.999: Unknown host\n", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("ping: illegal option -- K\n", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void PingLoopbackAnswers()
    {
        var stdout = new StringWriter();
        using var lab = new Lab(stdout, new StringWriter());
        Assert.Equal(0, lab.Execute("ping -c3 -i 0.2 127.0.0.1"));
        Assert.Contains("3 packets transmitted, 3 packets received, 0.0% packet loss", stdout.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void IfconfigConfiguresAndReportsErrorsWithoutChangingAnything()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Lab(stdout, stderr);
        lab.Execute("ifconfig epair0 create");
        Assert.Equal(0, lab.Execute("ifconfig epair0a inet 192.0.2.1 netmask 255.255.255.0 up"));
        Assert.Equal(0, lab.Execute("ifconfig epair0a inet 192.0.2.5/24 alias"));
        Assert.Equal(0, lab.Execute("ifconfig epair0a mtu 1400 description 'to the router'"));
        Assert.Equal(1, lab.Execute("ifconfig epair0a inet 192.0.2.300/24"));
        Assert.Equal(1, lab.Execute("ifconfig epair0a mtu 9 up"));
        Assert.Equal(1, lab.Execute("ifconfig epair0a inet 192.0.2.9/24 netmask"));
        stdout.GetStringBuilder().Clear();
        lab.Execute("ifconfig epair0a");
        var text = stdout.ToString();
        Assert.StartsWith("epair0a: flags=", text, StringComparison.Ordinal);
        Assert.Contains(" mtu 1400\n\tdescription: to the router\n", text, StringComparison.Ordinal);
        Assert.Contains("\tinet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255\n\tinet 192.0.2.5 netmask 0xffffff00 broadcast 192.0.2.255\n", text, StringComparison.Ordinal);
        Assert.Contains("ifconfig: 192.0.2.300/24: bad value\n", stderr.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, lab.Execute("ifconfig epair0a inet 192.0.2.5 -alias"));
        Assert.Single(lab.Host.FindInterface("epair0a")!.IPv4Addresses);
    }

    [Fact]
    public void RoutesAddShowAndRefuseDuplicates()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Lab(stdout, stderr);
        lab.Execute("ifconfig epair0 create");
        lab.Execute("ifconfig epair0a inet 192.0.2.1/24 up");
        stdout.GetStringBuilder().Clear();
        Assert.Equal(0, lab.Execute("route add -net 10.0.0.0/8 192.0.2.254"));
        Assert.Equal(0, lab.Execute("route add default 192.0.2.254"));
        Assert.Equal(1, lab.Execute("route add default 192.0.2.254"));
        Assert.Equal(1, lab.Execute("route add -net 10.9.0.0/16 203.0.113.1"));
        Assert.Equal(
            "add net 10.0.0.0: gateway 192.0.2.254\nadd net default: gateway 192.0.2.254\n"
            + "add net default: gateway 192.0.2.254: route already in table\n"
            + "add net 10.9.0.0: gateway 203.0.113.1: Network is unreachable\n",
            stdout.ToString());
        Assert.Contains("route: writing to routing socket: File exists\n", stderr.ToString(), StringComparison.Ordinal);
        stdout.GetStringBuilder().Clear();
        lab.Execute("netstat -rn -4");
        Assert.Contains("default            192.0.2.254        UGS     epair0a\n", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("10.0.0.0/8         192.0.2.254        UGS     epair0a\n", stdout.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Internet6", stdout.ToString(), StringComparison.Ordinal);
        stdout.GetStringBuilder().Clear();
        Assert.Equal(0, lab.Execute("route delete default"));
        Assert.Equal("delete net default\n", stdout.ToString());
    }

    [Fact]
    public void JailsAreListedAndRemoved()
    {
        var stdout = new StringWriter();
        using var lab = new Lab(stdout, new StringWriter());
        lab.Execute("jail -c name=web host.hostname=web.example.org path=/jail/web vnet persist");
        lab.Execute("jail -c name=db vnet persist");
        lab.Execute("jls");
        lab.Execute("jls -j db jid");
        lab.Execute("jexec web hostname");
        Assert.Equal(
            "   JID  IP Address      Hostname                      Path\n"
            + "     1                  web.example.org               /jail/web\n"
            + "     2                  sluice                        /\n"
            + "2\nweb.example.org\n",
            stdout.ToString());
        lab.Execute("ifconfig epair0 create");
        lab.Execute("ifconfig epair0b vnet web");
        stdout.GetStringBuilder().Clear();
        Assert.Equal(0, lab.Execute("jail -r web"));
        Assert.Equal("web: removed\n", stdout.ToString());
        Assert.NotNull(lab.Host.FindInterface("epair0b"));
        Assert.Equal(1, lab.Execute("jexec web hostname"));
        Assert.Equal(1, lab.Execute("jail -c name=db vnet persist"));
    }

    private const string Topology = """
        jail -c name=h1 vnet persist
        jail -c name=r vnet persist
        jail -c name=h2 vnet persist
        ifconfig epair0 create
        ifconfig epair1 create
        ifconfig epair0a vnet h1
        ifconfig epair0b vnet r
        ifconfig epair1a vnet r
        ifconfig epair1b vnet h2
        jexec h1 ifconfig epair0a inet 192.0.2.2/24 up
        jexec r ifconfig epair0b inet 192.0.2.1/24 up
        jexec r ifconfig epair1a inet 198.51.100.1/24 up
        jexec h2 ifconfig epair1b inet 198.51.100.2/24 up
        jexec h1 route add default 192.0.2.1
        jexec h2 route add default 198.51.100.1
        jexec r sysctl net.inet.ip.forwarding=1

        """;

    [Fact]
    public void PingPrintsTimeExceededWithTheQuotedHeader()
    {
        var (status, stdout, _) = Script(Topology + "! jexec h1 ping -c 1 -m 1 198.51.100.2\n");
        Assert.Equal(0, status);
        Assert.Matches(
            "92 bytes from 192\\.0\\.2\\.1: Time to live exceeded\n"
            + "Vr HL TOS  Len   ID Flg  off TTL Pro  cks       Src          Dst\n"
            + " 4  5  00 0054 [0-9a-f]{4}   0 0000  01  01 [0-9a-f]{4} 192\\.0\\.2\\.2 198\\.51\\.100\\.2\n"
            + "\n\n--- 198\\.51\\.100\\.2 ping statistics ---\n",
            stdout);
    }

    [Fact]
    public void QuietPingStillShowsErrorsUnlessCapitalQ()
    {
        var (_, quiet, _) = Script(Topology + "! jexec h1 ping -q -c 1 -m 1 198.51.100.2\n");
        Assert.Contains("92 bytes from 192.0.2.1: Time to live exceeded\n", quiet, StringComparison.Ordinal);
        var (_, silent, _) = Script(Topology + "! jexec h1 ping -Q -c 1 -m 1 198.51.100.2\n");
        Assert.DoesNotContain("Time to live exceeded", silent, StringComparison.Ordinal);
        Assert.Contains("1 packets transmitted, 0 packets received, 100.0% packet loss\n", silent, StringComparison.Ordinal);
    }

    [Fact]
    public void PingFromASourceAddressShowsItInTheBanner()
    {
        var (status, stdout, stderr) = Script(Topology + "jexec h1 ping -c 1 -S 192.0.2.2 198.51.100.2\n! jexec h1 ping -c 1 -S 192.0.2.99 198.51.100.2\n");
        Assert.Equal(0, status);
        Assert.Contains("PING 198.51.100.2 (198.51.100.2) from 192.0.2.2: 56 data bytes\n", stdout, StringComparison.Ordinal);
        Assert.Contains("ping: bind: Can't assign requested address\n", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void ArpListsLearnedEntriesAndDeletesThem()
    {
        var stdout = new StringWriter();
        using var lab = new Lab(stdout, new StringWriter());
        Assert.Equal(0, lab.RunScriptText(Topology + "jexec h1 ping -c 1 192.0.2.1\n", "t.lab"));
        stdout.GetStringBuilder().Clear();
        lab.Execute("jexec h1 arp -an");
        Assert.Matches(@"^\? \(192\.0\.2\.1\) at 02(:[0-9a-f]{2}){5} on epair0a expires in 1[12]\d\d seconds \[ethernet\]\n\? \(192\.0\.2\.2\) at 02(:[0-9a-f]{2}){5} on epair0a permanent \[ethernet\]\n$", stdout.ToString());
        stdout.GetStringBuilder().Clear();
        Assert.Equal(0, lab.Execute("jexec h1 arp -d 192.0.2.1"));
        Assert.Equal("192.0.2.1 (192.0.2.1) deleted\n", stdout.ToString());
        Assert.Equal(1, lab.Execute("jexec h1 arp -d 192.0.2.1"));
        Assert.Equal(0, lab.Execute("jexec h1 arp -s 192.0.2.7 02:00:00:00:00:07"));
        stdout.GetStringBuilder().Clear();
        lab.Execute("jexec h1 arp 192.0.2.7");
        Assert.Equal("? (192.0.2.7) at 02:00:00:00:00:07 on epair0a permanent [ethernet]\n", stdout.ToString());
    }

    [Fact]
    public void NetstatCountsForwardedPackets()
    {
        var stdout = new StringWriter();
        using var lab = new Lab(stdout, new StringWriter());
        Assert.Equal(0, lab.RunScriptText(Topology + "jexec h1 ping -c 2 198.51.100.2\n", "t.lab"));
        stdout.GetStringBuilder().Clear();
        lab.Execute("jexec r netstat -s -p ip");
        Assert.StartsWith("ip:\n", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("\t4 packets forwarded (0 packets fast forwarded)\n", stdout.ToString(), StringComparison.Ordinal);
        stdout.GetStringBuilder().Clear();
        lab.Execute("jexec r netstat -in");
        Assert.Matches(@"epair  1500 <Link#2>      02(:[0-9a-f]{2}){5} +\d+ +\d+ +\d+ +\d+ +\d+ +\d+\n", stdout.ToString());
        Assert.Contains("epair     - 192.0.2.0/24  192.0.2.1 ", stdout.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void SleepAdvancesVirtualTime()
    {
        using var lab = new Lab(new StringWriter(), new StringWriter());
        var before = lab.Loop.Now;
        Assert.Equal(0, lab.Execute("sleep 1.5"));
        Assert.Equal(before + 1_500_000_000L, lab.Loop.Now);
        Assert.Equal(1, lab.Execute("sleep x"));
    }

    [Fact]
    public void HostnamesBelongToTheirJail()
    {
        var stdout = new StringWriter();
        using var lab = new Lab(stdout, new StringWriter());
        lab.Execute("jail -c name=plain persist");
        lab.Execute("jail -c name=v vnet persist");
        lab.Execute("jexec plain hostname plain.example");
        lab.Execute("jexec v hostname v.example");
        lab.Execute("hostname");
        lab.Execute("jexec plain hostname");
        lab.Execute("jexec v sysctl -n kern.hostname");
        Assert.Equal("sluice\nplain.example\nv.example\n", stdout.ToString());
    }

    [Fact]
    public void TopLevelCliRunsToolsAndLabs()
    {
        var stdout = new StringWriter();
        Assert.Equal(0, Cli.Run(["sysctl", "net.inet.ip.ttl"], stdout, new StringWriter()));
        Assert.Equal("net.inet.ip.ttl: 64\n", stdout.ToString());
        Assert.Equal(0, Cli.Run(["--version"], new StringWriter(), new StringWriter()));
        Assert.Equal(64, Cli.Run([], new StringWriter(), new StringWriter()));
        var stderr = new StringWriter();
        Assert.Equal(66, Cli.Run(["lab", "/nonexistent/x.lab"], new StringWriter(), stderr));
        Assert.Equal("sluice: /nonexistent/x.lab: No such file or directory\n", stderr.ToString());
        Assert.Equal(127, Cli.Run(["nosuchtool"], new StringWriter(), new StringWriter()));
    }
}
