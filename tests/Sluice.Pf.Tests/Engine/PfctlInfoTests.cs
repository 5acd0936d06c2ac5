using Sluice.Cli;
using Sluice.Stack.Time;

namespace Sluice.Pf.Tests.Engine;

/// <summary><c>pfctl -si</c>: FreeBSD's print_status layout with the engine's counters.</summary>
public sealed class PfctlInfoTests
{
    private static readonly string[] Reasons =
        ["match", "bad-offset", "fragment", "short", "normalize", "memory", "bad-timestamp", "congestion", "ip-option",
         "proto-cksum", "state-mismatch", "state-insert", "state-limit", "src-limit", "synproxy", "map-failed"];

    private static string Si(Lab lab, StringWriter output)
    {
        output.GetStringBuilder().Clear();
        Assert.Equal(0, lab.Execute(["pfctl", "-si"]));
        return output.ToString();
    }

    [Fact]
    public void InfoPrintsEveryReasonCounterInFreeBsdOrderWithRatesOnlyOnceRunning()
    {
        var output = new StringWriter { NewLine = "\n" };
        using var lab = new Lab(output, output);
        Assert.Equal(0, lab.Execute(["pfctl", "-e"]));
        var text = Si(lab, output);
        var lines = text.Split('\n');
        var at = Array.IndexOf(lines, "Counters");
        Assert.True(at > 0, text);
        for (var i = 0; i < Reasons.Length; i++)
        {
            // runtime 0: "  %-25s %14ju %14s\n" with an empty rate
            Assert.Equal($"  {Reasons[i],-25} {0,14} {string.Empty,14}", lines[at + 1 + i]);
        }

        Assert.Equal("  current entries                        0               ", lines[Array.IndexOf(lines, "State Table                          Total             Rate") + 1]);

        var engine = PfInstance.Of(lab.Host).Engine;
        engine.Counters[(int)Sluice.Pf.Engine.PfReason.Fragment] = 5;
        engine.Counters[(int)Sluice.Pf.Engine.PfReason.Synproxy] = 3;
        lab.Loop.RunFor(10 * Nanos.PerSecond);
        lines = Si(lab, output).Split('\n');
        Assert.Contains("  fragment                               5            0.5/s", lines);
        Assert.Contains("  synproxy                               3            0.3/s", lines);
        Assert.Contains("  normalize                              0            0.0/s", lines);
    }

    /// <summary>print_status's -v sections, with expected lines written from its printf formats (not from our output).</summary>
    [Fact]
    public void VerboseInfoShowsHostIdChecksumLogInterfaceSourceTrackingLimitsAndSyncookies()
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        using var lab = new Lab(stdout, stderr);
        var conf = Path.GetTempFileName();
        try
        {
            // Echo requests pass in without state; the replies are blocked on the way out.
            File.WriteAllText(conf, "set loginterface epair0b\nset syncookies adaptive (start 25%, end 12%)\nblock out quick inet proto icmp all\npass in all no state\n");
            var status = lab.RunScriptText(string.Join('\n',
                "jail -c name=a vnet persist", "jail -c name=b vnet persist", "ifconfig epair0 create",
                "ifconfig epair0a vnet a", "ifconfig epair0b vnet b",
                "jexec a ifconfig epair0a inet 192.0.2.1/24 up", "jexec b ifconfig epair0b inet 192.0.2.2/24 up",
                $"jexec b pfctl -f {conf}", "jexec b pfctl -e", "! jexec a ping -c 2 192.0.2.2", ""), "si.lab");
            Assert.True(status == 0, stderr.ToString() + stdout.ToString());
            lab.Loop.RunFor(5 * Nanos.PerSecond);
            var engine = PfInstance.Of(lab.Jail("b")!.Stack).Engine;

            stdout.GetStringBuilder().Clear();
            Assert.Equal(0, lab.Execute(["jexec", "b", "pfctl", "-vsi"]));
            var lines = stdout.ToString().Split('\n');
            // "%-44s" of the 35-character status, then "%15s" of "Debug: Urgent".
            Assert.Matches("^Status: Enabled for 0 days 00:00:[0-9]{2} {11}Debug: Urgent$", lines[0]);
            Assert.Equal(string.Empty, lines[1]);
            Assert.Equal($"Hostid:   0x{engine.HostId:x8}", lines[2]);
            Assert.Matches("^Checksum: 0x[0-9a-f]{32}$", lines[3]);
            Assert.NotEqual("Checksum: 0x00000000000000000000000000000000", lines[3]);
            Assert.Equal(string.Empty, lines[4]);

            // "Interface Stats for %-16s %5s %16s", "  %-25s %14llu %16llu", "    %-23s %14llu %16llu"; 84-byte echoes.
            Assert.Equal("Interface Stats for epair0b           IPv4             IPv6", lines[5]);
            Assert.Equal("  Bytes In                             168                0", lines[6]);
            Assert.Equal("  Bytes Out                            168                0", lines[7]);
            Assert.Equal("  Packets In", lines[8]);
            Assert.Equal("    Passed                               2                0", lines[9]);
            Assert.Equal("    Blocked                              0                0", lines[10]);
            Assert.Equal("  Packets Out", lines[11]);
            Assert.Equal("    Passed                               0                0", lines[12]);
            Assert.Equal("    Blocked                              2                0", lines[13]);
            Assert.Equal(string.Empty, lines[14]);
            Assert.Equal("State Table                          Total             Rate", lines[15]);

            var st = Array.IndexOf(lines, "Source Tracking Table");
            Assert.True(st > 15 && lines[st - 1].StartsWith("  removals ", StringComparison.Ordinal), stdout.ToString());
            Assert.Equal("  current entries                        0               ", lines[st + 1]);
            Assert.Equal("  searches                               0            0.0/s", lines[st + 2]);
            Assert.StartsWith("  inserts  ", lines[st + 3], StringComparison.Ordinal);
            Assert.StartsWith("  removals ", lines[st + 4], StringComparison.Ordinal);
            Assert.Equal("Counters", lines[st + 5]);

            var lc = Array.IndexOf(lines, "Limit Counters");
            Assert.Equal(lines[lc - 1], lines[Array.IndexOf(lines, "Counters") + Reasons.Length]);
            string[] limits = ["max states per rule", "max-src-states", "max-src-nodes", "max-src-conn", "max-src-conn-rate",
                "overload table insertion", "overload flush states", "synfloods detected", "syncookies sent", "syncookies validated"];
            for (var i = 0; i < limits.Length; i++)
            {
                // "  %-25s %14ju " + "%14.1f/s": 0 over a running time of at least 5 s is 0.0/s.
                Assert.Equal($"  {limits[i],-25} {0,14} {"0.0",14}/s", lines[lc + 1 + i]);
            }

            Assert.Equal("Syncookies", lines[lc + 11]);
            Assert.Equal("  mode                      adaptive", lines[lc + 12]);
            Assert.Equal(string.Empty, lines[lc + 13]);
            Assert.Equal(lc + 14, lines.Length);

            // Without -v: the interface block stays (print_status prints it whenever loginterface is set), the
            // verbose sections go.
            stdout.GetStringBuilder().Clear();
            Assert.Equal(0, lab.Execute(["jexec", "b", "pfctl", "-s", "info"]));
            var plain = stdout.ToString();
            Assert.DoesNotContain("Hostid:", plain, StringComparison.Ordinal);
            Assert.DoesNotContain("Source Tracking Table", plain, StringComparison.Ordinal);
            Assert.DoesNotContain("Limit Counters", plain, StringComparison.Ordinal);
            Assert.Contains("\n\nInterface Stats for epair0b           IPv4             IPv6\n", plain, StringComparison.Ordinal);

            // pfctl -z zeroes the interface counters too (DIOCCLRSTATUS clears the status interface's counters).
            Assert.Equal(0, lab.Execute(["jexec", "b", "pfctl", "-z"]));
            stdout.GetStringBuilder().Clear();
            Assert.Equal(0, lab.Execute(["jexec", "b", "pfctl", "-sinfo", "-v"]));
            Assert.Contains("\n  Bytes In                               0                0\n", stdout.ToString(), StringComparison.Ordinal);

            // The checksum is a function of the rules: the same rules give the same one, another rule set another.
            var first = engine.RulesetChecksum.ToArray();
            Assert.Equal(0, lab.Execute(["jexec", "b", "pfctl", "-f", conf]));
            Assert.Equal(first, engine.RulesetChecksum.ToArray());
            File.WriteAllText(conf, "pass all\n");
            Assert.Equal(0, lab.Execute(["jexec", "b", "pfctl", "-f", conf]));
            Assert.NotEqual(first, engine.RulesetChecksum.ToArray());
            Assert.Null(engine.LogInterface);
        }
        finally
        {
            File.Delete(conf);
        }
    }

    [Theory]
    [InlineData("max 1", Sluice.Pf.Engine.PfLimitCounter.States, Sluice.Pf.Engine.PfReason.StateLimit)]
    [InlineData("max-src-states 1", Sluice.Pf.Engine.PfLimitCounter.SrcStates, Sluice.Pf.Engine.PfReason.SrcLimit)]
    public void StateLimitsCountTheirLimitCounterAndSourceTrackingItsOperations(string option, Sluice.Pf.Engine.PfLimitCounter counter, Sluice.Pf.Engine.PfReason reason)
    {
        var net = new PfNet();
        var e = net.Load($"block all\npass in on $int_if proto udp keep state ({option})\npass out on $ext_if keep state\n").Engine;
        using var a = PfNet.Bound(net.Lan, 4000);
        using var b = PfNet.Bound(net.Lan, 4001);
        a.SendTo(new byte[10], new(PfNet.V4("192.0.2.2"), 5000));
        b.SendTo(new byte[10], new(PfNet.V4("192.0.2.2"), 5000));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(1UL, e.LimitCounters[(int)counter]);
        Assert.Equal(1UL, e.Counters[(int)reason]);
        Assert.Equal(0UL, e.LimitCounters.Where((_, i) => i != (int)counter).Aggregate(0UL, (x, y) => x + y));
        var tracked = counter == Sluice.Pf.Engine.PfLimitCounter.SrcStates;
        Assert.Equal(tracked ? 2UL : 0UL, e.SourceSearches);
        Assert.Equal(tracked ? 1UL : 0UL, e.SourceInserts);
        Assert.Equal(tracked ? 1 : 0, e.SourceNodeCount);
        e.FlushSourceNodes();
        Assert.Equal(tracked ? 1UL : 0UL, e.SourceRemovals);
        e.ZeroCounters();
        Assert.All(e.LimitCounters, v => Assert.Equal(0UL, v));
        Assert.Equal(0UL, e.SourceSearches + e.SourceInserts + e.SourceRemovals);
    }
}
