using System.Collections.Immutable;
using System.Globalization;

namespace Sluice.Pf.Config;

public sealed partial class PfParser
{
    private static readonly string[] LimitNames = ["states", "frags", "src-nodes", "tables", "table-entries", "anchors", "eth-anchors"];

    private void Option(RulesetBuilder rs)
    {
        var line = Advance().Line;
        void Add(string name, string text) => rs.Statements.Add(new PfOptionStatement(line, name, text));
        var kw = ExpectString();
        switch (kw)
        {
            case "limit":
                ListOrOne(() =>
                {
                    var n = ExpectString();
                    if (!LimitNames.Contains(n))
                    {
                        throw Fail($"unknown limit {n}", line);
                    }

                    var v = ExpectNumber();
                    Add("limit", $"set limit {n} {v}");
                });
                return;
            case "timeout":
                ListOrOne(() =>
                {
                    var n = ExpectString();
                    if (PfNames.TimeoutIndex(n) < 0)
                    {
                        throw Fail($"unknown timeout {n}", line);
                    }

                    var v = ExpectNumber();
                    Add("timeout", $"set timeout {n} {v}");
                });
                return;
            case "optimization":
                {
                    var v = ExpectString();
                    if (v is not ("default" or "normal" or "high-latency" or "satellite" or "aggressive" or "conservative"))
                    {
                        throw Fail($"unknown optimization {v}", line);
                    }

                    Add("optimization", $"set optimization {v}");
                    return;
                }

            case "block-policy":
                if (Accept("drop"))
                {
                    _blockReturn = false;
                    Add("block-policy", "set block-policy drop");
                }
                else if (Accept("return"))
                {
                    _blockReturn = true;
                    Add("block-policy", "set block-policy return");
                }
                else
                {
                    throw Syntax();
                }

                return;
            case "fail-policy":
                {
                    var v = Accept("drop") ? "drop" : Accept("return") ? "return" : throw Syntax();
                    Add("fail-policy", $"set fail-policy {v}");
                    return;
                }

            case "state-policy":
                {
                    var v = Accept("if-bound") ? "if-bound" : Accept("floating") ? "floating" : throw Syntax();
                    Add("state-policy", $"set state-policy {v}");
                    return;
                }

            case "skip":
                Expect("on");
                ListOrOne(() => Add("skip", $"set skip on {ExpectString()}"));
                return;
            case "loginterface":
                {
                    var v = ExpectString();
                    Add("loginterface", $"set loginterface {v}");
                    return;
                }

            case "hostid":
                {
                    var v = ExpectNumber();
                    if (v == 0)
                    {
                        throw Fail("hostid must be non-zero", line);
                    }

                    Add("hostid", string.Create(CultureInfo.InvariantCulture, $"set hostid 0x{v:x8}"));
                    return;
                }

            case "ruleset-optimization":
                {
                    var v = ExpectString();
                    if (v is not ("none" or "basic" or "profile"))
                    {
                        throw Fail($"unknown ruleset-optimization {v}", line);
                    }

                    Add("ruleset-optimization", $"set ruleset-optimization {v}");
                    return;
                }

            case "debug":
                {
                    var v = ExpectString();
                    if (v is not ("none" or "urgent" or "misc" or "loud" or "emerg" or "alert" or "crit" or "err" or "warning" or "notice" or "info" or "debug"))
                    {
                        throw Fail($"unknown debug level {v}", line);
                    }

                    Add("debug", $"set debug {v}");
                    return;
                }

            case "fingerprints":
                {
                    var v = ExpectString();
                    Add("fingerprints", $"set fingerprints \"{v}\"");
                    return;
                }

            case "require-order":
                {
                    var v = Accept("yes") ? "yes" : Accept("no") ? "no" : throw Syntax();
                    Add("require-order", $"set require-order {v}");
                    return;
                }

            case "keepcounters":
                Add("keepcounters", "set keepcounters");
                return;
            case "reassemble":
                {
                    var v = Accept("yes") ? "yes" : Accept("no") ? "no" : throw Syntax();
                    var nodf = Accept("no-df");
                    Add("reassemble", $"set reassemble {v}{(nodf ? " no-df" : string.Empty)}");
                    return;
                }

            case "syncookies":
                {
                    var v = Accept("never") ? "never" : Accept("always") ? "always" : Accept("adaptive") ? "adaptive" : throw Syntax();
                    if (AcceptPunct("("))
                    {
                        // parse.y syncookie_opts: "start N%" (high water) and "end N%" (low water), percent of the state limit.
                        uint hi = 0, lo = 0;
                        while (true)
                        {
                            var which = T.Kind == PfTokenKind.Word ? T.Text : throw Syntax();
                            Advance();
                            var pct = SyncookiePercent();
                            if (which == "start")
                            {
                                hi = pct;
                            }
                            else if (which == "end")
                            {
                                lo = pct;
                            }
                            else
                            {
                                throw Fail("illegal syncookie option");
                            }

                            if (AcceptPunct(")"))
                            {
                                break;
                            }

                            SkipComma();
                        }

                        // pfctl_cfg_syncookies
                        if (v != "adaptive")
                        {
                            throw Fail("syncookies start/end only apply to adaptive");
                        }

                        hi = hi == 0 ? 25 : hi;
                        lo = lo == 0 ? hi / 2 : lo;
                        if (lo >= hi)
                        {
                            throw Fail("start must be higher than end");
                        }

                        Add("syncookies", string.Create(CultureInfo.InvariantCulture, $"set syncookies adaptive (start {hi}%, end {lo}%)"));
                        return;
                    }

                    Add("syncookies", $"set syncookies {v}");
                    return;
                }

            case "state-defaults":
                {
                    var o = StateOpts();
                    _ = o;
                    Add("state-defaults", "set state-defaults");
                    return;
                }

            default:
                throw Syntax();
        }
    }

    private void ListOrOne(Action item)
    {
        if (AcceptPunct("{"))
        {
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                item();
                SkipComma();
                if (T.Kind == PfTokenKind.Eof)
                {
                    throw Syntax();
                }
            }

            Advance();
            return;
        }

        item();
    }

    private void TableDef(RulesetBuilder rs)
    {
        var line = Advance().Line;
        ExpectPunct("<");
        var name = ExpectString();
        ExpectPunct(">");
        if (name.Length >= 32)
        {
            throw Fail("table name too long", line);
        }

        bool isConst = false, persist = false, counters = false;
        var sources = new List<PfTableSource>();
        var entries = new List<PfTableEntry>();
        while (!AtEndOfStatement)
        {
            if (Accept("const"))
            {
                isConst = true;
            }
            else if (Accept("persist"))
            {
                persist = true;
            }
            else if (Accept("counters"))
            {
                counters = true;
            }
            else if (Accept("file"))
            {
                var f = ExpectString();
                var text = _options.ReadFile(Resolve(f));
                if (text is null)
                {
                    Warn($"cannot load \"{f}\": No such file or directory");
                    throw Fail($"cannot load \"{f}\"", line);
                }

                foreach (var word in TableFileWords(text))
                {
                    var not = word.StartsWith('!');
                    var w = not ? word[1..] : word;
                    var slash = w.IndexOf('/', StringComparison.Ordinal);
                    var mask = -1;
                    if (slash >= 0)
                    {
                        if (!int.TryParse(w.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out mask) || mask > 128)
                        {
                            throw Fail($"cannot load \"{f}\": Invalid argument", line);
                        }

                        w = w[..slash];
                    }

                    var hosts = ResolveHost(w, mask) ?? throw Fail($"cannot load \"{f}\": Invalid argument", line);
                    entries.AddRange(hosts.Select(h => new PfTableEntry(not, h.Addr)));
                }

                sources.Add(new PfTableSource(f, ImmutableArray<PfTableEntry>.Empty));
            }
            else if (AcceptPunct("{"))
            {
                var list = new List<PfTableEntry>();
                SkipNewlines();
                while (!T.IsPunct("}"))
                {
                    var not = AcceptPunct("!");
                    foreach (var h in Host())
                    {
                        if (h.Addr.Kind is not (PfAddrKind.AddrMask or PfAddrKind.DynamicInterface))
                        {
                            throw Fail("invalid table address", line);
                        }

                        list.Add(new PfTableEntry(not, h.Addr));
                    }

                    SkipComma();
                    if (T.Kind == PfTokenKind.Eof)
                    {
                        throw Syntax();
                    }
                }

                Advance();
                entries.AddRange(list);
                sources.Add(new PfTableSource(null, [.. list]));
            }
            else
            {
                throw Syntax();
            }
        }

        if (_tables.ContainsKey(name))
        {
            throw Fail($"table <{name}> redefined", line);
        }

        var def = new PfTableDef(name, isConst, persist, counters, [.. entries], [.. sources]);
        _tables[name] = def;
        rs.Statements.Add(new PfTableStatement(line, def));
    }

    private static IEnumerable<string> TableFileWords(string text)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw;
            var cut = line.IndexOfAny(['#', ';']);
            if (cut >= 0)
            {
                line = line[..cut];
            }

            foreach (var w in line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries))
            {
                yield return w;
            }
        }
    }

    /// <summary>A syncookie watermark: "N%" (one word, or N then %), 0 &lt; N &lt;= 100, truncated as parse.y does.</summary>
    private uint SyncookiePercent()
    {
        if (T.Kind != PfTokenKind.Word)
        {
            throw Syntax();
        }

        var s = Advance().Text;
        var percent = s.EndsWith('%');
        if (percent)
        {
            s = s[..^1];
        }
        else
        {
            percent = AcceptPunct("%");
        }

        if (!percent || !double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var val))
        {
            throw Fail("percentage expected");
        }

        if (val <= 0 || val > 100)
        {
            throw Fail("illegal percentage value");
        }

        return (uint)val;
    }
}
