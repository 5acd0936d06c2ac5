using System.Globalization;
using Sluice.Dummynet;
using Sluice.Ipfw;

namespace Sluice.Cli;

/// <summary>
/// ipfw(8) against the current VNET: <c>add</c>, <c>delete</c>, <c>list</c>/<c>show</c> (<c>-a -t -d -e -S</c>),
/// <c>flush</c>, <c>zero</c>, <c>resetlog</c>, <c>set</c>, <c>table</c>, <c>pipe|queue|sched</c>, and a rules file.
/// </summary>
/// <remarks>Errors follow sbin/ipfw/ipfw2.c (<c>ipfw: unrecognised option [-1] x</c>); a failed command changes nothing.</remarks>
internal sealed class Ipfw : ITool
{
    private sealed class Options
    {
        public bool Counters, Dynamic, Expired, Force, Quiet, Sets, Times, SyntaxOnly;
    }

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        var o = new Options();
        var i = 0;
        while (i < args.Length && args[i].StartsWith('-') && args[i].Length > 1 && !char.IsAsciiDigit(args[i][1]))
        {
            foreach (var c in args[i][1..])
            {
                switch (c)
                {
                    case 'a':
                        o.Counters = true;
                        break;
                    case 'd':
                        o.Dynamic = true;
                        break;
                    case 'e':
                        o.Expired = true;
                        o.Dynamic = true;
                        break;
                    case 'f':
                        o.Force = true;
                        break;
                    case 'q':
                        o.Quiet = true;
                        break;
                    case 'S':
                        o.Sets = true;
                        break;
                    case 't':
                        o.Times = true;
                        break;
                    case 'n':
                        o.SyntaxOnly = true;
                        break;
                    case 'b' or 'c' or 'N' or 's' or 'T' or 'v' or 'i' or 'D':
                        break;
                    default:
                        ctx.Err.WriteLine($"ipfw: illegal option -- {c}");
                        return Usage(ctx);
                }
            }

            i++;
        }

        var rest = args[i..];
        if (rest.Length == 0)
        {
            return Usage(ctx);
        }

        if (rest.Length == 1 && (rest[0].StartsWith('/') || rest[0].StartsWith("./", StringComparison.Ordinal)))
        {
            return RunFile(ctx, rest[0], o);
        }

        return Command(ctx, rest, o);
    }

    private static int Usage(ToolContext ctx)
    {
        ctx.Err.Write("usage: ipfw [options]\ndo \"ipfw -h\" or \"man ipfw\" for details\n");
        return 64;
    }

    private static int RunFile(ToolContext ctx, string path, Options o)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return ctx.Fail($"{path}: No such file or directory", 66);
        }

        var lineNo = 0;
        foreach (var raw in lines)
        {
            lineNo++;
            var line = raw;
            var hash = line.IndexOf('#', StringComparison.Ordinal);
            if (hash >= 0)
            {
                line = line[..hash];
            }

            var words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0)
            {
                continue;
            }

            var start = words[0] == "ipfw" ? 1 : 0;
            var sub = new Options { Quiet = o.Quiet, Force = true, Counters = o.Counters, SyntaxOnly = o.SyntaxOnly };
            var j = start;
            while (j < words.Length && words[j].StartsWith('-') && words[j].Length > 1 && !char.IsAsciiDigit(words[j][1]))
            {
                sub.Quiet |= words[j].Contains('q', StringComparison.Ordinal);
                j++;
            }

            var status = Command(ctx, words.AsSpan(j), sub);
            if (status != 0)
            {
                ctx.Err.WriteLine($"Line {lineNo}: {line.Trim()}");
                return status;
            }
        }

        return 0;
    }

    /// <summary>ipfw nat N config ... | nat N delete | nat [N] show config.</summary>
    private static int NatCommand(ToolContext ctx, IpfwInstance fw, ReadOnlySpan<string> args)
    {
        if (args.Length >= 1 && args[0] == "show")
        {
            return NatShow(ctx, fw, null, args[1..]);
        }

        if (args.Length < 2 || !int.TryParse(args[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) || id < 1)
        {
            return ctx.Fail("ipfw: nat: missing or invalid nat number", 64);
        }

        switch (args[1])
        {
            case "config":
                if (!IpfwNatConfig.TryParse(id, args[2..], out var config, out var error))
                {
                    return ctx.Fail("ipfw: " + error, 64);
                }

                fw.ConfigureNat(config!);
                return 0;
            case "delete":
                return fw.DeleteNat(id) ? 0 : ctx.Fail($"ipfw: Nat instance {id} does not exist", 71);
            case "show":
                return NatShow(ctx, fw, id, args[2..]);
            default:
                return ctx.Fail($"ipfw: unrecognised option ``{args[1]}''", 64);
        }
    }

    private static int NatShow(ToolContext ctx, IpfwInstance fw, int? id, ReadOnlySpan<string> rest)
    {
        if (id is { } n && !fw.Nat.ContainsKey(n))
        {
            return ctx.Fail($"ipfw: Nat instance {n} does not exist", 71);
        }

        var config = rest.Length > 0 && rest[0] == "config";
        foreach (var nat in fw.Nat.Values)
        {
            if (id is not null && nat.Config.Id != id)
            {
                continue;
            }

            ctx.Out.WriteLine(config ? nat.Config.Format() : $"nat {nat.Config.Id}: links {nat.LinkCount}");
        }

        return 0;
    }

    private static int Command(ToolContext ctx, ReadOnlySpan<string> av, Options o)
    {
        if (av[0] is "pipe" or "queue" or "sched")
        {
            if (av.Length > 1 && av[1] is "flush" && !o.Force && !o.Quiet)
            {
                ctx.Out.Write("Are you sure? [yn] ");
                return 0;
            }

            return DummynetCommand.Run(ctx, av, o.Quiet);
        }

        var fw = IpfwInstance.Of(ctx.Stack);
        var args = av[1..];
        switch (av[0])
        {
            case "add":
                {
                    if (!IpfwParser.TryParseRule(args, out var rule, out var error))
                    {
                        return ctx.Fail(error!.Message, error.Status);
                    }

                    if (o.SyntaxOnly)
                    {
                        return 0;
                    }

                    fw.Add(rule!);
                    if (!o.Quiet)
                    {
                        ctx.Out.WriteLine($"{rule!.Number:D5} {rule.FormatBody(o.Sets)}");
                    }

                    return 0;
                }

            case "delete":
                {
                    if (args.Length == 0)
                    {
                        return ctx.Fail("rule number required", 64);
                    }

                    if (args[0] == "set")
                    {
                        if (args.Length < 2 || !int.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out var s) || s > 31)
                        {
                            return ctx.Fail($"invalid set number {(args.Length > 1 ? args[1] : string.Empty)}", 65);
                        }

                        fw.DeleteSet(s);
                        return 0;
                    }

                    var status = 0;
                    foreach (var a in args)
                    {
                        if (!int.TryParse(a, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n is < 1 or > 65534)
                        {
                            return ctx.Fail($"invalid rule number: {a}", 65);
                        }
                    }

                    foreach (var a in args)
                    {
                        var n = int.Parse(a, CultureInfo.InvariantCulture);
                        if (!fw.Delete(n))
                        {
                            status = 69;
                            if (!o.Quiet)
                            {
                                ctx.Err.WriteLine($"ipfw: rule {n}: setsockopt(IP_FW_XDEL): No such process");
                            }
                        }
                    }

                    return status;
                }

            case "list" or "show":
                {
                    var ranges = new List<(int, int)>();
                    foreach (var a in args)
                    {
                        var dash = a.IndexOf('-', StringComparison.Ordinal);
                        var lo = DummynetParser.AtoI(dash > 0 ? a[..dash] : a);
                        var hi = dash > 0 ? DummynetParser.AtoI(a[(dash + 1)..]) : lo;
                        if (lo <= 0 && !a.StartsWith('0'))
                        {
                            return ctx.Fail($"invalid rule number: {a}", 65);
                        }

                        ranges.Add((lo, hi));
                    }

                    var text = fw.Format(o.Counters || av[0] == "show", o.Sets, o.Times, o.Dynamic, o.Expired, ranges, out var any);
                    ctx.Out.Write(text);
                    if (!any && ranges.Count > 0)
                    {
                        var (lo, hi) = ranges[0];
                        return ctx.Fail(lo == hi ? $"rule {lo} does not exist" : $"no rules in range {lo}-{hi}", 69);
                    }

                    return 0;
                }

            case "flush":
                if (!o.Force && !o.Quiet)
                {
                    ctx.Out.Write("Are you sure? [yn] ");
                    return 0;
                }

                fw.Flush();
                if (!o.Quiet)
                {
                    ctx.Out.WriteLine("Flushed all rules.");
                }

                return 0;
            case "zero" or "resetlog":
                {
                    var logOnly = av[0] == "resetlog";
                    if (args.Length == 0)
                    {
                        fw.Zero(null, logOnly);
                        if (!o.Quiet)
                        {
                            ctx.Out.WriteLine(logOnly ? "Logging counts reset." : "Accounting cleared.");
                        }

                        return 0;
                    }

                    var status = 0;
                    foreach (var a in args)
                    {
                        var n = DummynetParser.AtoI(a);
                        if (!fw.Zero(n, logOnly))
                        {
                            status = 69;
                            ctx.Err.WriteLine($"ipfw: rule {n} does not exist");
                        }
                        else if (!o.Quiet)
                        {
                            ctx.Out.WriteLine(logOnly ? $"Entry {n} logging count reset." : $"Entry {n} cleared.");
                        }
                    }

                    return status;
                }

            case "set":
                return SetCommand(ctx, fw, args);
            case "table":
                return TableCommand(ctx, fw, args);
            case "nat":
                return NatCommand(ctx, fw, args);
            case "enable" or "disable":
                {
                    if (args.Length == 0 || args[0] is not ("firewall" or "one_pass" or "dyn_keepalive"))
                    {
                        return ctx.Fail($"unrecognize enable/disable keyword: {(args.Length > 0 ? args[0] : string.Empty)}", 64);
                    }

                    var name = args[0] == "firewall" ? "net.inet.ip.fw.enable" : $"net.inet.ip.fw.{args[0]}";
                    ctx.Stack.Sysctl.TrySet(name, av[0] == "enable" ? "1" : "0");
                    return 0;
                }

            default:
                return ctx.Fail($"bad command `{av[0]}'", 64);
        }
    }

    private static int SetCommand(ToolContext ctx, IpfwInstance fw, ReadOnlySpan<string> a)
    {
        static bool Num(string s, out int v) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v) && v <= 31;
        if (a.Length == 0 || a[0] == "show")
        {
            var d = fw.DisabledSets;
            var line = "disable";
            for (var s = 0; s < 31; s++)
            {
                if ((d & (1u << s)) != 0)
                {
                    line += $" {s}";
                }
            }

            line += " enable";
            for (var s = 0; s < 31; s++)
            {
                if ((d & (1u << s)) == 0)
                {
                    line += $" {s}";
                }
            }

            ctx.Out.WriteLine(line);
            return 0;
        }

        switch (a[0])
        {
            case "enable" or "disable":
                {
                    var changes = new List<(int, bool)>();
                    var enable = a[0] == "enable";
                    for (var k = 1; k < a.Length; k++)
                    {
                        if (a[k] is "enable" or "disable")
                        {
                            enable = a[k] == "enable";
                            continue;
                        }

                        if (!Num(a[k], out var s))
                        {
                            return ctx.Fail($"invalid set number {a[k]}", 65);
                        }

                        changes.Add((s, enable));
                    }

                    foreach (var (s, e) in changes)
                    {
                        fw.SetEnabled(s, e);
                    }

                    return 0;
                }

            case "swap" when a.Length == 3 && Num(a[1], out var x) && Num(a[2], out var y):
                fw.MoveSet(x, y, true);
                return 0;
            case "move" when a.Length == 5 && a[1] == "rule" && a[3] == "to" && int.TryParse(a[2], out var rn) && Num(a[4], out var to):
                return fw.MoveRule(rn, to) ? 0 : ctx.Fail($"rule {rn} does not exist", 69);
            case "move" when a.Length == 4 && a[2] == "to" && Num(a[1], out var from) && Num(a[3], out var to2):
                fw.MoveSet(from, to2, false);
                return 0;
            default:
                return ctx.Fail($"invalid set command {a[0]}\n", 64);
        }
    }

    private static int TableCommand(ToolContext ctx, IpfwInstance fw, ReadOnlySpan<string> a)
    {
        if (a.Length < 2)
        {
            return ctx.Fail("table needs name", 64);
        }

        var name = a[0];
        var cmd = a[1];
        if (name == "all" && cmd is "list" or "flush")
        {
            foreach (var t in fw.Tables.Values.OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                if (cmd == "list")
                {
                    ListTable(ctx, t);
                }
                else
                {
                    t.Flush();
                }
            }

            return 0;
        }

        if (name.Length is 0 or > 63 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
        {
            return ctx.Fail($"table name {name} is invalid", 65);
        }

        fw.Tables.TryGetValue(name, out var table);
        switch (cmd)
        {
            case "create":
                if (a.Length > 2 && !(a.Length == 4 && a[2] == "type" && a[3] == "addr"))
                {
                    return ctx.Fail($"Unknown table type: {(a.Length > 3 ? a[3] : a[2])}", 65);
                }

                return fw.CreateTable(name) ? 0 : ctx.Fail("Table creation failed: File exists", 71);
            case "destroy":
                return fw.DestroyTable(name) ? 0 : ctx.Fail($"Table {name} does not exist", 71);
            case "flush":
                if (table is null)
                {
                    return ctx.Fail($"Table {name} does not exist", 71);
                }

                table.Flush();
                return 0;
            case "list" or "show":
                if (table is null)
                {
                    return ctx.Fail($"Table {name} does not exist", 71);
                }

                ListTable(ctx, table);
                return 0;
            case "add" or "delete":
                {
                    if (a.Length < 3)
                    {
                        return ctx.Fail("address required", 64);
                    }

                    if (!TryPrefix(a[2], out var addr, out var len, out var v6))
                    {
                        return ctx.Fail($"bad address {a[2]}", 65);
                    }

                    uint value = 0;
                    if (cmd == "add" && a.Length > 3 && !uint.TryParse(a[3], NumberStyles.None, CultureInfo.InvariantCulture, out value))
                    {
                        return ctx.Fail($"Invalid value: {a[3]}", 65);
                    }

                    if (table is null)
                    {
                        if (cmd == "delete" || !name.All(char.IsAsciiDigit))
                        {
                            return ctx.Fail($"Table {name} does not exist", 71);
                        }

                        fw.CreateTable(name);
                        table = fw.Tables[name];
                    }

                    var pfx = $"{a[2]}";
                    if (cmd == "add")
                    {
                        if (!table.Add(addr, len, v6, value))
                        {
                            ctx.Out.WriteLine($"added: {pfx} {value}");
                            return ctx.Fail("Adding record failed: record already exists", 71);
                        }

                        ctx.Out.WriteLine($"added: {Prefix(addr, len, v6)} {value}");
                        return 0;
                    }

                    if (!table.Delete(addr, len, v6))
                    {
                        return ctx.Fail("Deleting record failed: record not found", 71);
                    }

                    ctx.Out.WriteLine($"deleted: {Prefix(addr, len, v6)} 0");
                    return 0;
                }

            default:
                return ctx.Fail($"table: unknown command {cmd}", 64);
        }
    }

    private static void ListTable(ToolContext ctx, IpfwTable t)
    {
        ctx.Out.WriteLine($"--- table({t.Name}), set(0) ---");
        foreach (var e in t.Entries)
        {
            ctx.Out.WriteLine($"{Prefix(e.Address, e.Length, e.V6)} {e.Value}");
        }
    }

    private static string Prefix(UInt128 a, int len, bool v6) =>
        v6 ? $"{IpfwAddress.V6(a)}/{len}" : $"{new Sluice.Wire.IPv4Address((uint)a)}/{len}";

    private static bool TryPrefix(string s, out UInt128 address, out int len, out bool v6)
    {
        address = 0;
        v6 = false;
        var slash = s.IndexOf('/', StringComparison.Ordinal);
        var host = slash >= 0 ? s[..slash] : s;
        len = -1;
        if (slash >= 0 && !int.TryParse(s.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out len))
        {
            return false;
        }

        if (Sluice.Wire.IPv4Address.TryParse(host, out var a4))
        {
            len = len < 0 ? 32 : len;
            if (len > 32)
            {
                return false;
            }

            address = a4.Value & AddressMask32(len);
            return true;
        }

        if (Sluice.Wire.IPv6Address.TryParse(host, out var a6))
        {
            len = len < 0 ? 128 : len;
            if (len > 128)
            {
                return false;
            }

            v6 = true;
            var full = ((UInt128)a6.High << 64) | a6.Low;
            address = len == 0 ? 0 : full & ~(UInt128.MaxValue >> len);
            return true;
        }

        return false;
    }

    private static uint AddressMask32(int len) => len <= 0 ? 0 : len >= 32 ? uint.MaxValue : ~(uint.MaxValue >> len);
}
