using CsCheck;
using Sluice.Pf.Config;

namespace Sluice.Pf.Tests;

/// <summary>
/// pf.conf(5) "Ethernet Filtering", "Queueing" (ALTQ) and FreeBSD 15 limiters; expected forms follow pf.conf(5)'s examples
/// and pfctl's print_eth_rule / print_altq / print_queue, not this parser's output.
/// </summary>
public sealed class ParserLayer2AndQueueingTests
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
    public void EtherRulesFromThePageArePrintedWithTheirL3Part()
    {
        // pf.conf(5): "ether pass in quick on em0 from 00:01:02:03:04:05 tag allowed".
        Assert.Equal(
            "ether pass in quick on em0 from 00:01:02:03:04:05 l3 all tag allowed\n",
            Nv("ether pass in quick on em0 from 00:01:02:03:04:05 tag allowed\n"));
        Assert.Equal("ether block in on em0 proto 0x86dd l3 all\n", Nv("ether block in on em0 proto 0x86dd\n"));
    }

    [Fact]
    public void EtherRuleIsStoredInTheRulesetNotAsAFilterRule()
    {
        var r = PfParser.Parse("ether pass out on em1 bridge-to em2 to 0:1:2:3:4:5 dnpipe 3 label \"l2\"\npass\n", "pf.conf");
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        var e = Assert.Single(r.Ruleset!.Ether);
        Assert.Equal("em2", e.BridgeTo);
        Assert.Equal(3, e.DnPipe);
        Assert.Single(r.Ruleset.Filter);
        Assert.Equal("ether pass out on em1 bridge-to em2 to 00:01:02:03:04:05 l3 all label \"l2\" dnpipe 3", PfPrinter.EtherRule(e));
    }

    [Fact]
    public void EtherMasksPrintAsLengthWhenContiguousAndAsMaskOtherwise()
    {
        Assert.Equal("ether block out on igb0 to 00:01:02:03:04:05/24 l3 all\n", Nv("ether block out on igb0 to 00:01:02:03:04:05/24\n"));
        Assert.Equal(
            "ether block out on igb0 from 00:01:02:03:04:05&ff:00:ff:00:00:00 l3 all\n",
            Nv("ether block out on igb0 from 00:01:02:03:04:05&ff:00:ff:00:00:00\n"));
    }

    [Fact]
    public void EtherListsAndL3AddressesExpand()
    {
        Assert.Equal(
            "ether pass in on em0 proto 0x0800 from 00:00:00:00:00:01 l3 from 192.0.2.1 to any\n"
            + "ether pass in on em0 proto 0x0800 from ! 00:00:00:00:00:02 l3 from 192.0.2.1 to any\n",
            Nv("ether pass in on em0 proto 0x0800 from { 0:0:0:0:0:1, ! 0:0:0:0:0:2 } l3 from 192.0.2.1\n"));
    }

    [Fact]
    public void BadEtherAddressesAndTypesAreErrors()
    {
        Assert.Contains("pf.conf:1: invalid MAC address", Bad("ether pass from 00:11:22:33:44\n").Diagnostics);
        Assert.Contains("pf.conf:1: proto 0 cannot be used", Bad("ether pass proto 0\n").Diagnostics);
    }

    [Fact]
    public void CbqExampleFromThePagePrintsLikePfctl()
    {
        // pf.conf(5) QUEUEING example (cbq on dc0); 5Mb gives a token bucket of 4 MTUs.
        var conf = "altq on dc0 cbq bandwidth 5Mb queue { std, http, mail, ssh }\n"
            + "queue std bandwidth 10% cbq(default)\n"
            + "queue http bandwidth 60% priority 2 cbq(borrow red) { employees, developers }\n"
            + "queue  developers bandwidth 75% cbq(borrow)\n"
            + "queue  employees bandwidth 15%\n"
            + "queue mail bandwidth 10% priority 0 cbq(borrow ecn)\n"
            + "queue ssh bandwidth 20% cbq(borrow) { ssh_interactive, ssh_bulk }\n"
            + "queue  ssh_interactive bandwidth 50% priority 7 cbq(borrow)\n"
            + "queue  ssh_bulk bandwidth 50% priority 0 cbq(borrow)\n"
            + "pass out on dc0 proto tcp to port 22 queue(ssh_bulk, ssh_interactive)\n";
        var expected = "altq on dc0 cbq bandwidth 5Mb tbrsize 6000 queue { std http mail ssh }\n"
            + "queue std bandwidth 10% cbq( default ) \n"
            + "queue http bandwidth 60% priority 2 cbq( red borrow ) { employees developers }\n"
            + "queue developers bandwidth 75% cbq( borrow ) \n"
            + "queue employees bandwidth 15% \n"
            + "queue mail bandwidth 10% priority 0 cbq( ecn borrow ) \n"
            + "queue ssh bandwidth 20% cbq( borrow ) { ssh_interactive ssh_bulk }\n"
            + "queue ssh_interactive bandwidth 50% priority 7 cbq( borrow ) \n"
            + "queue ssh_bulk bandwidth 50% priority 0 cbq( borrow ) \n"
            + "pass out on dc0 proto tcp from any to any port = ssh flags S/SA keep state queue(ssh_bulk, ssh_interactive)\n";
        var once = Nv(conf);
        Assert.Equal(expected, once);
        Assert.Equal(once, Nv(once));
    }

    [Fact]
    public void QueueDefinitionsAreStoredPerInterface()
    {
        var r = PfParser.Parse("altq on em0 priq bandwidth 10Mb queue { a b }\nqueue a priority 1 priq(default)\nqueue b priority 14\n", "pf.conf");
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        var altq = Assert.Single(r.Ruleset!.Statements.OfType<PfAltqStatement>());
        Assert.Equal(10_000_000UL, altq.Bandwidth);
        Assert.Equal(["a", "b"], r.Ruleset.Statements.OfType<PfQueueStatement>().Select(q => q.Name));
        Assert.Equal("queue a priq( default ) ", r.Ruleset.Statements.OfType<PfQueueStatement>().First().Text);
    }

    [Fact]
    public void QueueingErrorsFollowParseY()
    {
        Assert.Contains("pf.conf:1: queue x has no parent", Bad("queue x bandwidth 10%\n").Diagnostics);
        Assert.Contains("pf.conf:1: no child queues specified", Bad("altq on em0 cbq bandwidth 1Mb\n").Diagnostics);
        Assert.Contains("pf.conf:2: priq queues cannot have child queues", Bad("altq on em0 priq bandwidth 1Mb queue a\nqueue a { b }\n").Diagnostics);
        Assert.Contains(
            "interface em0 does not know its bandwidth, please specify an absolute bandwidth",
            Bad("altq on em0 cbq queue a\n").Diagnostics);
    }

    [Fact]
    public void StateAndSourceLimitersPrintWithTheirIds()
    {
        Assert.Equal(
            "state limiter dns id 1 limit 1000 rate 1/10\n"
            + "source limiter perhost id 2 entries 4096 limit 10 inet6 mask 64\n"
            + "pass in proto udp from any to any port = domain keep state state limiter id 1 (block) source limiter id 2 (no-match)\n",
            Nv("state limiter \"dns\" id 1 limit 1000 rate 1/10\n"
                + "source limiter \"perhost\" id 2 entries 4096 limit 10 inet6 mask 64\n"
                + "pass in proto udp to port domain state limiter \"dns\" (block) source limiter \"perhost\"\n"));
    }

    [Fact]
    public void UnknownLimiterIsAnError()
    {
        Assert.Contains("pf.conf:1: state limiter nope not found", Bad("pass state limiter \"nope\"\n").Diagnostics);
    }

    private static readonly string[] Tokens =
    [
        "ether", "pass", "block", "match", "in", "out", "quick", "on", "em0", "bridge-to", "proto", "0x0800", "0", "from", "to",
        "00:01:02:03:04:05", "/", "24", "&ff:ff:00:00:00:00", "l3", "any", "192.0.2.1", "all", "label", "\"x\"", "tag", "tagged",
        "!", "dnpipe", "queue", "altq", "cbq", "priq", "hfsc", "fairq", "codel", "(", ")", "{", "}", ",", "default", "borrow",
        "linkshare", "realtime", "upperlimit", "bandwidth", "10%", "1Mb", "priority", "qlimit", "tbrsize", "state", "source",
        "limiter", "id", "limit", "rate", "1", "entries", "inet", "inet6", "mask", "table", "<t>", "above", "below", "\n",
    ];

    [Fact]
    public void RandomLayer2AndQueueingTokenSequencesNeverThrow()
    {
        Gen.Int[0, Tokens.Length - 1].Array[0, 30]
            .Select(ix => string.Join(' ', ix.Select(i => Tokens[i])))
            .Sample(text =>
            {
                var r = PfParser.Parse(text, "pf.conf");
                if (r.Success)
                {
                    _ = PfPrinter.Print(r.Ruleset!);
                }
            }, iter: 5_000, threads: 1);
    }
}
