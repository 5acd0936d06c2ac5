using System.Collections.Immutable;
using Sluice.Pf.Config;

namespace Sluice.Pf.Engine;

/// <summary>Skip-step fields in pf's order (PF_SKIP_IFP … PF_SKIP_DST_PORT).</summary>
internal static class PfSkip
{
    public const int Interface = 0, Direction = 1, Family = 2, Proto = 3, SrcAddr = 4, SrcPort = 5, DstAddr = 6, DstPort = 7, Count = 8;
}

/// <summary>A compiled address term of a rule.</summary>
internal sealed class PfAddrC
{
    public required PfAddrKind Kind;
    public required bool Negated;
    public bool Any;
    public bool V6;
    public UInt128 Addr, Mask, RangeEnd;
    public PfTableRef? Table;
    public string? Interface;
    public PfIfModifiers Modifiers;
    public int Prefix;
}

/// <summary>A compiled rule: the AST rule plus resolved tables, tag ids, sub-rulesets, skip steps and counters.</summary>
internal sealed class PfRuleC
{
    public required PfRule Ast;
    public required int Number;
    public required PfAddrC Src, Dst;
    public readonly int[] Skip = new int[PfSkip.Count];
    public ushort TagId, TaggedId;
    public PfCompiledRuleset? Anchor;
    public string AnchorPath = string.Empty;
    public string? IfName;
    public bool IfNegated;
    public uint[]? Timeouts; // per-rule timeouts by PFTM index (0 = not set)

    // Counters (pfctl -sr -v, -s labels).
    public ulong Evaluations, PacketsIn, PacketsOut, BytesIn, BytesOut, StatesTotal;
    public int StatesCurrent, SourceNodes;
    public uint RoundRobin;
    public PfRuleActions Actions; // pf_rule_to_actions of this rule: scrub options, queue, rtable, log, dummynet, set prio
}

/// <summary>An immutable compiled rule set: filter, translation and scrub rules with skip steps computed once.</summary>
internal sealed class PfCompiledRuleset
{
    public PfRuleC[] Scrub = [], Nat = [], Rdr = [], Binat = [], Filter = [];
    public string Path = string.Empty;
}

/// <summary>Turns <see cref="PfRuleset"/> ASTs into <see cref="PfCompiledRuleset"/>s (pfctl's load plus pf_calc_skip_steps).</summary>
internal sealed class PfCompiler(PfEngine engine)
{
    private int _depth;

    public PfCompiledRuleset Compile(PfRuleset rs, string path)
    {
        var c = new PfCompiledRuleset { Path = path };
        if (_depth > 16)
        {
            return c;
        }

        _depth++;
        c.Scrub = CompileList(rs.Scrub, path);
        c.Nat = CompileList(rs.Nat, path);
        c.Rdr = CompileList(rs.Rdr, path);
        c.Binat = CompileList(rs.Binat, path);
        c.Filter = CompileList(rs.Filter, path);
        _depth--;
        return c;
    }

    private PfRuleC[] CompileList(ImmutableArray<PfRule> rules, string path)
    {
        var list = new PfRuleC[rules.Length];
        for (var i = 0; i < rules.Length; i++)
        {
            list[i] = CompileRule(rules[i], i, path);
        }

        if (engine.SkipStepsEnabled)
        {
            CalcSkipSteps(list);
        }
        else
        {
            foreach (var r in list)
            {
                Array.Fill(r.Skip, r.Number + 1);
            }
        }

        return list;
    }

    private PfRuleC CompileRule(PfRule r, int nr, string path)
    {
        var rc = new PfRuleC
        {
            Ast = r,
            Number = nr,
            Src = Addr(r.Source),
            Dst = Addr(r.Destination),
            IfName = r.Interface is null or "any" ? null : r.Interface,
            IfNegated = r.InterfaceNegated,
            TagId = r.Tag is null ? (ushort)0 : engine.TagId(r.Tag),
            TaggedId = r.Tagged is null ? (ushort)0 : engine.TagId(r.Tagged),
            Actions = PfRuleActions.From(r),
        };
        if (!r.StateOptions.Timeouts.IsEmpty)
        {
            rc.Timeouts = new uint[32];
            foreach (var (t, s) in r.StateOptions.Timeouts)
            {
                if ((uint)t < 32)
                {
                    rc.Timeouts[t] = s == 0 ? 1 : s;
                }
            }
        }

        if (r.AnchorCall is not null)
        {
            if (r.AnchorBody is not null)
            {
                var sub = path.Length == 0 ? r.AnchorCall : path + "/" + r.AnchorCall;
                rc.Anchor = Compile(r.AnchorBody, sub);
                rc.AnchorPath = sub;
            }
            else
            {
                var name = r.AnchorCall.StartsWith('/') ? r.AnchorCall[1..] : path.Length == 0 ? r.AnchorCall : path + "/" + r.AnchorCall;
                rc.AnchorPath = name;
                rc.Anchor = engine.Instance.Anchors.TryGetValue(name, out var a) ? Compile(a, name) : new PfCompiledRuleset { Path = name };
            }
        }

        return rc;
    }

    private PfAddrC Addr(PfRuleAddr ra)
    {
        var a = ra.Address;
        var c = new PfAddrC { Kind = a.Kind, Negated = ra.Negated, Prefix = a.Prefix, Modifiers = a.Modifiers, Interface = a.Name };
        switch (a.Kind)
        {
            case PfAddrKind.AddrMask:
                c.Any = a.IsAny;
                c.V6 = a.Address.Family == PfFamily.Inet6;
                var width = c.V6 ? 128 : 32;
                var len = Math.Clamp(a.Prefix < 0 ? width : a.Prefix, 0, width);
                var all = c.V6 ? UInt128.MaxValue : uint.MaxValue;
                c.Mask = len == 0 ? 0 : (all << (width - len)) & all;
                c.Addr = a.Address.Bits & c.Mask;
                break;
            case PfAddrKind.Range:
                c.V6 = a.Address.Family == PfFamily.Inet6;
                c.Addr = a.Address.Bits;
                c.RangeEnd = a.RangeEnd.Bits;
                break;
            case PfAddrKind.Table:
                c.Table = engine.TableRef(a.Name!);
                break;
        }

        return c;
    }

    /// <summary>pf_calc_skip_steps: for each field, the index of the next rule whose value of that field differs.</summary>
    internal static void CalcSkipSteps(PfRuleC[] rules)
    {
        var n = rules.Length;
        for (var f = 0; f < PfSkip.Count; f++)
        {
            var start = 0;
            for (var i = 1; i <= n; i++)
            {
                if (i == n || !SameField(rules[start].Ast, rules[i].Ast, f))
                {
                    for (var j = start; j < i; j++)
                    {
                        rules[j].Skip[f] = i;
                    }

                    start = i;
                }
            }
        }
    }

    private static bool SameField(PfRule a, PfRule b, int field) => field switch
    {
        PfSkip.Interface => a.Interface == b.Interface && a.InterfaceNegated == b.InterfaceNegated,
        PfSkip.Direction => a.Direction == b.Direction,
        PfSkip.Family => a.Family == b.Family,
        PfSkip.Proto => a.Protocol == b.Protocol,
        PfSkip.SrcAddr => a.Source.Negated == b.Source.Negated && a.Source.Address == b.Source.Address,
        PfSkip.SrcPort => a.Source.Port == b.Source.Port,
        PfSkip.DstAddr => a.Destination.Negated == b.Destination.Negated && a.Destination.Address == b.Destination.Address,
        _ => a.Destination.Port == b.Destination.Port,
    };
}
