using System.Globalization;
using System.Text;

namespace Sluice.Pf.Config;

/// <summary>
/// Prints a parsed rule set as <c>pfctl -nv</c> does (sbin/pfctl/pfctl_parser.c print_rule, print_pool,
/// print_fromto, print_port, print_tabledef).
/// </summary>
public static class PfPrinter
{
    /// <summary>The whole <c>-nv</c> output: statements (macros, options, tables), then rules by kind.</summary>
    public static string Print(PfRuleset rs, bool statementsOnly = false)
    {
        var sb = new StringBuilder();
        foreach (var s in rs.Statements)
        {
            switch (s)
            {
                case PfMacroStatement m:
                    sb.Append(m.Name).Append(" = \"").Append(m.Value).Append("\"\n");
                    break;
                case PfOptionStatement o:
                    sb.Append(o.Text).Append('\n');
                    break;
                case PfTableStatement t:
                    sb.Append(TableDef(t.Table)).Append('\n');
                    break;
                case PfVerbatimStatement v:
                    sb.Append(v.Text).Append('\n');
                    break;
                case PfAltqStatement aq:
                    sb.Append(aq.Text).Append('\n');
                    break;
                case PfQueueStatement q:
                    sb.Append(q.Text).Append('\n');
                    break;
                case PfLimiterStatement l:
                    sb.Append(l.Text).Append('\n');
                    break;
            }
        }

        if (!statementsOnly)
        {
            Rules(sb, rs, 0);
        }

        return sb.ToString();
    }

    /// <summary>Prints the rules of <paramref name="rs"/> at anchor depth <paramref name="depth"/>.</summary>
    public static void Rules(StringBuilder sb, PfRuleset rs, int depth)
    {
        ArgumentNullException.ThrowIfNull(sb);
        ArgumentNullException.ThrowIfNull(rs);
        foreach (var r in rs.Scrub)
        {
            RuleLine(sb, r, depth);
        }

        foreach (var e in rs.Ether)
        {
            sb.Append(' ', depth * 2).Append(EtherRule(e)).Append('\n');
        }

        foreach (var r in rs.Nat.Concat(rs.Rdr).Concat(rs.Binat).Concat(rs.Filter))
        {
            RuleLine(sb, r, depth);
        }
    }

    private static void RuleLine(StringBuilder sb, PfRule r, int depth)
    {
        {
            sb.Append(' ', depth * 2).Append(Rule(r));
            if (r.AnchorBody is not null)
            {
                sb.Append(" {\n");
                Rules(sb, r.AnchorBody, depth + 1);
                sb.Append(' ', depth * 2).Append("}\n");
            }
            else
            {
                sb.Append('\n');
            }
        }
    }

    /// <summary>print_eth_rule: one layer-2 rule as <c>pfctl -nv</c> prints it.</summary>
    public static string EtherRule(PfEtherRule r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var sb = new StringBuilder("ether ");
        sb.Append(r.Action switch { PfAction.Pass => "pass", PfAction.Block => "block", PfAction.Match => "match", _ => string.Empty });
        if (r.Direction == PfDirection.In)
        {
            sb.Append(" in");
        }
        else if (r.Direction == PfDirection.Out)
        {
            sb.Append(" out");
        }

        if (r.Quick)
        {
            sb.Append(" quick");
        }

        if (r.Interface is not null)
        {
            sb.Append(r.InterfaceNegated ? " on ! " : " on ").Append(r.Interface);
        }

        if (r.BridgeTo is not null)
        {
            sb.Append(" bridge-to ").Append(r.BridgeTo);
        }

        if (r.Proto != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $" proto 0x{r.Proto:x4}");
        }

        if (r.Source is { } src)
        {
            sb.Append(" from ");
            EtherAddr(sb, src);
        }

        if (r.Destination is { } dst)
        {
            sb.Append(" to ");
            EtherAddr(sb, dst);
        }

        sb.Append(" l3");
        var af = r.Proto == 0x0800 ? PfFamily.Inet : PfFamily.Inet6;
        if (r.IpSource.IsAny && r.IpDestination.IsAny)
        {
            sb.Append(" all");
        }
        else
        {
            sb.Append(" from ").Append(Address(r.IpSource, af)).Append(" to ").Append(Address(r.IpDestination, af));
        }

        foreach (var l in r.Labels)
        {
            sb.Append(" label \"").Append(l).Append('"');
        }

        if (r.Ridentifier != 0)
        {
            sb.Append(" ridentifier ").Append(PfNames.N(r.Ridentifier));
        }

        if (r.Queue is not null)
        {
            sb.Append(" queue ").Append(r.Queue);
        }

        if (r.Tag is not null)
        {
            sb.Append(" tag ").Append(r.Tag);
        }

        if (r.Tagged is not null)
        {
            if (r.TaggedNegated)
            {
                sb.Append(" !");
            }

            sb.Append(" tagged ").Append(r.Tagged);
        }

        if (r.DnPipe != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $" {(r.DnIsPipe ? "dnpipe" : "dnqueue")} {r.DnPipe}");
        }

        return sb.ToString();
    }

    /// <summary>print_eth_addr: the address, then <c>/len</c> for a contiguous mask or <c>&amp;mask</c> otherwise.</summary>
    private static void EtherAddr(StringBuilder sb, PfEtherAddr a)
    {
        if (a.Address.All(b => b == 0))
        {
            return;
        }

        if (a.Negated)
        {
            sb.Append("! ");
        }

        sb.AppendJoin(':', a.Address.Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
        var masklen = 48;
        var seenUnset = false;
        var i = 0;
        for (; i < 48; i++)
        {
            var set = (a.Mask[i / 8] & (1 << (i % 8))) != 0;
            if (!seenUnset)
            {
                if (set)
                {
                    continue;
                }

                seenUnset = true;
                masklen = i;
            }
            else if (set)
            {
                break;
            }
        }

        if (masklen == 48)
        {
            return;
        }

        if (i == 48)
        {
            sb.Append('/').Append(masklen.ToString(CultureInfo.InvariantCulture));
            return;
        }

        sb.Append('&').AppendJoin(':', a.Mask.Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
    }

    /// <summary>print_tabledef.</summary>
    public static string TableDef(PfTableDef t)
    {
        ArgumentNullException.ThrowIfNull(t);
        var sb = new StringBuilder("table <").Append(t.Name).Append('>');
        if (t.Const)
        {
            sb.Append(" const");
        }

        if (t.Persist)
        {
            sb.Append(" persist");
        }

        if (t.Counters)
        {
            sb.Append(" counters");
        }

        for (var i = 0; i < t.Sources.Length; i++)
        {
            var src = t.Sources[i];
            if (src.File is not null)
            {
                sb.Append(" file \"").Append(src.File).Append('"');
                continue;
            }

            sb.Append(" {");
            while (true)
            {
                foreach (var e in src.Entries)
                {
                    sb.Append(e.Negated ? " !" : " ").Append(Address(e.Address, e.Address.Family));
                }

                if (i + 1 < t.Sources.Length && t.Sources[i + 1].File is null)
                {
                    src = t.Sources[++i];
                }
                else
                {
                    break;
                }
            }

            sb.Append(" }");
        }

        return sb.ToString();
    }

    /// <summary>print_addr: an address as pfctl prints it in rule context with family <paramref name="af"/>.</summary>
    public static string Address(PfAddr a, PfFamily af)
    {
        ArgumentNullException.ThrowIfNull(a);
        switch (a.Kind)
        {
            case PfAddrKind.Table:
                return "<" + a.Name + ">";
            case PfAddrKind.NoRoute:
                return "no-route";
            case PfAddrKind.UrpfFailed:
                return "urpf-failed";
            case PfAddrKind.Range:
                return a.Address + " - " + a.RangeEnd;
            case PfAddrKind.DynamicInterface:
                {
                    var sb = new StringBuilder("(").Append(a.Name);
                    if ((a.Modifiers & PfIfModifiers.Network) != 0)
                    {
                        sb.Append(":network");
                    }

                    if ((a.Modifiers & PfIfModifiers.Broadcast) != 0)
                    {
                        sb.Append(":broadcast");
                    }

                    if ((a.Modifiers & PfIfModifiers.Peer) != 0)
                    {
                        sb.Append(":peer");
                    }

                    if ((a.Modifiers & PfIfModifiers.NoAlias) != 0)
                    {
                        sb.Append(":0");
                    }

                    sb.Append(')');
                    if (a.Prefix >= 0 && a.Prefix != (af == PfFamily.Inet ? 32 : 128))
                    {
                        sb.Append('/').Append(PfNames.N(a.Prefix));
                    }

                    return sb.ToString();
                }

            default:
                if (a.IsAny)
                {
                    return "any";
                }

                var width = PfIp.Width(a.Address.Family);
                return a.Prefix != width ? a.Address + "/" + PfNames.N(a.Prefix) : a.Address.ToString();
        }
    }

    private static string Op(PfOp op, string a1, string a2) => op switch
    {
        PfOp.InclusiveRange => $" {a1} >< {a2}",
        PfOp.ExclusiveRange => $" {a1} <> {a2}",
        PfOp.Equal => $" = {a1}",
        PfOp.NotEqual => $" != {a1}",
        PfOp.Less => $" < {a1}",
        PfOp.LessOrEqual => $" <= {a1}",
        PfOp.Greater => $" > {a1}",
        PfOp.GreaterOrEqual => $" >= {a1}",
        PfOp.Range => $" {a1}:{a2}",
        _ => string.Empty,
    };

    private static string Port(PfPortRange p, int proto)
    {
        var name = p.Op is PfOp.Equal or PfOp.NotEqual ? PfNames.ServiceName(p.Low, proto == 6 ? "tcp" : "udp") : null;
        return " port" + Op(p.Op, name ?? PfNames.N(p.Low), PfNames.N(p.High));
    }

    private static string Ugid(PfPortRange p, string what)
    {
        var a1 = p.Low == uint.MaxValue && p.Op is PfOp.Equal or PfOp.NotEqual ? "unknown" : PfNames.N(p.Low);
        return " " + what + Op(p.Op, a1, PfNames.N(p.High));
    }

    private static string Flags(byte f)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < 8; i++)
        {
            if ((f & (1 << i)) != 0)
            {
                sb.Append("FSRPAUEW"[i]);
            }
        }

        return sb.ToString();
    }

    /// <summary>print_pool.</summary>
    private static void Pool(StringBuilder sb, PfPool pool, PfFamily af, PfAction kind, bool isNatPort)
    {
        var multi = pool.Addresses.Length > 1;
        if (multi)
        {
            sb.Append("{ ");
        }

        for (var i = 0; i < pool.Addresses.Length; i++)
        {
            var pa = pool.Addresses[i];
            if (kind == PfAction.Pass)
            {
                if (pa.Address.IsAny)
                {
                    sb.Append(pa.Interface);
                }
                else
                {
                    sb.Append('(').Append(pa.Interface).Append(' ').Append(Address(pa.Address, af)).Append(')');
                }
            }
            else
            {
                sb.Append(Address(pa.Address, af));
            }

            if (i + 1 < pool.Addresses.Length)
            {
                sb.Append(", ");
            }
            else if (multi)
            {
                sb.Append(" }");
            }
        }

        uint p1 = pool.ProxyPortLow, p2 = pool.ProxyPortHigh;
        if (kind == PfAction.Nat && isNatPort)
        {
            if ((p1 != 50001 || p2 != 65535) && (p1 != 0 || p2 != 0))
            {
                sb.Append(p1 == p2 ? $" port {p1}" : $" port {p1}:{p2}");
            }
        }
        else if (kind == PfAction.Rdr && p1 != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $" port {p1}");
            if (p2 != 0 && p2 != p1)
            {
                sb.Append(CultureInfo.InvariantCulture, $":{p2}");
            }
        }

        switch (pool.Type)
        {
            case PfPoolType.Bitmask:
                sb.Append(" bitmask");
                break;
            case PfPoolType.Random:
                sb.Append(" random");
                break;
            case PfPoolType.SourceHash:
                sb.Append(" source-hash 0x").Append(pool.Key.ToString("x32", CultureInfo.InvariantCulture));
                break;
            case PfPoolType.RoundRobin:
                sb.Append(" round-robin");
                break;
        }

        if (pool.StickyAddress)
        {
            sb.Append(" sticky-address");
        }

        if (kind == PfAction.Nat && isNatPort && p1 == 0 && p2 == 0)
        {
            sb.Append(" static-port");
        }

        if (pool.MapE.Offset > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $" map-e-portset {pool.MapE.Offset}/{pool.MapE.PsidLen}/{pool.MapE.Psid}");
        }
    }

    private static readonly string[] ActionNames = ["pass", "block", "scrub", "no scrub", "nat", "no nat", "binat", "no binat", "rdr", "no rdr", "match"];
    private static readonly string[] AnchorNames = ["anchor", "anchor", "anchor", "anchor", "nat-anchor", "nat-anchor", "binat-anchor", "binat-anchor", "rdr-anchor", "rdr-anchor", "anchor"];

    /// <summary>print_rule: one rule on one line (without the newline).</summary>
    public static string Rule(PfRule r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var sb = new StringBuilder();
        var anchor = r.AnchorCall is not null;
        if (r.Action == PfAction.Match && !anchor)
        {
            sb.Append("match");
        }
        else if (anchor)
        {
            sb.Append(AnchorNames[(int)r.Action]);
            if (r.AnchorCall!.Length > 0)
            {
                sb.Append(" \"").Append(r.AnchorCall).Append('"');
            }
        }
        else
        {
            sb.Append(ActionNames[(int)r.Action]);
            if (r.NatPass)
            {
                sb.Append(" pass");
            }
        }

        if (r.Action == PfAction.Block)
        {
            switch (r.BlockPolicy)
            {
                case PfBlockPolicy.Return:
                    sb.Append(" return");
                    break;
                case PfBlockPolicy.ReturnRst:
                    sb.Append(r.ReturnTtl == 0 ? " return-rst" : $" return-rst(ttl {r.ReturnTtl})");
                    break;
                case PfBlockPolicy.ReturnIcmp:
                    {
                        var ic = PfNames.IcmpCodeName(r.ReturnIcmp >> 8, r.ReturnIcmp & 255, false) ?? PfNames.N(r.ReturnIcmp & 255);
                        var ic6 = PfNames.IcmpCodeName(r.ReturnIcmp6 >> 8, r.ReturnIcmp6 & 255, true) ?? PfNames.N(r.ReturnIcmp6 & 255);
                        sb.Append(r.Family switch
                        {
                            PfFamily.Inet => $" return-icmp({ic})",
                            PfFamily.Inet6 => $" return-icmp6({ic6})",
                            _ => $" return-icmp({ic}, {ic6})",
                        });
                        break;
                    }

                default:
                    sb.Append(" drop");
                    break;
            }
        }

        if (r.Direction == PfDirection.In)
        {
            sb.Append(" in");
        }
        else if (r.Direction == PfDirection.Out)
        {
            sb.Append(" out");
        }

        if (r.Log.Enabled)
        {
            sb.Append(" log");
            if (r.Log.All || r.Log.User || r.Log.Matches || r.Log.Interface != 0)
            {
                var parts = new List<string>();
                if (r.Log.All)
                {
                    parts.Add("all");
                }

                if (r.Log.Matches)
                {
                    parts.Add("matches");
                }

                if (r.Log.User)
                {
                    parts.Add("user");
                }

                if (r.Log.Interface != 0)
                {
                    parts.Add("to pflog" + PfNames.N(r.Log.Interface));
                }

                sb.Append(" (").Append(string.Join(", ", parts)).Append(')');
            }
        }

        if (r.Quick)
        {
            sb.Append(" quick");
        }

        if (r.Interface is not null)
        {
            sb.Append(r.InterfaceNegated ? " on ! " : " on ").Append(r.Interface);
        }

        if (r.Route != PfRouteType.None)
        {
            sb.Append(r.Route switch { PfRouteType.RouteTo => " route-to ", PfRouteType.ReplyTo => " reply-to ", _ => " dup-to " });
            Pool(sb, r.RoutePool, r.Family, PfAction.Pass, false);
            if (r.PreferIpv6NextHop)
            {
                sb.Append(" prefer-ipv6-nexthop");
            }
        }

        if (r.Family != PfFamily.Any)
        {
            sb.Append(r.Family == PfFamily.Inet ? " inet" : " inet6");
        }

        if (r.Protocol != 0)
        {
            sb.Append(" proto ").Append(PfNames.ProtocolName(r.Protocol) ?? PfNames.N(r.Protocol));
        }

        var s = r.Source;
        var d = r.Destination;
        if (s.Address.IsAny && d.Address.IsAny && !s.Negated && !d.Negated && s.Port.Op == PfOp.None && d.Port.Op == PfOp.None && r.OsFingerprint is null)
        {
            sb.Append(" all");
        }
        else
        {
            sb.Append(" from ").Append(s.Negated ? "! " : string.Empty).Append(Address(s.Address, r.Family));
            if (s.Port.Op != PfOp.None)
            {
                sb.Append(Port(s.Port, r.Protocol));
            }

            if (r.OsFingerprint is not null)
            {
                sb.Append(" os \"").Append(r.OsFingerprint).Append('"');
            }

            sb.Append(" to ").Append(d.Negated ? "! " : string.Empty).Append(Address(d.Address, r.Family));
            if (d.Port.Op != PfOp.None)
            {
                sb.Append(Port(d.Port, r.Protocol));
            }
        }

        if (r.ReceivedOn is not null)
        {
            sb.Append(" received-on ").Append(r.ReceivedOn);
        }

        if (r.User.Op != PfOp.None)
        {
            sb.Append(Ugid(r.User, "user"));
        }

        if (r.Group.Op != PfOp.None)
        {
            sb.Append(Ugid(r.Group, "group"));
        }

        if (r.Flags != 0 || r.FlagSet != 0)
        {
            sb.Append(" flags ").Append(Flags(r.Flags)).Append('/').Append(Flags(r.FlagSet));
        }
        else if (r.Action == PfAction.Pass && (r.Protocol == 0 || r.Protocol == 6) && !r.Fragment && !anchor && r.KeepState != PfKeepState.None)
        {
            sb.Append(" flags any");
        }

        if (r.IcmpType != 0)
        {
            var v6 = r.Family == PfFamily.Inet6;
            sb.Append(v6 ? " icmp6-type" : " icmp-type");
            sb.Append(' ').Append(PfNames.IcmpTypeName(r.IcmpType - 1, v6) ?? PfNames.N(r.IcmpType - 1));
            if (r.IcmpCode != 0)
            {
                sb.Append(" code ").Append(PfNames.IcmpCodeName(r.IcmpType - 1, r.IcmpCode - 1, v6) ?? PfNames.N(r.IcmpCode - 1));
            }
        }

        if (r.Tos != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $" tos 0x{r.Tos:x2}");
        }

        if (r.Prio != 0)
        {
            sb.Append(" prio ").Append(PfNames.N(r.Prio - 1));
        }

        if (r.MaxPktRate.Limit != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $" max-pkt-rate {r.MaxPktRate.Limit}/{r.MaxPktRate.Seconds}");
        }

        if (r.MaxPktSize != 0)
        {
            sb.Append(" max-pkt-size ").Append(PfNames.N(r.MaxPktSize));
        }

        if (r.SetPrio is { } sp)
        {
            sb.Append(" set (");
            sb.Append(sp.A == sp.B ? $" prio {sp.A}" : $" prio({sp.A}, {sp.B})");
            sb.Append(" )");
        }

        if (r.KeepState == PfKeepState.None && r.Action == PfAction.Pass && !anchor)
        {
            sb.Append(" no state");
        }
        else if (r.KeepState == PfKeepState.Normal)
        {
            sb.Append(" keep state");
        }
        else if (r.KeepState == PfKeepState.Modulate)
        {
            sb.Append(" modulate state");
        }
        else if (r.KeepState == PfKeepState.Synproxy)
        {
            sb.Append(" synproxy state");
        }

        if (r.Probability != 0)
        {
            var text = (r.Probability * 100.0 / (uint.MaxValue + 1.0)).ToString("F6", CultureInfo.InvariantCulture).TrimEnd('0').TrimEnd('.');
            sb.Append(" probability ").Append(text).Append('%');
        }

        StateOptions(sb, r.StateOptions);
        if (r.StateLimiter != 0)
        {
            sb.Append(" state limiter id ").Append(PfNames.N(r.StateLimiter)).Append(" (").Append(r.StateLimiterAction ?? "no-match").Append(')');
        }

        if (r.SourceLimiter != 0)
        {
            sb.Append(" source limiter id ").Append(PfNames.N(r.SourceLimiter)).Append(" (").Append(r.SourceLimiterAction ?? "no-match").Append(')');
        }

        var sc = r.Scrub;
        if (r.Fragment)
        {
            sb.Append(" fragment");
        }

        if (r.Action is PfAction.Scrub)
        {
            if (sc.NoDf)
            {
                sb.Append(" no-df");
            }

            if (sc.RandomId)
            {
                sb.Append(" random-id");
            }

            if (sc.MinTtl != 0)
            {
                sb.Append(" min-ttl ").Append(PfNames.N(sc.MinTtl));
            }

            if (sc.MaxMss != 0)
            {
                sb.Append(" max-mss ").Append(PfNames.N(sc.MaxMss));
            }

            if (sc.SetTos is { } tos)
            {
                sb.Append(CultureInfo.InvariantCulture, $" set-tos 0x{tos:x2}");
            }
        }

        if (r.AllowOpts)
        {
            sb.Append(" allow-opts");
        }

        if (r.Once)
        {
            sb.Append(" once");
        }

        if (r.Action == PfAction.Scrub)
        {
            if (sc.ReassembleTcp)
            {
                sb.Append(" reassemble tcp");
            }

            sb.Append(sc.FragmentNoReassemble ? " fragment no reassemble" : " fragment reassemble");
        }
        else if (sc.Any)
        {
            var parts = new List<string>();
            if (sc.NoDf)
            {
                parts.Add("no-df");
            }

            if (sc.RandomId)
            {
                parts.Add("random-id");
            }

            if (sc.MinTtl != 0)
            {
                parts.Add("min-ttl " + PfNames.N(sc.MinTtl));
            }

            if (sc.SetTos is { } tos)
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"set-tos 0x{tos:x2}"));
            }

            if (sc.ReassembleTcp)
            {
                parts.Add("reassemble tcp");
            }

            if (sc.MaxMss != 0)
            {
                parts.Add("max-mss " + PfNames.N(sc.MaxMss));
            }

            sb.Append(" scrub (").Append(string.Join(", ", parts)).Append(')');
        }

        foreach (var l in r.Labels)
        {
            sb.Append(" label \"").Append(l).Append('"');
        }

        if (r.Ridentifier != 0)
        {
            sb.Append(" ridentifier ").Append(PfNames.N(r.Ridentifier));
        }

        if (r.DnRPipe != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $" {(r.DnIsPipe ? "dnpipe" : "dnqueue")}({r.DnPipe}, {r.DnRPipe})");
        }
        else if (r.DnPipe != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $" {(r.DnIsPipe ? "dnpipe" : "dnqueue")} {r.DnPipe}");
        }

        if (r.Queue is not null && r.PriorityQueue is not null)
        {
            sb.Append(" queue(").Append(r.Queue).Append(", ").Append(r.PriorityQueue).Append(')');
        }
        else if (r.Queue is not null)
        {
            sb.Append(" queue ").Append(r.Queue);
        }

        if (r.Tag is not null)
        {
            sb.Append(" tag ").Append(r.Tag);
        }

        if (r.Tagged is not null)
        {
            if (r.TaggedNegated)
            {
                sb.Append(" !");
            }

            sb.Append(" tagged ").Append(r.Tagged);
        }

        if (r.Rtable != -1)
        {
            sb.Append(" rtable ").Append(PfNames.N(r.Rtable));
        }

        if (r.DivertPort != 0)
        {
            sb.Append(" divert-to ").Append(PfNames.N(r.DivertPort));
        }

        if (!anchor && r.Action is PfAction.Nat or PfAction.Binat or PfAction.Rdr)
        {
            sb.Append(" -> ");
            Pool(sb, r.NatPool, r.Family, r.Action, true);
        }
        else if (r.AfTo != PfFamily.Any)
        {
            sb.Append(r.AfTo == PfFamily.Inet ? " af-to inet from " : " af-to inet6 from ");
            Pool(sb, r.NatPool, r.AfTo, PfAction.Binat, false);
            if (!r.RdrPool.Addresses.IsEmpty)
            {
                sb.Append(" to ");
                Pool(sb, r.RdrPool, r.AfTo, PfAction.Binat, false);
            }
        }
        else
        {
            if (!r.NatPool.Addresses.IsEmpty)
            {
                sb.Append(" nat-to ");
                Pool(sb, r.NatPool, r.Family, PfAction.Nat, true);
            }

            if (!r.RdrPool.Addresses.IsEmpty)
            {
                sb.Append(" rdr-to ");
                Pool(sb, r.RdrPool, r.Family, PfAction.Rdr, false);
            }
        }

        return sb.ToString();
    }

    private static void StateOptions(StringBuilder sb, PfStateOptions o)
    {
        if (!o.Any)
        {
            return;
        }

        // Mirrors print_rule's "opts" bookkeeping, including that overload does not reset it.
        var first = true;
        void Sep()
        {
            if (!first)
            {
                sb.Append(", ");
            }
        }

        sb.Append(" (");
        if (o.MaxStates != 0)
        {
            sb.Append("max ").Append(PfNames.N(o.MaxStates));
            first = false;
        }

        if (o.NoSync)
        {
            Sep();
            sb.Append("no-sync");
            first = false;
        }

        if (o.SourceTrack != 0)
        {
            Sep();
            sb.Append("source-track").Append(o.SourceTrack == 2 ? " rule" : " global");
            first = false;
        }

        if (o.MaxSrcStates != 0)
        {
            Sep();
            sb.Append("max-src-states ").Append(PfNames.N(o.MaxSrcStates));
            first = false;
        }

        if (o.MaxSrcConn != 0)
        {
            Sep();
            sb.Append("max-src-conn ").Append(PfNames.N(o.MaxSrcConn));
            first = false;
        }

        if (o.MaxSrcConnRate.Limit != 0)
        {
            Sep();
            sb.Append(CultureInfo.InvariantCulture, $"max-src-conn-rate {o.MaxSrcConnRate.Limit}/{o.MaxSrcConnRate.Seconds}");
            first = false;
        }

        if (o.MaxSrcNodes != 0)
        {
            Sep();
            sb.Append("max-src-nodes ").Append(PfNames.N(o.MaxSrcNodes));
            first = false;
        }

        if (o.OverloadTable is not null)
        {
            Sep();
            sb.Append("overload <").Append(o.OverloadTable).Append('>');
            if (o.Flush)
            {
                sb.Append(" flush");
            }

            if (o.FlushGlobal)
            {
                sb.Append(" global");
            }
        }

        if (o.IfBound)
        {
            Sep();
            sb.Append("if-bound");
            first = false;
        }

        if (o.Sloppy)
        {
            Sep();
            sb.Append("sloppy");
            first = false;
        }

        if (o.Pflow)
        {
            Sep();
            sb.Append("pflow");
            first = false;
        }

        foreach (var (idx, secs) in o.Timeouts)
        {
            Sep();
            first = false;
            sb.Append(PfNames.TimeoutName(idx)).Append(' ').Append(PfNames.N(secs));
        }

        sb.Append(')');
    }
}
