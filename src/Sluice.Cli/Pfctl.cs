using System.Globalization;
using System.Text;
using Sluice.Pf;
using Sluice.Pf.Config;

namespace Sluice.Cli;

/// <summary>
/// pfctl(8): load, check and print pf.conf (<c>-nvf</c>), enable/disable pf, show rules, tables, timeouts and limits,
/// and manage tables, in the current VNET.
/// </summary>
/// <remarks>
/// A file with any error changes nothing. Diagnostics go to stderr before stdout's listing, as FreeBSD's buffered
/// stdout appears after its unbuffered stderr when both go to one file.
/// </remarks>
internal sealed class Pfctl : ITool
{
    private const string UsageText =
        "usage: pfctl [-AdeghMmNnOPqRSrvz] [-a anchor] [-D macro=value] [-F modifier]\n"
        + "\t[-f file] [-i interface] [-K host | network]\n"
        + "\t[-k host | network | gateway | label | id] [-o level] [-p device]\n"
        + "\t[-s modifier] [-t table -T command [address ...]] [-x level]\n";

    private static readonly string[] ShowModifiers = ["rules", "nat", "queue", "states", "Sources", "info", "labels", "timeouts", "memory", "Tables", "osfp", "Interfaces", "all", "ethernet", "Running"];

    public int Run(ToolContext ctx, ReadOnlySpan<string> args) => Run(ctx, args, Environment.CurrentDirectory);

    /// <summary>Runs with relative paths resolved against <paramref name="workingDirectory"/>.</summary>
    internal int Run(ToolContext ctx, ReadOnlySpan<string> args, string workingDirectory)
    {
        string? file = null, anchor = null, show = null, flush = null, table = null, tableCmd = null, debug = null;
        var kill = new List<string>();
        string? killSources = null;
        bool noAction = false, enable = false, disable = false, zero = false, quiet = false;
        var verbose = 0;
        var defines = new Dictionary<string, string>(StringComparer.Ordinal);
        var opt = new GetOpt(args, "a:AdD:eqf:F:ghi:k:K:mMnNOo:Pp:rRs:St:T:vx:z");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'a':
                    anchor = opt.OptionArgument;
                    break;
                case 'd':
                    disable = true;
                    break;
                case 'e':
                    enable = true;
                    break;
                case 'D':
                    {
                        var d = opt.OptionArgument!;
                        var eq = d.IndexOf('=', StringComparison.Ordinal);
                        if (eq <= 0)
                        {
                            ctx.Err.WriteLine($"pfctl: could not parse macro definition {d}");
                            return 1;
                        }

                        defines[d[..eq]] = d[(eq + 1)..];
                        break;
                    }

                case 'f':
                    file = opt.OptionArgument;
                    break;
                case 'F':
                    flush = opt.OptionArgument;
                    break;
                case 'n':
                    noAction = true;
                    break;
                case 'o':
                    if (opt.OptionArgument is not ("none" or "basic" or "profile"))
                    {
                        ctx.Err.WriteLine($"pfctl: Unknown optimization '{opt.OptionArgument}'");
                        return 1;
                    }

                    break;
                case 's':
                    show = opt.OptionArgument;
                    break;
                case 't':
                    table = opt.OptionArgument;
                    break;
                case 'T':
                    tableCmd = opt.OptionArgument;
                    break;
                case 'v':
                    verbose++;
                    break;
                case 'x':
                    debug = opt.OptionArgument;
                    break;
                case 'z':
                    zero = true;
                    break;
                case 'q':
                    quiet = true;
                    break;
                case 'k':
                    kill.Add(opt.OptionArgument!);
                    break;
                case 'K':
                    killSources = opt.OptionArgument;
                    break;
                case 'A' or 'g' or 'h' or 'i' or 'm' or 'M' or 'N' or 'O' or 'P' or 'p' or 'r' or 'R' or 'S':
                    if (c == 'h')
                    {
                        ctx.Err.Write(UsageText);
                        return 0;
                    }

                    break;
                default:
                    ctx.Err.WriteLine(opt.Diagnostic("pfctl", c));
                    ctx.Err.Write(UsageText);
                    return 1;
            }
        }

        var operands = args[opt.OperandIndex..].ToArray();
        if (operands.Length > 0 && tableCmd is null)
        {
            ctx.Err.Write(UsageText);
            return 1;
        }

        if (tableCmd is not null && table is null)
        {
            ctx.Err.Write(UsageText);
            return 1;
        }

        var pf = PfInstance.Of(ctx.Stack);
        var status = 0;
        if (disable)
        {
            if (!pf.Disable())
            {
                ctx.Err.WriteLine("pfctl: pf not enabled");
                status = 1;
            }
            else if (!quiet)
            {
                ctx.Err.WriteLine("pf disabled");
            }
        }

        if (flush is not null)
        {
            status |= Flush(ctx, pf, flush, anchor, quiet);
        }

        if (file is not null)
        {
            status |= Load(ctx, pf, file, anchor, noAction, verbose, defines, workingDirectory);
            if (status != 0)
            {
                return status;
            }
        }

        if (debug is not null)
        {
            if (debug is not ("none" or "urgent" or "misc" or "loud"))
            {
                ctx.Err.WriteLine("pfctl: unknown debug level");
                return 1;
            }

            if (!noAction)
            {
                pf.Debug = debug;
            }
        }

        if (enable)
        {
            if (!pf.Enable())
            {
                ctx.Err.WriteLine("pfctl: pf already enabled");
                status = 1;
            }
            else if (!quiet)
            {
                ctx.Err.WriteLine("pf enabled");
            }
        }

        if (zero)
        {
            pf.Engine.ZeroCounters();
            if (!quiet)
            {
                ctx.Err.WriteLine("pf: statistics cleared");
            }
        }

        if (kill.Count > 0)
        {
            status |= KillStates(ctx, pf, kill, quiet);
        }

        if (killSources is not null)
        {
            if (HostMatcher(ctx, killSources) is not { } m)
            {
                return 1;
            }

            var n = pf.Engine.KillSourceNodes(m);
            if (!quiet)
            {
                ctx.Err.WriteLine($"killed {n} src nodes from 1 sources and 0 destinations");
            }
        }

        if (tableCmd is not null)
        {
            status |= TableCommand(ctx, pf, table!, tableCmd, operands, noAction, quiet);
        }

        if (show is not null)
        {
            status |= Show(ctx, pf, show, anchor, verbose);
        }

        return status;
    }

    private static int Load(ToolContext ctx, PfInstance pf, string file, string? anchor, bool noAction, int verbose, Dictionary<string, string> defines, string cwd)
    {
        string text;
        string name;
        if (file == "-")
        {
            text = string.Empty;
            name = "stdin";
        }
        else
        {
            var path = Path.IsPathRooted(file) ? file : Path.Combine(cwd, file);
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                ctx.Err.WriteLine($"pfctl: {file}: No such file or directory");
                return 1;
            }

            name = file;
        }

        var options = new PfParseOptions { Interfaces = new PfStackInterfaces(ctx.Stack), WorkingDirectory = cwd, Defines = defines };
        var result = PfParser.Parse(text, name, options);
        foreach (var d in result.Diagnostics)
        {
            ctx.Err.WriteLine(d);
        }

        if (verbose > 0)
        {
            ctx.Out.Write(PfPrinter.Print(result.Ruleset ?? result.Partial, statementsOnly: result.Ruleset is null));
        }

        if (result.Ruleset is null)
        {
            if (!noAction)
            {
                ctx.Err.WriteLine("pfctl: Syntax error in config file: pf rules not loaded");
            }

            return 1;
        }

        if (!noAction)
        {
            pf.Commit(result.Ruleset, anchor);
        }

        return 0;
    }

    private static int Flush(ToolContext ctx, PfInstance pf, string what, string? anchor, bool quiet)
    {
        void Say(string s)
        {
            if (!quiet)
            {
                ctx.Err.WriteLine(s);
            }
        }

        switch (Modifier(what, ["rules", "nat", "queue", "states", "Sources", "info", "Tables", "osfp", "all", "ethernet", "Reset"]))
        {
            case "rules":
                pf.FlushRules(anchor);
                Say("rules cleared");
                return 0;
            case "nat":
                pf.FlushNat();
                Say("nat cleared");
                return 0;
            case "states":
                Say($"{pf.Engine.FlushStates()} states cleared");
                return 0;
            case "Sources":
                pf.Engine.FlushSourceNodes();
                Say("source tracking entries cleared");
                return 0;
            case "info":
                pf.Engine.ZeroCounters();
                Say("pf: statistics cleared");
                return 0;
            case "Tables":
                {
                    var n = pf.Tables.Count;
                    pf.Tables.Clear();
                    pf.TablesChanged();
                    Say($"{n} tables deleted.");
                    return 0;
                }

            case "all":
                pf.FlushRules(anchor);
                pf.FlushNat();
                Say("rules cleared");
                Say("nat cleared");
                Say($"{pf.Engine.FlushStates()} states cleared");
                pf.Engine.FlushSourceNodes();
                Say("source tracking entries cleared");
                pf.Engine.ZeroCounters();
                Say("pf: statistics cleared");
                var count = pf.Tables.Count;
                pf.Tables.Clear();
                pf.TablesChanged();
                Say($"{count} tables deleted.");
                return 0;
            case "queue" or "osfp" or "ethernet" or "Reset":
                return 0;
            default:
                ctx.Err.WriteLine($"pfctl: Unknown flush modifier '{what}'");
                ctx.Err.Write(UsageText);
                return 1;
        }
    }

    private static string? Modifier(string arg, string[] names)
    {
        // pfctl matches a modifier by its first letter(s): -sr, -sn, -sT ...
        foreach (var n in names)
        {
            if (n.StartsWith(arg, StringComparison.Ordinal))
            {
                return n;
            }
        }

        return null;
    }

    private static int Show(ToolContext ctx, PfInstance pf, string what, string? anchor, int verbose)
    {
        var rs = anchor is not null && pf.Anchors.TryGetValue(anchor, out var a) ? a : anchor is not null ? PfRuleset.Empty : pf.Active;
        switch (Modifier(what, ShowModifiers))
        {
            case "rules":
                ShowRules(ctx, rs.Scrub.Concat(rs.Filter), verbose, pf.Engine);
                return 0;
            case "nat":
                ShowRules(ctx, rs.Nat.Concat(rs.Rdr).Concat(rs.Binat), verbose, pf.Engine);
                return 0;
            case "info":
                ShowInfo(ctx, pf, verbose);
                return 0;
            case "timeouts":
                ShowTimeouts(ctx, pf);
                return 0;
            case "memory":
                ShowMemory(ctx, pf);
                return 0;
            case "Tables":
                foreach (var t in pf.Tables.Keys.Order(StringComparer.Ordinal))
                {
                    ctx.Out.WriteLine(t);
                }

                return 0;
            case "Interfaces":
                foreach (var ifp in ctx.Stack.Interfaces)
                {
                    ctx.Out.WriteLine(ifp.Name);
                }

                return 0;
            case "states":
                ctx.Out.Write(pf.Engine.FormatStates(verbose));
                return 0;
            case "labels":
                foreach (var l in pf.Engine.Labels())
                {
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{l.Label} {l.Evaluations} {l.Packets} {l.Bytes} {l.PacketsIn} {l.BytesIn} {l.PacketsOut} {l.BytesOut} {l.States}"));
                }

                return 0;
            case "ethernet":
                // pfctl_show_eth_rules: the loaded layer-2 rules, as print_eth_rule prints them.
                foreach (var e in rs.Ether)
                {
                    ctx.Out.WriteLine(PfPrinter.EtherRule(e));
                }

                return 0;
            case "queue":
                // pfctl_show_altq: the loaded altq and queue definitions.
                foreach (var st in rs.Statements)
                {
                    if (st is PfAltqStatement or PfQueueStatement)
                    {
                        ctx.Out.WriteLine(st is PfAltqStatement aq ? aq.Text : ((PfQueueStatement)st).Text);
                    }
                }

                return 0;
            case "Sources" or "osfp" or "Running":
                return 0;
            case "all":
                ctx.Out.WriteLine("FILTER RULES:");
                ShowRules(ctx, rs.Scrub.Concat(rs.Filter), verbose, pf.Engine);
                ctx.Out.WriteLine();
                ctx.Out.WriteLine("INFO:");
                ShowInfo(ctx, pf, verbose);
                ctx.Out.WriteLine();
                ctx.Out.WriteLine("TIMEOUTS:");
                ShowTimeouts(ctx, pf);
                ctx.Out.WriteLine();
                ctx.Out.WriteLine("LIMITS:");
                ShowMemory(ctx, pf);
                ctx.Out.WriteLine();
                ctx.Out.WriteLine("TABLES:");
                foreach (var t in pf.Tables.Keys.Order(StringComparer.Ordinal))
                {
                    ctx.Out.WriteLine(t);
                }

                return 0;
            default:
                ctx.Err.WriteLine($"pfctl: Unknown show modifier '{what}'");
                ctx.Err.Write(UsageText);
                return 1;
        }
    }

    private static void ShowRules(ToolContext ctx, IEnumerable<PfRule> rules, int verbose, Sluice.Pf.Engine.PfEngine? engine = null)
    {
        var nr = 0;
        foreach (var r in rules)
        {
            var sb = new StringBuilder();
            if (verbose > 1)
            {
                sb.Append(CultureInfo.InvariantCulture, $"@{nr} ");
            }

            sb.Append(PfPrinter.Rule(r));
            if (r.AnchorBody is not null)
            {
                sb.Append(" {\n");
                PfPrinter.Rules(sb, r.AnchorBody, 1);
                sb.Append('}');
            }

            ctx.Out.WriteLine(sb.ToString());
            if (verbose > 0)
            {
                var (ev, pk, by, st, cr) = engine?.RuleCounters(r) ?? (0, 0, 0, 0, 0);
                ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  [ Evaluations: {ev,-8} Packets: {pk,-10} Bytes: {by,-10} States: {st,-6}]"));
                ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  [ Inserted: uid 0 pid 0 State Creations: {cr,-6}]"));
            }

            nr++;
        }
    }

    /// <summary>pfctl_parser.c print_status: status line, -v host id and checksum, the loginterface's stats, the state and
    /// (-v) source tracking tables, the reason counters, and (-v) the limit counters and syncookie mode.</summary>
    private static void ShowInfo(ToolContext ctx, PfInstance pf, int verbose)
    {
        var e = pf.Engine;
        var o = ctx.Out;
        var up = Math.Max(0, (ctx.Stack.Loop.Now - e.EnabledSince) / 1_000_000_000L);
        var status = pf.Enabled ? string.Create(CultureInfo.InvariantCulture, $"Status: Enabled for {up / 86400} days {up / 3600 % 24:00}:{up / 60 % 60:00}:{up % 60:00}") : "Status: Disabled";
        // print_status: a rate only once pf has run for a second (runtime > 0), else blank.
        string Rate(ulong v) => up > 0 ? string.Create(CultureInfo.InvariantCulture, $"{(double)v / up,14:0.0}/s") : new string(' ', 14);
        void Counter(string name, ulong v) => o.Write(string.Create(CultureInfo.InvariantCulture, $"  {name,-25} {v,14} {Rate(v)}\n"));
        var debug = pf.Debug switch { "none" => "Debug: None", "misc" => "Debug: Misc", "loud" => "Debug: Loud", _ => "Debug: Urgent" };
        o.Write(string.Create(CultureInfo.InvariantCulture, $"{status,-44}{debug,15}\n\n"));
        if (verbose > 0)
        {
            o.Write(string.Create(CultureInfo.InvariantCulture, $"Hostid:   0x{e.HostId:x8}\n"));
            o.Write("Checksum: 0x" + Convert.ToHexStringLower(e.RulesetChecksum) + "\n\n");
        }

        if (e.LogInterface is { } logIf)
        {
            o.Write(string.Create(CultureInfo.InvariantCulture, $"Interface Stats for {logIf,-16} {"IPv4",5} {"IPv6",16}\n"));
            o.Write(string.Create(CultureInfo.InvariantCulture, $"  {"Bytes In",-25} {e.InterfaceBytes(false, false),14} {e.InterfaceBytes(true, false),16}\n"));
            o.Write(string.Create(CultureInfo.InvariantCulture, $"  {"Bytes Out",-25} {e.InterfaceBytes(false, true),14} {e.InterfaceBytes(true, true),16}\n"));
            o.Write("  Packets In\n");
            o.Write(string.Create(CultureInfo.InvariantCulture, $"    {"Passed",-23} {e.InterfacePackets(false, false, false),14} {e.InterfacePackets(true, false, false),16}\n"));
            o.Write(string.Create(CultureInfo.InvariantCulture, $"    {"Blocked",-23} {e.InterfacePackets(false, false, true),14} {e.InterfacePackets(true, false, true),16}\n"));
            o.Write("  Packets Out\n");
            o.Write(string.Create(CultureInfo.InvariantCulture, $"    {"Passed",-23} {e.InterfacePackets(false, true, false),14} {e.InterfacePackets(true, true, false),16}\n"));
            o.Write(string.Create(CultureInfo.InvariantCulture, $"    {"Blocked",-23} {e.InterfacePackets(false, true, true),14} {e.InterfacePackets(true, true, true),16}\n\n"));
        }

        o.Write(string.Create(CultureInfo.InvariantCulture, $"{"State Table",-27} {"Total",14} {"Rate",16}\n"));
        o.Write(string.Create(CultureInfo.InvariantCulture, $"  {"current entries",-25} {e.StateCount,14} {string.Empty,14}\n"));
        Counter("searches", e.Searches);
        Counter("inserts", e.Inserts);
        Counter("removals", e.Removals);
        if (verbose > 0)
        {
            o.Write("Source Tracking Table\n");
            o.Write(string.Create(CultureInfo.InvariantCulture, $"  {"current entries",-25} {e.SourceNodeCount,14} {string.Empty,14}\n"));
            Counter("searches", e.SourceSearches);
            Counter("inserts", e.SourceInserts);
            Counter("removals", e.SourceRemovals);
        }

        o.Write("Counters\n");
        var names = new[] { "match", "bad-offset", "fragment", "short", "normalize", "memory", "bad-timestamp", "congestion", "ip-option", "proto-cksum", "state-mismatch", "state-insert", "state-limit", "src-limit", "synproxy", "map-failed" };
        for (var i = 0; i < names.Length; i++)
        {
            Counter(names[i], e.Counters[i]);
        }

        if (verbose > 0)
        {
            o.Write("Limit Counters\n");
            for (var i = 0; i < Sluice.Pf.Engine.PfEngine.LimitCounterNames.Count; i++)
            {
                Counter(Sluice.Pf.Engine.PfEngine.LimitCounterNames[i], e.LimitCounters[i]);
            }

            o.Write("Syncookies\n");
            o.Write(string.Create(CultureInfo.InvariantCulture, $"  {"mode",-25} {e.SyncookiesMode}\n"));
        }
    }

    private static void ShowTimeouts(ToolContext ctx, PfInstance pf)
    {
        var set = pf.Active.Statements.OfType<PfOptionStatement>().Where(o => o.Name == "timeout")
            .Select(o => o.Text.Split(' ')).ToDictionary(p => p[2], p => p[3], StringComparer.Ordinal);
        foreach (var (name, index) in PfNames.Timeouts)
        {
            var v = set.TryGetValue(name, out var s) ? s : PfNames.DefaultTimeouts[index].ToString(CultureInfo.InvariantCulture);
            ctx.Out.Write(string.Create(CultureInfo.InvariantCulture, $"{name,-20} {v,10}{(name.StartsWith("adaptive", StringComparison.Ordinal) ? " states" : "s")}\n"));
        }
    }

    private static void ShowMemory(ToolContext ctx, PfInstance pf)
    {
        var set = pf.Active.Statements.OfType<PfOptionStatement>().Where(o => o.Name == "limit")
            .Select(o => o.Text.Split(' ')).ToDictionary(p => p[2], p => p[3], StringComparer.Ordinal);
        foreach (var (name, def) in new[] { ("states", "100000"), ("src-nodes", "100000"), ("frags", "5000"), ("table-entries", "200000"), ("anchors", "512"), ("eth-anchors", "512") })
        {
            var v = set.TryGetValue(name, out var s) ? s : def;
            ctx.Out.Write(string.Create(CultureInfo.InvariantCulture, $"{name,-13} hard limit {v,8}\n"));
        }
    }

    private static int TableCommand(ToolContext ctx, PfInstance pf, string name, string cmd, string[] addrs, bool noAction, bool quiet)
    {
        var command = Modifier(cmd, ["kill", "flush", "add", "delete", "replace", "show", "test", "zero", "expire"]);
        pf.Tables.TryGetValue(name, out var table);
        var resolver = new PfStackInterfaces(ctx.Stack);
        List<PfTableEntry>? Parse()
        {
            var list = new List<PfTableEntry>();
            foreach (var a in addrs)
            {
                var res = PfParser.Parse($"table <x> {{ {a} }}\n", "-", new PfParseOptions { Interfaces = resolver });
                var def = res.Ruleset?.Tables.FirstOrDefault();
                if (def is null)
                {
                    ctx.Err.WriteLine($"pfctl: {a}: Invalid argument");
                    return null;
                }

                list.AddRange(def.Entries);
            }

            return list;
        }

        void Say(string s)
        {
            if (!quiet)
            {
                ctx.Err.WriteLine(s);
            }
        }

        switch (command)
        {
            case "show":
                if (table is null)
                {
                    ctx.Err.WriteLine("pfctl: Table does not exist.");
                    return 1;
                }

                foreach (var e in table.Entries)
                {
                    ctx.Out.WriteLine($"  {(e.Negated ? '!' : ' ')}{PfPrinter.Address(e.Address, e.Address.Family)}");
                }

                return 0;
            case "add" or "delete" or "replace" or "test":
                {
                    var list = Parse();
                    if (list is null)
                    {
                        return 1;
                    }

                    if (table is null)
                    {
                        if (command != "add" && command != "replace")
                        {
                            ctx.Err.WriteLine("pfctl: Table does not exist.");
                            return 1;
                        }

                        table = new PfTable(name, persist: false, isConst: false);
                        if (!noAction)
                        {
                            pf.Tables[name] = table;
                            pf.TablesChanged();
                        }

                        Say("1 table created.");
                    }

                    var count = 0;
                    switch (command)
                    {
                        case "add":
                            foreach (var e in list.Where(e => !table.Entries.Contains(e)))
                            {
                                if (!noAction)
                                {
                                    table.Entries.Add(e);
                                    pf.TablesChanged();
                                }

                                count++;
                            }

                            Say($"{count}/{list.Count} addresses added.");
                            return 0;
                        case "delete":
                            foreach (var e in list)
                            {
                                if (table.Entries.Contains(e))
                                {
                                    if (!noAction)
                                    {
                                        table.Entries.Remove(e);
                                        pf.TablesChanged();
                                    }

                                    count++;
                                }
                            }

                            Say($"{count}/{list.Count} addresses deleted.");
                            return 0;
                        case "replace":
                            var added = list.Count(e => !table.Entries.Contains(e));
                            var deleted = table.Entries.Count(e => !list.Contains(e));
                            if (!noAction)
                            {
                                table.Entries.Clear();
                                table.Entries.AddRange(list.Distinct());
                                pf.TablesChanged();
                            }

                            if (added > 0)
                            {
                                Say($"{added} addresses added.");
                            }

                            if (deleted > 0)
                            {
                                Say($"{deleted} addresses deleted.");
                            }

                            if (added == 0 && deleted == 0)
                            {
                                Say("no changes.");
                            }

                            return 0;
                        default:
                            var match = list.Count(e => Matches(table, e.Address));
                            Say($"{match}/{list.Count} addresses match.");
                            return match == list.Count ? 0 : 2;
                    }
                }

            case "flush":
                {
                    if (table is null)
                    {
                        ctx.Err.WriteLine("pfctl: Table does not exist.");
                        return 1;
                    }

                    var n = table.Entries.Count;
                    if (!noAction)
                    {
                        table.Entries.Clear();
                        pf.TablesChanged();
                    }

                    Say($"{n} addresses deleted.");
                    return 0;
                }

            case "kill":
                if (table is null)
                {
                    ctx.Err.WriteLine("pfctl: Table does not exist.");
                    return 1;
                }

                if (!noAction)
                {
                    pf.Tables.Remove(name);
                    pf.TablesChanged();
                }

                Say("1 table deleted.");
                return 0;
            case "zero":
                Say($"{table?.Entries.Count ?? 0}/{table?.Entries.Count ?? 0} addresses zeroed.");
                return 0;
            case "expire":
                Say("0/0 addresses expired.");
                return 0;
            default:
                ctx.Err.WriteLine($"pfctl: Unknown table command '{cmd}'");
                ctx.Err.Write(UsageText);
                return 1;
        }
    }

    private static Func<PfIp, bool>? HostMatcher(ToolContext ctx, string text)
    {
        var res = PfParser.Parse($"table <x> {{ {text} }}\n", "-", new PfParseOptions { Interfaces = new PfStackInterfaces(ctx.Stack) });
        var entries = res.Ruleset?.Tables.FirstOrDefault()?.Entries;
        if (entries is null || entries.Value.IsEmpty)
        {
            ctx.Err.WriteLine($"pfctl: no IP address found for {text}");
            return null;
        }

        var list = entries.Value.Where(e => e.Address.Kind == PfAddrKind.AddrMask).Select(e => e.Address).ToList();
        return ip => list.Any(a => a.Address.Family == ip.Family && ip.Mask(a.Prefix) == a.Address.Mask(a.Prefix));
    }

    private static int KillStates(ToolContext ctx, PfInstance pf, List<string> kill, bool quiet)
    {
        var src = HostMatcher(ctx, kill[0]);
        if (src is null)
        {
            return 1;
        }

        Func<PfIp, bool>? dst = null;
        if (kill.Count > 1 && (dst = HostMatcher(ctx, kill[1])) is null)
        {
            return 1;
        }

        var n = pf.Engine.KillStates(src, dst);
        if (!quiet)
        {
            ctx.Err.WriteLine($"killed {n} states from 1 sources and {(dst is null ? 0 : 1)} destinations");
        }

        return 0;
    }

    private static bool Matches(PfTable table, PfAddr host)
    {
        // Longest-prefix match as pfr_match_addr: the most specific entry decides; negated entries exclude.
        PfTableEntry? best = null;
        foreach (var e in table.Entries)
        {
            if (e.Address.Kind != PfAddrKind.AddrMask || e.Address.Address.Family != host.Address.Family)
            {
                continue;
            }

            if (host.Address.Mask(e.Address.Prefix) == e.Address.Address && (best is null || e.Address.Prefix > best.Address.Prefix))
            {
                best = e;
            }
        }

        return best is not null && !best.Negated;
    }
}
