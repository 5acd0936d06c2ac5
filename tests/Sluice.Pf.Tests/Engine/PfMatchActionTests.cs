using System.Buffers.Binary;
using System.Text.RegularExpressions;
using Sluice.Dummynet;
using Sluice.Pf.Engine;
using Sluice.Stack.Buffers;
using Sluice.Stack.Pfil;
using Sluice.Stack.Sockets;
using Sluice.Stack.Time;

namespace Sluice.Pf.Tests.Engine;

/// <summary>
/// What <c>match</c> rules give a packet and its state besides scrub options (pf_rule_to_actions), and how
/// <c>pfctl -ss -v</c>/<c>-vv</c> print it. Expected state lines are written from print_state's printf formats in
/// sbin/pfctl/pf_print_state.c, not from Sluice's output.
/// </summary>
public sealed class PfMatchActionTests
{
    private sealed class LogSink : IPflogSink
    {
        public List<byte[]> Records { get; } = [];

        public void Write(long timestampNs, ReadOnlySpan<byte> record) => Records.Add(record.ToArray());
    }

    private static InetEndpoint Ep(string a, ushort port) => new(PfNet.V4(a), port);

    /// <summary>Sends one datagram lan → wan:53; returns whether it arrived within <paramref name="wait"/> and when.</summary>
    private static (bool Got, long After) LanToWan(PfNet net, UdpSocket lan, UdpSocket wan, long wait)
    {
        var buf = new byte[64];
        lan.SendTo("q"u8, Ep("192.0.2.2", 53));
        var start = net.Loop.Now;
        var got = net.Loop.RunUntil(() => wan.TryReceive(buf, out _, out _), wait);
        return (got, net.Loop.Now - start);
    }

    [Fact]
    public void AMatchRulesDnpipeShapesTheStateAndTheDecidingRulesPipeWins()
    {
        var net = new PfNet();
        var dn = DummynetInstance.Of(net.Fw);
        Assert.True(dn.TryConfigure(DnObjectKind.Pipe, ["1", "delay", "200ms"], out var err), err?.Message);
        Assert.True(dn.TryConfigure(DnObjectKind.Pipe, ["2", "delay", "50ms"], out err), err?.Message);
        var pf = net.Load("match in on $int_if proto udp to port 53 dnpipe 1\npass in on $int_if proto udp keep state\npass out all\n");
        using var lan = PfNet.Bound(net.Lan, 4000);
        using var wan = PfNet.Bound(net.Wan, 53);
        var (got, after) = LanToWan(net, lan, wan, Nanos.PerSecond);
        Assert.True(got);
        Assert.InRange(after, Nanos.PerSecond / 5, Nanos.PerSecond * 3 / 10);
        Assert.Equal(1, dn.PacketsIn);
        Assert.Contains(", rule 1, dummynet pipe (1 0)", pf.Engine.FormatStates(1));

        // The state keeps the pipe: the next datagram of the flow is delayed too.
        (got, after) = LanToWan(net, lan, wan, Nanos.PerSecond);
        Assert.True(got);
        Assert.InRange(after, Nanos.PerSecond / 5, Nanos.PerSecond * 3 / 10);

        var net2 = new PfNet();
        var dn2 = DummynetInstance.Of(net2.Fw);
        Assert.True(dn2.TryConfigure(DnObjectKind.Pipe, ["1", "delay", "200ms"], out err), err?.Message);
        Assert.True(dn2.TryConfigure(DnObjectKind.Pipe, ["2", "delay", "50ms"], out err), err?.Message);
        net2.Load("match in on $int_if proto udp to port 53 dnpipe 1\npass in on $int_if proto udp dnpipe 2 keep state\npass out all\n");
        using var lan2 = PfNet.Bound(net2.Lan, 4000);
        using var wan2 = PfNet.Bound(net2.Wan, 53);
        (got, after) = LanToWan(net2, lan2, wan2, Nanos.PerSecond);
        Assert.True(got);
        Assert.InRange(after, Nanos.PerSecond / 20, Nanos.PerSecond / 10);
    }

    [Fact]
    public void AMatchRulesDnqueueIsNotPrintedAsAPipe()
    {
        var net = new PfNet();
        var dn = DummynetInstance.Of(net.Fw);
        Assert.True(dn.TryConfigure(DnObjectKind.Pipe, ["1", "delay", "10ms"], out var err), err?.Message);
        Assert.True(dn.TryConfigure(DnObjectKind.Queue, ["5", "pipe", "1"], out err), err?.Message);
        var pf = net.Load("match in on $int_if proto udp dnqueue 5\npass in on $int_if proto udp keep state\npass out all\n");
        using var lan = PfNet.Bound(net.Lan, 4000);
        using var wan = PfNet.Bound(net.Wan, 53);
        Assert.True(LanToWan(net, lan, wan, Nanos.PerSecond).Got);
        Assert.Equal(1, dn.PacketsIn);

        // print_state prints "dummynet queue" only under PFSTATE_DN_IS_QUEUE, which pf_rule_to_actions never sets.
        Assert.DoesNotContain("dummynet", pf.Engine.FormatStates(1));
    }

    [Fact]
    public void AMatchRuleWithLogLogsAtMatchTimeAndLogAllLogsEveryPacketOfTheState()
    {
        foreach (var all in new[] { false, true })
        {
            var net = new PfNet();
            var pf = net.Load($"match in log{(all ? " (all)" : string.Empty)} on $int_if proto udp\npass in on $int_if proto udp keep state\npass out all\n");
            var sink = new LogSink();
            pf.Engine.LogSinks.Add(sink);
            using var lan = PfNet.Bound(net.Lan, 4000);
            using var wan = PfNet.Bound(net.Wan, 53);
            Assert.True(LanToWan(net, lan, wan, Nanos.PerSecond).Got);
            var r = Assert.Single(sink.Records);
            Assert.Equal(12, r[2]); // PF_MATCH
            Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(r.AsSpan(36))); // the match rule, number 0
            Assert.True(LanToWan(net, lan, wan, Nanos.PerSecond).Got); // matches the state
            Assert.Equal(all ? 2 : 1, sink.Records.Count);
            Assert.Contains(all ? ", rule 1, log (all)" : ", rule 1, log\n", pf.Engine.FormatStates(1));
        }
    }

    [Fact]
    public void AMatchRulesTagIsSeenByTheRulesAfterIt()
    {
        foreach (var withMatch in new[] { false, true })
        {
            var net = new PfNet();
            net.Load("block in on $int_if proto udp\n" + (withMatch ? "match in on $int_if proto udp tag T\n" : string.Empty)
                + "pass in on $int_if proto udp tagged T keep state\npass out all\n");
            using var lan = PfNet.Bound(net.Lan, 4000);
            using var wan = PfNet.Bound(net.Wan, 53);
            Assert.Equal(withMatch, LanToWan(net, lan, wan, Nanos.PerSecond / 2).Got);
        }
    }

    [Fact]
    public void AQuickMatchRuleEndsTheEvaluationWithTheRuleMatchedSoFar()
    {
        var net = new PfNet();
        net.Load("match in quick on $int_if proto udp\nblock in on $int_if proto udp\npass out all\n");
        using var lan = PfNet.Bound(net.Lan, 4000);
        using var wan = PfNet.Bound(net.Wan, 53);
        Assert.True(LanToWan(net, lan, wan, Nanos.PerSecond / 2).Got); // the default rule passes
    }

    [Fact]
    public void APrioCriterionMatchesNoPacketWithoutAnIeee8021qPriority()
    {
        foreach (var prio in new[] { false, true })
        {
            var net = new PfNet();
            net.Load($"block in on $int_if proto udp\npass in on $int_if proto udp{(prio ? " prio 3" : string.Empty)} keep state\npass out all\n");
            using var lan = PfNet.Bound(net.Lan, 4000);
            using var wan = PfNet.Bound(net.Wan, 53);
            Assert.Equal(!prio, LanToWan(net, lan, wan, Nanos.PerSecond / 2).Got);
        }
    }

    private static string StatesAfterSyn(string conf, int verbose, out PfEngine e)
    {
        var net = new PfNet();
        e = net.Load(conf).Engine;
        var syn = PfScrubActionTests.Seg(net, true, 0x02, 1000, 0);
        Assert.Equal(PfilVerdict.Pass, e.Filter(syn, net.Int, PfilDirection.In, false));
        syn.Release();
        return e.FormatStates(verbose);
    }

    [Fact]
    public void LaterMatchRulesReplaceEarlierValuesAndTheDecidingRulesOwnValuesWin()
    {
        const string Matches = "match in on $int_if proto tcp rtable 2 set prio 1 set tos 0x10\n"
            + "match in on $int_if proto tcp rtable 4 set prio (2, 6)\n";
        var text = StatesAfterSyn(Matches + "pass in on $int_if proto tcp rtable 5 keep state\n", 2, out var e);
        var lines = text.Split('\n');

        // printf(", set-tos 0x%2.2x"), printf(", set-prio (0x%02x 0x%02x)"), printf(" rtable: %d")
        Assert.EndsWith(", rule 2, set-tos 0x10, set-prio (0x02 0x06)", lines[2]);
        Assert.Equal($"   id: {1:x16} creatorid: {e.HostId:x8} rtable: 5", lines[3]);

        text = StatesAfterSyn(Matches + "pass in on $int_if proto tcp keep state\n", 2, out e);
        Assert.Equal($"   id: {1:x16} creatorid: {e.HostId:x8} rtable: 4", text.Split('\n')[3]);

        // Without any rtable, -vv prints no rtable (rtableid -1).
        text = StatesAfterSyn("pass in on $int_if proto tcp keep state\n", 2, out e);
        Assert.Equal($"   id: {1:x16} creatorid: {e.HostId:x8}", text.Split('\n')[3]);
    }

    [Fact]
    public void QueueNamesFollowPfRuleToActions()
    {
        static PfRuleActions A(string rule)
        {
            var r = Sluice.Pf.Config.PfParser.Parse(rule + "\n", "pf.conf");
            Assert.NotNull(r.Ruleset);
            return PfRuleActions.From(r.Ruleset!.Filter[0]);
        }

        var a = default(PfRuleActions);
        a.Merge(A("match in all queue (q1, q2)"));
        a.Merge(A("match in all queue q3"));
        Assert.Equal("q3", a.Queue);
        Assert.Equal("q2", a.PriorityQueue); // a rule without a priority queue leaves the earlier one
        a.Merge(A("pass in all"));
        Assert.Equal("q3", a.Queue);
        Assert.Equal(-1, default(PfRuleActions).Rtable);
    }

    [Fact]
    public void VerboseStatesPrintTheSequenceWindowsAndTheScrubFlagsInPrintStateOrder()
    {
        var net = new PfNet();
        var e = net.Load("pass in log (all) on $int_if proto tcp modulate state scrub (no-df, random-id, min-ttl 100, max-mss 1200, set-tos 0x10, reassemble tcp) set prio (1, 2)\n").Engine;
        var syn = PfScrubActionTests.Seg(net, true, 0x02, 1000, 0, options: [3, 3, 7]);
        Assert.Equal(PfilVerdict.Pass, e.Filter(syn, net.Int, PfilDirection.In, false));
        syn.Release();
        var lines = e.FormatStates(1).Split('\n');

        // "%s %s " host " <- " host "    " "   %s:%s\n"
        Assert.Equal("all tcp 192.0.2.2:80 <- 10.0.0.2:4000       CLOSED:SYN_SENT", lines[0]);

        // "   " print_seq(src) "  " print_seq(dst): "[%u + %u]" or "[%u + %u](+%u)"; the state's source is the right one.
        var m = Regex.Match(lines[1], @"^   \[0 \+ 1\]  \[1000 \+ 2\]\(\+(\d+)\)$");
        Assert.True(m.Success, lines[1]);
        Assert.NotEqual("0", m.Groups[1].Value);

        // The flags in print_state's order.
        Assert.EndsWith(", rule 0, no-df, set-tos 0x10, random-id, reassemble-tcp, set-prio (0x01 0x02), log (all), min-ttl 100, max-mss 1200", lines[2]);

        // Both peers scale once the SYN-ACK came with its own option: " wscale %u" after each window.
        // The WAN side saw the modulated ISN (1000 + the printed seqdiff) and acknowledges that.
        var diff = uint.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var synAck = PfScrubActionTests.Seg(net, false, 0x12, 5000, 1001 + diff, options: [3, 3, 5]);
        var verdict = e.Filter(synAck, net.Int, PfilDirection.Out, false);
        synAck.Release();
        Assert.Equal(PfilVerdict.Pass, verdict);
        lines = e.FormatStates(1).Split('\n');
        Assert.Matches(@"^   \[500[01] \+ \d+\] wscale 5  \[100[01] \+ \d+\]\(\+\d+\) wscale 7$", lines[1]);
    }

    [Fact]
    public void StateFlagsStayOffWithoutActions()
    {
        var text = StatesAfterSyn("pass in on $int_if proto tcp keep state\n", 1, out _);
        Assert.Matches(@"^   age 00:00:00, expires in 00:0\d:\d\d, \d+:\d+ pkts, \d+:\d+ bytes, rule 0$", text.Split('\n')[2]);
        Assert.Matches(@"^   \[0 \+ 1\]  \[1000 \+ 2\]$", text.Split('\n')[1]);
    }
}
