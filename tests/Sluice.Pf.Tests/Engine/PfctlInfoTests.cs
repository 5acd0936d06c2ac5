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
}
