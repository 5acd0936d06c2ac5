using Sluice.Pf.Config;

namespace Sluice.Pf.Tests;

/// <summary>pf.conf(5) examples; expected forms follow pf.conf(5) and pfctl's print_rule, not this parser's output.</summary>
public sealed class PfParserTests
{
    private static string Nv(string conf)
    {
        var r = PfParser.Parse(conf, "pf.conf");
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        return PfPrinter.Print(r.Ruleset!);
    }

    private static PfParseResult Bad(string conf)
    {
        var r = PfParser.Parse(conf, "pf.conf");
        Assert.False(r.Success);
        Assert.Null(r.Ruleset);
        return r;
    }

    [Fact]
    public void PassRulesKeepStateAndTcpGetsFlagsSSAByDefault()
    {
        Assert.Equal("pass in proto tcp from any to any port = ssh flags S/SA keep state\n", Nv("pass in proto tcp to port 22\n"));
        Assert.Equal("pass out proto udp all keep state\n", Nv("pass out proto udp\n"));
    }

    [Fact]
    public void ListsExpandIntoOneRulePerCombination()
    {
        // pf.conf(5) LISTS: "block out on fxp0 from { 192.168.0.1, 10.5.32.6 } to any" becomes two rules.
        Assert.Equal(
            "block drop out on fxp0 inet from 192.168.0.1 to any\nblock drop out on fxp0 inet from 10.5.32.6 to any\n",
            Nv("block out on fxp0 from { 192.168.0.1, 10.5.32.6 } to any\n"));
    }

    [Fact]
    public void MacrosExpandIncludingInsideLists()
    {
        var text = Nv("ext_if = \"kue0\"\nfriends = \"{ 192.168.1.1, 10.0.2.5 }\"\npass in on $ext_if from $friends\n");
        Assert.Contains("pass in on kue0 inet from 192.168.1.1 to any flags S/SA keep state\n", text, StringComparison.Ordinal);
        Assert.Contains("pass in on kue0 inet from 10.0.2.5 to any flags S/SA keep state\n", text, StringComparison.Ordinal);
        Assert.StartsWith("ext_if = \"kue0\"\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void UndefinedMacroIsAnErrorWithLineNumber()
    {
        var r = Bad("pass\npass in on $nope\n");
        Assert.Contains("pf.conf:2: macro 'nope' not defined", r.Diagnostics);
    }

    [Fact]
    public void UnknownPortNameIsReported()
    {
        var r = Bad("pass in proto tcp to port nosuchservice\n");
        Assert.Contains("pf.conf:1: unknown port nosuchservice", r.Diagnostics);
    }

    [Fact]
    public void TableDefinitionsPrintLikePrintTabledef()
    {
        Assert.Equal(
            "table <private> const { 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 }\n",
            Nv("table <private> const { 10/8, 172.16/12, 192.168/16 }\n"));
        Assert.Equal("table <badhosts> persist\n", Nv("table <badhosts> persist\n"));
    }

    [Fact]
    public void OptionsPrintAsSetLines()
    {
        var text = Nv("set limit { states 10000, frags 5000 }\nset timeout tcp.established 600\nset block-policy return\nset skip on lo0\n");
        Assert.Equal("set limit states 10000\nset limit frags 5000\nset timeout tcp.established 600\nset block-policy return\nset skip on lo0\n", text);
    }

    [Fact]
    public void BlockPolicyReturnAppliesToPlainBlock()
    {
        Assert.Equal("set block-policy return\nblock return in all\n", Nv("set block-policy return\nblock in\n"));
    }

    [Fact]
    public void NatRdrAndBinatPrintTheirPools()
    {
        Assert.Equal("nat on em0 inet from 192.168.1.0/24 to any -> 198.51.100.1\n", Nv("nat on em0 from 192.168.1.0/24 to any -> 198.51.100.1\n"));
        Assert.Equal(
            "rdr on em0 inet proto tcp from any to 198.51.100.1 port = http -> 10.0.0.5 port 8080\n",
            Nv("rdr on em0 proto tcp from any to 198.51.100.1 port 80 -> 10.0.0.5 port 8080\n"));
        Assert.Equal("binat on em0 inet from 10.1.2.150 to any -> 198.51.100.150\n", Nv("binat on em0 from 10.1.2.150 to any -> 198.51.100.150\n"));
    }

    [Fact]
    public void NatRulesComeBeforeFilterRulesInTheListing()
    {
        var text = Nv("pass out\nnat on em0 from 10.0.0.0/8 to any -> 198.51.100.1\nscrub in all\n");
        Assert.Equal("scrub in all fragment reassemble\nnat on em0 inet from 10.0.0.0/8 to any -> 198.51.100.1\npass out all flags S/SA keep state\n", text);
    }

    [Fact]
    public void StateOptionsWithOverloadImplySourceTrackRule()
    {
        Assert.Equal(
            "pass in proto tcp from any to any port = ssh flags S/SA keep state (source-track rule, max-src-conn 10, max-src-conn-rate 15/5, overload <bruteforce> flush global)\n",
            Nv("pass in proto tcp to port ssh keep state (max-src-conn 10, max-src-conn-rate 15/5, overload <bruteforce> flush global)\n"));
    }

    [Fact]
    public void AnyErrorMeansNoRuleset()
    {
        var r = Bad("pass\nthis is not pf\npass out\n");
        Assert.Contains("pf.conf:2: syntax error", r.Diagnostics);
    }

    [Fact]
    public void LineContinuationKeepsLineNumbersOfLaterLines()
    {
        var r = Bad("pass in \\\n  proto tcp\nbogus\n");
        Assert.Contains("pf.conf:3: syntax error", r.Diagnostics);
    }

    [Fact]
    public void PrintedFormIsAFixedPoint()
    {
        var conf = "ext_if = \"em0\"\nset block-policy drop\ntable <t> persist { 192.0.2.0/24 }\nblock in log on $ext_if\npass in on $ext_if proto { tcp udp } from <t> to any port { 53, 123 } keep state (max 100)\n";
        var once = Nv(conf);
        Assert.Equal(once, Nv(once));
    }

    [Fact]
    public void SeedArticleExampleParsesAndPrints()
    {
        var seed = "# Macros\n"
            + "ext_if = \"em0\"\n"
            + "tcp_services = \"{ 22, 80, 443 }\"\n"
            + "# Normalize and reassemble\n"
            + "scrub in all fragment reassemble\n"
            + "# NAT outbound\n"
            + "nat on $ext_if from 192.168.1.0/24 to any -> ($ext_if)\n"
            + "# Stateful pass with connection rate limiting\n"
            + "pass in on $ext_if proto tcp to ($ext_if) port 22 \\\n"
            + "keep state (max-src-conn 5, max-src-conn-rate 3/10, \\\n"
            + "overload <brute_force> flush global)\n";
        Assert.Equal(
            "ext_if = \"em0\"\n"
            + "tcp_services = \"{ 22, 80, 443 }\"\n"
            + "scrub in all fragment reassemble\n"
            + "nat on em0 inet from 192.168.1.0/24 to any -> (em0) round-robin\n"
            + "pass in on em0 proto tcp from any to (em0) port = ssh flags S/SA keep state (source-track rule, max-src-conn 5, max-src-conn-rate 3/10, overload <brute_force> flush global)\n",
            Nv(seed));
    }
}
