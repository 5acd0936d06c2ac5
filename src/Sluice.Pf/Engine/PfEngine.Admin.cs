using System.Globalization;
using System.Text;
using Sluice.Pf.Config;

namespace Sluice.Pf.Engine;

/// <summary>One label's counters (<c>pfctl -s labels</c>).</summary>
public readonly record struct PfLabelCounters(string Label, ulong Evaluations, ulong Packets, ulong Bytes, ulong PacketsIn, ulong BytesIn, ulong PacketsOut, ulong BytesOut, ulong States);

public sealed partial class PfEngine
{
    /// <summary>The states as <c>pfctl -s states</c> prints them (pf_print_state.c print_state), one line each.</summary>
    public string FormatStates(int verbose = 0)
    {
        var sb = new StringBuilder();
        var now = Now;
        foreach (var s in _states.OrderBy(s => s.Id))
        {
            if (ExpiresAt(s) <= now)
            {
                continue;
            }

            PfStateKey sk, nk;
            if (!s.Inbound)
            {
                sk = s.Stack;
                nk = s.Wire;
            }
            else
            {
                sk = s.Wire;
                nk = s.Stack;
            }

            var proto = s.Wire.Proto;
            sb.Append(s.InterfaceName).Append(' ');
            sb.Append(proto switch { 6 => "tcp", 17 => "udp", 1 => "icmp", 58 => "ipv6-icmp", _ => proto.ToString(CultureInfo.InvariantCulture) }).Append(' ');
            var v6 = s.Wire.V6;
            Host(sb, nk.Addr1, nk.Port1, v6);
            if (nk.Addr1 != sk.Addr1 || nk.Port1 != sk.Port1)
            {
                sb.Append(" (");
                Host(sb, sk.Addr1, sk.Port1, v6);
                sb.Append(')');
            }

            sb.Append(s.Inbound ? " <- " : " -> ");
            Host(sb, nk.Addr0, nk.Port0, v6);
            if (nk.Addr0 != sk.Addr0 || nk.Port0 != sk.Port0)
            {
                sb.Append(" (");
                Host(sb, sk.Addr0, sk.Port0, v6);
                sb.Append(')');
            }

            sb.Append("    ");
            var src = s.Inbound ? s.Dst : s.Src;
            var dst = s.Inbound ? s.Src : s.Dst;
            if (proto == 6)
            {
                sb.Append("   ").Append(TcpStatePair(src.State, dst.State)).Append('\n');
                if (verbose > 0)
                {
                    // print_seq for both peers; window scale only when both sides scale.
                    sb.Append("   ");
                    Seq(sb, src);
                    var scaled = src.WScale != 0 && dst.WScale != 0;
                    if (scaled)
                    {
                        sb.Append(CultureInfo.InvariantCulture, $" wscale {src.WScale & 0x0f}");
                    }

                    sb.Append("  ");
                    Seq(sb, dst);
                    if (scaled)
                    {
                        sb.Append(CultureInfo.InvariantCulture, $" wscale {dst.WScale & 0x0f}");
                    }

                    sb.Append('\n');
                }
            }
            else if (proto == 17 || (proto != 1 && proto != 58))
            {
                string[] names = ["NO_TRAFFIC", "SINGLE", "MULTIPLE"];
                sb.Append("   ").Append(names[Math.Min((int)src.State, 2)]).Append(':').Append(names[Math.Min((int)dst.State, 2)]).Append('\n');
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"   {src.State}:{dst.State}\n");
            }

            if (verbose > 0)
            {
                var age = (now - s.Creation) / Second;
                var exp = Math.Max(0, (ExpiresAt(s) - now) / Second);
                sb.Append(CultureInfo.InvariantCulture,
                    $"   age {age / 3600:00}:{age / 60 % 60:00}:{age % 60:00}, expires in {exp / 3600:00}:{exp / 60 % 60:00}:{exp % 60:00}, {s.Packets0}:{s.Packets1} pkts, {s.Bytes0}:{s.Bytes1} bytes");
                if (s.AnchorRule is not null)
                {
                    sb.Append(CultureInfo.InvariantCulture, $", anchor {s.AnchorRule.Number}");
                }

                if (s.Rule is not null)
                {
                    sb.Append(CultureInfo.InvariantCulture, $", rule {s.Rule.Number}");
                }

                StateFlags(sb, s);
                sb.Append('\n');
            }

            if (verbose > 1)
            {
                sb.Append(CultureInfo.InvariantCulture, $"   id: {s.Id:x16} creatorid: {HostId:x8}");
                if (s.Actions.Rtable >= 0)
                {
                    sb.Append(CultureInfo.InvariantCulture, $" rtable: {s.Actions.Rtable}");
                }

                sb.Append('\n');
            }
        }

        return sb.ToString();
    }

    /// <summary>print_seq: <c>[seqlo + seqhi-seqlo]</c>, with <c>(+seqdiff)</c> for a modulated or proxied peer.</summary>
    private static void Seq(StringBuilder sb, in PfStatePeer p)
    {
        sb.Append(CultureInfo.InvariantCulture, $"[{p.SeqLo} + {p.SeqHi - p.SeqLo}]");
        if (p.SeqDiff != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"(+{p.SeqDiff})");
        }
    }

    /// <summary>print_state's -v flags, in its order (sbin/pfctl/pf_print_state.c).</summary>
    private static void StateFlags(StringBuilder sb, PfState s)
    {
        var a = s.Actions;
        if (s.Rule?.Ast.AllowOpts == true)
        {
            sb.Append(", allow-opts");
        }

        if (s.Sloppy)
        {
            sb.Append(", sloppy");
        }

        if (s.Rule?.Ast.StateOptions.NoSync == true)
        {
            sb.Append(", no-sync");
        }

        if ((a.Flags & PfRuleActions.NoDf) != 0)
        {
            sb.Append(", no-df");
        }

        if ((a.Flags & PfRuleActions.SetTos) != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $", set-tos 0x{a.Tos:x2}");
        }

        if ((a.Flags & PfRuleActions.RandomId) != 0)
        {
            sb.Append(", random-id");
        }

        if ((a.Flags & PfRuleActions.ScrubTcp) != 0)
        {
            sb.Append(", reassemble-tcp");
        }

        if ((a.Flags & PfRuleActions.SetPrio) != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $", set-prio (0x{a.Prio0:x2} 0x{a.Prio1:x2})");
        }

        // FreeBSD prints "dummynet queue (...)" only under PFSTATE_DN_IS_QUEUE, which pf_rule_to_actions never sets.
        if ((a.DnPipe | a.DnRPipe) != 0 && (a.Flags & PfRuleActions.DnIsPipe) != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $", dummynet pipe ({a.DnPipe} {a.DnRPipe})");
        }

        if (s.SourceNode is not null)
        {
            sb.Append(", source-track");
        }

        var log = (byte)(a.Log | (s.Log ? PfRuleActions.LogOn : 0) | (s.Rule?.Ast.Log.All == true ? PfRuleActions.LogAll : 0));
        if (log != 0)
        {
            sb.Append(", log");
        }

        if ((log & PfRuleActions.LogAll) != 0)
        {
            sb.Append(" (all)");
        }

        if (a.MinTtl != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $", min-ttl {a.MinTtl}");
        }

        if (a.MaxMss != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $", max-mss {a.MaxMss}");
        }
    }

    private static void Host(StringBuilder sb, UInt128 addr, ushort port, bool v6)
    {
        var ip = new PfIp(v6 ? PfFamily.Inet6 : PfFamily.Inet, addr);
        sb.Append(PfAddressText.Format(ip));
        if (port != 0)
        {
            if (v6)
            {
                sb.Append(CultureInfo.InvariantCulture, $"[{port}]");
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $":{port}");
            }
        }
    }

    /// <summary>Kills states (<c>pfctl -k src [-k dst]</c>): from <paramref name="source"/> (and to <paramref name="destination"/>); returns the count.</summary>
    public int KillStates(Func<PfIp, bool> source, Func<PfIp, bool>? destination = null)
    {
        var n = 0;
        foreach (var s in _states.ToList())
        {
            var v6 = s.Wire.V6;
            var fam = v6 ? PfFamily.Inet6 : PfFamily.Inet;
            // The initiator's address on the wire side and on the stack side.
            var from = s.Inbound ? s.Wire.Addr0 : s.Stack.Addr1;
            var to = s.Inbound ? s.Stack.Addr1 : s.Wire.Addr0;
            var from2 = s.Inbound ? s.Stack.Addr0 : s.Wire.Addr1;
            if ((source(new PfIp(fam, from)) || source(new PfIp(fam, from2))) && (destination is null || destination(new PfIp(fam, to))))
            {
                RemoveState(s);
                n++;
            }
        }

        return n;
    }

    /// <summary>Kills source nodes (<c>pfctl -K</c>); returns the count.</summary>
    public int KillSourceNodes(Func<PfIp, bool> source)
    {
        var n = 0;
        foreach (var sn in _sources.Values.ToList())
        {
            if (source(new PfIp(sn.V6 ? PfFamily.Inet6 : PfFamily.Inet, sn.Address)))
            {
                foreach (var s in _states)
                {
                    if (s.SourceNode == sn)
                    {
                        s.SourceNode = null;
                    }
                }

                RemoveSourceNode(sn);
                n++;
            }
        }

        return n;
    }

    /// <summary>Removes all states (<c>pfctl -F states</c>); returns how many there were.</summary>
    public int FlushStates()
    {
        var n = _states.Count;
        foreach (var s in _states.ToList())
        {
            RemoveState(s);
        }

        return n;
    }

    /// <summary>Removes all source nodes (<c>pfctl -F Sources</c>).</summary>
    public int FlushSourceNodes() => KillSourceNodes(_ => true);

    /// <summary>Clears the global counters (<c>pfctl -z</c>).</summary>
    public void ZeroCounters()
    {
        Array.Clear(Counters);
        Array.Clear(LimitCounters);
        Array.Clear(_ifBytes);
        Array.Clear(_ifPackets);
        Searches = Inserts = Removals = 0;
        SourceSearches = SourceInserts = SourceRemovals = 0;
        foreach (var r in AllRules(_rules))
        {
            r.Evaluations = r.PacketsIn = r.PacketsOut = r.BytesIn = r.BytesOut = r.StatesTotal = 0;
        }
    }

    /// <summary>Label counters, summed over rules with the same label, in rule order (<c>pfctl -s labels</c>).</summary>
    public IReadOnlyList<PfLabelCounters> Labels()
    {
        var list = new List<PfLabelCounters>();
        foreach (var r in AllRules(_rules))
        {
            if (r.Ast.Labels.IsEmpty)
            {
                continue;
            }

            var label = r.Ast.Labels[0];
            var i = list.FindIndex(l => l.Label == label);
            var c = new PfLabelCounters(label, r.Evaluations, r.PacketsIn + r.PacketsOut, r.BytesIn + r.BytesOut, r.PacketsIn, r.BytesIn, r.PacketsOut, r.BytesOut, r.StatesTotal);
            if (i < 0)
            {
                list.Add(c);
            }
            else
            {
                var o = list[i];
                list[i] = o with
                {
                    Evaluations = o.Evaluations + c.Evaluations,
                    Packets = o.Packets + c.Packets,
                    Bytes = o.Bytes + c.Bytes,
                    PacketsIn = o.PacketsIn + c.PacketsIn,
                    BytesIn = o.BytesIn + c.BytesIn,
                    PacketsOut = o.PacketsOut + c.PacketsOut,
                    BytesOut = o.BytesOut + c.BytesOut,
                    States = o.States + c.States,
                };
            }
        }

        return list;
    }

    /// <summary>Rule counters for <c>pfctl -sr -v</c>: evaluations, packets, bytes, current states, state creations.</summary>
    public (ulong Evaluations, ulong Packets, ulong Bytes, int States, ulong Creations)? RuleCounters(PfRule rule)
    {
        foreach (var r in AllRules(_rules))
        {
            if (ReferenceEquals(r.Ast, rule))
            {
                return (r.Evaluations, r.PacketsIn + r.PacketsOut, r.BytesIn + r.BytesOut, r.StatesCurrent, r.StatesTotal);
            }
        }

        return null;
    }

    private static IEnumerable<PfRuleC> AllRules(PfCompiledRuleset rs)
    {
        foreach (var list in new[] { rs.Scrub, rs.Nat, rs.Rdr, rs.Binat, rs.Filter })
        {
            foreach (var r in list)
            {
                yield return r;
                if (r.Anchor is not null)
                {
                    foreach (var sub in AllRules(r.Anchor))
                    {
                        yield return sub;
                    }
                }
            }
        }
    }

    /// <summary>print_state's TCP state column: both peers' states, or PROXY:SRC / PROXY:DST during synproxy.</summary>
    private static string TcpStatePair(byte src, byte dst) =>
        src <= PfTcpState.TimeWait && dst <= PfTcpState.TimeWait ? PfTcpState.Names[src] + ":" + PfTcpState.Names[dst]
        : src == PfTcpState.ProxySrc || dst == PfTcpState.ProxySrc ? "PROXY:SRC"
        : src == PfTcpState.ProxyDst || dst == PfTcpState.ProxyDst ? "PROXY:DST"
        : $"<BAD STATE LEVELS {src}:{dst}>";
}
