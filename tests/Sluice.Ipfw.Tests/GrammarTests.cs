using CsCheck;
using Sluice.Cli;
using Sluice.Dummynet;
using Sluice.Ipfw;
using Sluice.Stack;
using Sluice.Stack.Time;

namespace Sluice.Ipfw.Tests;

/// <summary>ipfw and dummynet grammar: ipfw(8) examples, FreeBSD's show format, errors, hostile input.</summary>
public sealed class GrammarTests
{
    private static string Rule(string text)
    {
        Assert.True(IpfwParser.TryParseRule(text.Split(' ', StringSplitOptions.RemoveEmptyEntries), out var rule, out var error), error?.Message);
        return rule!.FormatBody();
    }

    // Expected texts follow ipfw(8)'s normalisation: accept/pass/permit print as allow, any addresses print as any,
    // keep-state gets its default name, networks are masked.
    [Theory]
    [InlineData("allow tcp from any to any established", "allow tcp from any to any established")]
    [InlineData("pass all from 192.168.2.0/24 to any", "allow ip from 192.168.2.0/24 to any")]
    [InlineData("deny ip from any to any", "deny ip from any to any")]
    [InlineData("allow tcp from any to me 22 setup keep-state", "allow tcp from any to me 22 setup keep-state :default")]
    [InlineData("deny tcp from 192.168.2.0/24 to any 23", "deny tcp from 192.168.2.0/24 to any 23")]
    [InlineData("allow tcp from 192.168.2.0/24 to 1.2.3.4/24 21,25,80", "allow tcp from 192.168.2.0/24 to 1.2.3.0/24 21,25,80")]
    [InlineData("allow tcp from any to any 1024-65535 in via em0", "allow tcp from any to any 1024-65535 in via em0")]
    [InlineData("check-state", "check-state :default")]
    [InlineData("allow tcp from my-net to any setup limit src-addr 2", null)]
    [InlineData("allow tcp from 192.168.1.0/24 to any setup limit src-addr 2", "allow tcp from 192.168.1.0/24 to any setup limit src-addr 2 :default")]
    [InlineData("pipe 1 ip from any to 203.0.113.5", "pipe 1 ip from any to 203.0.113.5")]
    [InlineData("skipto 1000 all from any to any", "skipto 1000 ip from any to any")]
    [InlineData("deny icmp from any to any icmptypes 8,0", "deny icmp from any to any icmptypes 0,8")]
    [InlineData("count ip from any to any ipttl 1-2", "count ip from any to any ipttl 1-2")]
    [InlineData("deny log tcp from any to any tcpflags syn,!ack", "deny log tcp from any to any tcpflags syn,!ack")]
    [InlineData("allow ip from { 10.0.0.1 or 10.0.0.2 } to any", "allow ip from { 10.0.0.1 or 10.0.0.2 } to any")]
    [InlineData("deny ip from table(bad) to any", "deny ip from table(bad) to any")]
    [InlineData("allow ip from not 10.0.0.0/8 to any out xmit epair0a", "allow ip from not 10.0.0.0/8 to any out xmit epair0a")]
    [InlineData("prob 0.5 deny ip from any to any // half", "prob 0.500000 deny ip from any to any // half")]
    [InlineData("unreach port udp from any to any 53", "unreach port udp from any to any 53")]
    [InlineData("reject ip from any to any frag", "reject ip from any to any frag")]
    [InlineData("allow in", "allow in")]
    public void RulesPrintInFreeBsdForm(string input, string? expected)
    {
        if (expected is null)
        {
            Assert.False(IpfwParser.TryParseRule(input.Split(' '), out _, out var error));
            Assert.Equal("bad source address my-net", error!.Message);
            return;
        }

        var printed = Rule(input);
        Assert.Equal(expected, printed);
        // The printed form is a fixed point.
        Assert.Equal(printed, Rule(printed));
    }

    [Theory]
    [InlineData("add 100 allow ip from any to any bogus", "ipfw: unrecognised option [-1] bogus\n\n", 64)]
    [InlineData("add 100 frobnicate ip from any to any", "ipfw: invalid action frobnicate\n\n", 65)]
    [InlineData("add 100 allow tcp from", "ipfw: missing source address\n", 64)]
    [InlineData("add 100 allow tcp from any", "ipfw: missing ``to''\n", 64)]
    [InlineData("add 100 allow tcp from 1.2.3.999 to any", "ipfw: bad source address 1.2.3.999\n", 64)]
    [InlineData("add 100 prob 2 allow ip from any to any", "ipfw: illegal match prob. 2\n", 65)]
    [InlineData("pipe 1 config bogus 1", "ipfw: unrecognised option ``bogus''\n", 65)]
    [InlineData("pipe 1 config delay 20000", "ipfw: delay must be < 10000\n", 65)]
    [InlineData("pipe config bw 1Mbit/s", "ipfw: need a pipe/flowset/sched number\n", 64)]
    [InlineData("pipe 1 config queue 500", "ipfw: 2 <= queue size <= 100\n", 65)]
    [InlineData("queue 1 config bw 1Mbit/s", "ipfw: bw is only for links\n", 1)]
    [InlineData("pipe 1 config plr", "ipfw: plr needs argument 0..1\n\n", 64)]
    [InlineData("pipe 1 config mask src-port 0x10000", "ipfw: port mask must be 16 bit\n", 65)]
    public void ErrorsUseFreeBsdWordingAndChangeNothing(string command, string expected, int status)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Lab(stdout, stderr);
        Assert.Equal(status, lab.Execute("ipfw " + command));
        Assert.Equal(expected, stderr.ToString());
        var fw = IpfwInstance.Of(lab.Host);
        Assert.Single(fw.Rules);
        Assert.Empty(DummynetInstance.Of(lab.Host).Links);
    }

    [Fact]
    public void PipeShowMatchesTheFreeBsdLayout()
    {
        var stdout = new StringWriter();
        using var lab = new Lab(stdout, TextWriter.Null);
        Assert.Equal(0, lab.Execute("ipfw pipe 40 config bw 10Mbit/s"));
        Assert.Equal(0, lab.Execute("ipfw pipe show"));
        // Sample from a FreeBSD lab write-up (reference doc §7).
        Assert.Equal(
            "00040:  10.000 Mbit/s    0 ms burst 0\n"
            + "q131112  50 sl. 0 flows (1 buckets) sched 65576 weight 0 lmax 0 pri 0 droptail\n"
            + " sched 65576 type FIFO flags 0x0 0 buckets 0 active\n",
            stdout.ToString());
    }

    [Theory]
    [InlineData("1Mbit/s", 1_000_000)]
    [InlineData("100KByte/s", 800_000)]
    [InlineData("2Gbit/s", 2_000_000_000)]
    [InlineData("56000", 56_000)]
    [InlineData("10Kbit/s", 10_000)]
    [InlineData("1MBytes/s", 8_000_000)]
    [InlineData("0", 0)]
    public void BandwidthUnits(string text, long bits)
    {
        Assert.True(DummynetParser.TryReadBandwidth(text, out var bw));
        Assert.Equal(bits, bw);
    }

    [Fact]
    public void DnctlSharesTheGrammar()
    {
        var stdout = new StringWriter();
        using var lab = new Lab(stdout, TextWriter.Null);
        Assert.Equal(0, lab.Execute("dnctl pipe 2 config bw 500Kbit/s delay 10 queue 20KBytes"));
        Assert.Equal(0, lab.Execute("dnctl pipe show 2"));
        Assert.Equal(
            "00002: 500.000 Kbit/s   10 ms burst 0\n"
            + "q131074 20 KB 0 flows (1 buckets) sched 65538 weight 0 lmax 0 pri 0 droptail\n"
            + " sched 65538 type FIFO flags 0x0 0 buckets 0 active\n",
            stdout.ToString());
    }

    private static readonly string[] Vocabulary =
    [
        "add", "delete", "list", "show", "flush", "-f", "-q", "zero", "set", "table", "pipe", "queue", "sched", "config",
        "allow", "deny", "count", "skipto", "call", "return", "check-state", "reject", "unreach", "reset", "fwd", "setfib",
        "tcp", "udp", "icmp", "ip", "from", "to", "any", "me", "not", "{", "}", "or", "in", "out", "via", "setup",
        "established", "keep-state", "limit", "src-addr", "tcpflags", "icmptypes", "ipttl", "frag", "tagged", "//", "prob",
        "1", "100", "65535", "0", "-1", "10.0.0.0/8", "1.2.3.4", "::1", "22", "1-2", "bw", "delay", "plr", "mask", "src-ip",
        "0xffffff00", "type", "fq_codel", "wf2q+", "rr", "target", "5ms", "weight", "1Mbit/s", "create", "table(t)", "log",
        "create", "destroy", "enable", "disable", "move", "rule", "swap", ":x", "red", "0.002/30/80/0.1", "buckets", "burst",
        "\0", "", "nan", "1e99", new string('9', 40),
    ];

    [Fact]
    public void HostileCommandsNeverThrowNorHalfApply()
    {
        using var lab = new Lab(TextWriter.Null, TextWriter.Null);
        var fw = IpfwInstance.Of(lab.Host);
        var dn = DummynetInstance.Of(lab.Host);
        var gen = Gen.Select(Gen.Int[0, 1], Gen.Int[0, Vocabulary.Length - 1].Array[1, 12], Gen.String.Array[0, 1]);
        gen.Sample((tool, words, junk) =>
        {
            var before = fw.Format(true, true, false, true, true, null, out _);
            var beforeDn = dn.Show(DnObjectKind.Pipe) + dn.Show(DnObjectKind.Queue) + dn.Show(DnObjectKind.Sched);
            var argv = new List<string> { tool == 0 ? "ipfw" : "dnctl" };
            argv.AddRange(words.Select(i => Vocabulary[i]));
            argv.AddRange(junk);
            var stderr = new StringWriter();
            var status = lab.Run(argv.ToArray(), null, TextWriter.Null, stderr);
            Assert.InRange(status, 0, 255);
            Assert.Equal(0, lab.InternalErrors);
            if (status != 0 && !argv.Contains("delete") && !argv.Contains("zero") && !argv.Contains("resetlog") && !argv.Contains("set"))
            {
                Assert.Equal(before, fw.Format(true, true, false, true, true, null, out _));
                Assert.Equal(beforeDn, dn.Show(DnObjectKind.Pipe) + dn.Show(DnObjectKind.Queue) + dn.Show(DnObjectKind.Sched));
            }

            if (fw.Rules.Count > 200)
            {
                fw.Flush();
                dn.Flush();
            }
        }, iter: 20_000, threads: 1);
    }

    [Fact]
    public void MutatedRulesNeverThrow()
    {
        string[] seeds =
        [
            "add 100 allow tcp from any to me 22 setup keep-state",
            "add 200 pipe 1 ip from 10.0.0.0/8 to any out xmit em0",
            "pipe 1 config bw 1Mbit/s delay 50ms plr 0.01 mask src-ip 0xffffffff buckets 256",
            "sched 2 config type fq_codel target 5ms interval 100ms quantum 1514 limit 1000 flows 64 ecn",
        ];
        var gen = Gen.Select(Gen.Int[0, seeds.Length - 1], Gen.Int[0, 40], Gen.Char, Gen.Int[0, 2]);
        gen.Sample((s, pos, ch, op) =>
        {
            var text = seeds[s];
            pos = Math.Min(pos, text.Length - 1);
            text = op switch
            {
                0 => text.Remove(pos, 1),
                1 => text.Insert(pos, ch.ToString()),
                _ => text[..pos] + ch + text[(pos + 1)..],
            };
            var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length > 1 && words[0] == "add")
            {
                IpfwParser.TryParseRule(words.AsSpan(1), out _, out _);
            }

            var loop = EventLoop.CreateVirtual();
            var stack = new NetStack(loop);
            var dn = DummynetInstance.Of(stack);
            if (words.Length > 1 && words[0] is "pipe" or "sched")
            {
                var args = words.Length > 2 ? new[] { words[1] }.Concat(words.Skip(3)).ToArray() : words[1..];
                dn.TryConfigure(words[0] == "pipe" ? DnObjectKind.Pipe : DnObjectKind.Sched, args, out _);
            }
        }, iter: 5_000);
    }
}
