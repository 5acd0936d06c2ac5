namespace Sluice.Ipfw.Tests;

/// <summary>ipfw rule semantics in a lab: first match, skipto/call/return, keep-state, counters.</summary>
public sealed class RuleLabTests
{
    private static string Run(string script, out int status)
    {
        var stdout = new StringWriter();
        using var lab = new Sluice.Cli.Lab(stdout, TextWriter.Null);
        status = lab.RunScriptText(LabFixture.Topology + script, "rules.lab");
        return stdout.ToString();
    }

    [Fact]
    public void FirstMatchWinsAndCountersMatchTheTraffic()
    {
        var output = Run("""
            jexec r ipfw -q add 100 count icmp from any to any
            jexec r ipfw -q add 200 deny icmp from 192.0.2.2 to 203.0.113.5 icmptypes 8
            jexec r ipfw -q add 300 allow ip from any to any
            ! jexec h1 ping -c 2 -t 4 203.0.113.5
            jexec r ipfw show
            """, out var status);
        Assert.Equal(0, status);
        // Two echo requests, each seen once on input (denied there, never forwarded): 84 bytes each.
        Assert.Contains("00100  2  168 count icmp from any to any\n", output, StringComparison.Ordinal);
        Assert.Contains("00200  2  168 deny icmp from 192.0.2.2 to 203.0.113.5 icmptypes 8\n", output, StringComparison.Ordinal);
        Assert.Contains("00300  0    0 allow ip from any to any\n", output, StringComparison.Ordinal);
        Assert.Contains("2 packets transmitted, 0 packets received", output, StringComparison.Ordinal);
    }

    [Fact]
    public void SkiptoCallAndReturn()
    {
        var output = Run("""
            jexec r ipfw -q add 100 call 1000 icmp from any to any
            jexec r ipfw -q add 200 skipto 400 ip from any to any
            jexec r ipfw -q add 300 deny ip from any to any
            jexec r ipfw -q add 400 allow ip from any to any
            jexec r ipfw -q add 1000 count ip from any to any
            jexec r ipfw -q add 1010 return ip from any to any
            jexec r ipfw -q add 1020 deny ip from any to any
            jexec h1 ping -c 1 203.0.113.5
            jexec r ipfw show
            """, out var status);
        Assert.Equal(0, status);
        // The request and the reply each cross r's input and output: four passes.
        Assert.Contains("00100  4  336 call 1000 icmp from any to any\n", output, StringComparison.Ordinal);
        Assert.Contains("01000  4  336 count ip from any to any\n", output, StringComparison.Ordinal);
        Assert.Contains("01010  4  336 return ip from any to any\n", output, StringComparison.Ordinal);
        Assert.Contains("00300  0    0 deny ip from any to any\n", output, StringComparison.Ordinal);
        Assert.Contains("01020  0    0 deny ip from any to any\n", output, StringComparison.Ordinal);
        Assert.Contains("00400  4  336 allow ip from any to any\n", output, StringComparison.Ordinal);
    }

    // An ICMP state has no ports: like FreeBSD's, it then admits ICMP both ways between the two hosts, so the
    // unsolicited ping from h2 comes first, before h1 creates the state.
    [Fact]
    public void KeepStateLetsRepliesBackThroughCheckState()
    {
        var output = Run("""
            jexec r ipfw -q add 100 check-state
            jexec r ipfw -q add 200 allow icmp from 192.0.2.0/24 to any keep-state
            jexec r ipfw -q add 300 deny ip from any to any
            ! jexec h2 ping -c 1 -t 3 192.0.2.2
            jexec h1 ping -c 2 203.0.113.5
            jexec r ipfw -d show
            """, out var status);
        Assert.Equal(0, status);
        Assert.Contains("2 packets transmitted, 2 packets received", output, StringComparison.Ordinal);
        Assert.Contains("1 packets transmitted, 0 packets received", output, StringComparison.Ordinal);
        Assert.Contains("## Dynamic rules (1 ", output, StringComparison.Ordinal);
        Assert.Matches(@"00200 +\d+ +\d+ \(\d+s\) STATE icmp 192\.0\.2\.2 0 <-> 203\.0\.113\.5 0 :default\n", output);
        Assert.Contains("00300  1   84 deny ip from any to any\n", output, StringComparison.Ordinal);
    }
}
