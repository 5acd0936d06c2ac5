using System.Collections.Immutable;
using System.Globalization;

namespace Sluice.Pf.Config;

public sealed partial class PfParser
{
    /// <summary>expand_rule(): one rule per combination of interface, protocol, ICMP type, hosts, ports and ids.</summary>
    private void AddExpanded(RulesetBuilder rs, RuleSpec spec)
    {
        var r0 = spec.Rule with { Line = spec.Line };
        var line = spec.Line;
        if (r0.Action == PfAction.Block && r0.BlockPolicy == PfBlockPolicy.Default)
        {
            r0 = r0 with { BlockPolicy = _blockReturn ? PfBlockPolicy.Return : PfBlockPolicy.Drop };
        }

        if (r0.Action == PfAction.Block && r0.Route != PfRouteType.None)
        {
            throw Fail("route-to, reply-to and dup-to are not supported on block rules", line);
        }

        var isAnchor = r0.AnchorCall is not null;
        if (r0.Action == PfAction.Pass && !isAnchor)
        {
            if (!spec.StateSpecified)
            {
                r0 = r0 with { KeepState = PfKeepState.Normal };
            }

            if (!spec.FlagsSpecified && !r0.Fragment && r0.KeepState != PfKeepState.None)
            {
                r0 = r0 with { Flags = 0x02, FlagSet = 0x12 };
            }
        }

        if (spec.NatHosts is not null && r0.Action is PfAction.Nat or PfAction.Rdr or PfAction.Binat)
        {
            var p = spec.NatPoolOpts;
            if (p.MapE.Offset != 0 || p.MapE.PsidLen != 0)
            {
                if (r0.Action != PfAction.Nat)
                {
                    throw Fail("the 'map-e-portset' option is only valid with nat rules", line);
                }

                if (p.StaticPort)
                {
                    throw Fail("the 'map-e-portset' option can't be used 'static-port'", line);
                }

                if (!(p.ProxyPortLow == 50001 && p.ProxyPortHigh == 65535))
                {
                    throw Fail("the 'map-e-portset' option can't be used when specifying a port range", line);
                }
            }

            if (p.StaticPort)
            {
                if (r0.Action != PfAction.Nat)
                {
                    throw Fail("the 'static-port' option is only valid with nat rules", line);
                }

                if (!(p.ProxyPortLow == 50001 && p.ProxyPortHigh == 65535))
                {
                    throw Fail("the 'static-port' option can't be used when specifying a port range", line);
                }

                spec.NatPoolOpts = p with { ProxyPortLow = 0, ProxyPortHigh = 0 };
            }
        }

        var output = new List<PfRule>();
        var target = rs.For(isAnchor && r0.Action == PfAction.Pass ? PfAction.Pass : r0.Action);
        foreach (var (ifName, ifNot) in spec.Interfaces)
        {
            foreach (var proto in spec.Protos)
            {
                foreach (var icmp in spec.Icmp)
                {
                    foreach (var src in spec.Src)
                    {
                        foreach (var dst in spec.Dst)
                        {
                            foreach (var sport in spec.SrcPorts)
                            {
                                foreach (var dport in spec.DstPorts)
                                {
                                    foreach (var uid in spec.Uids)
                                    {
                                        foreach (var gid in spec.Gids)
                                        {
                                            var af = r0.Family;
                                            if ((af != PfFamily.Any && src.Af != PfFamily.Any && src.Af != af)
                                                || (af != PfFamily.Any && dst.Af != PfFamily.Any && dst.Af != af)
                                                || (src.Af != PfFamily.Any && dst.Af != PfFamily.Any && src.Af != dst.Af))
                                            {
                                                continue;
                                            }

                                            if (af == PfFamily.Any)
                                            {
                                                af = src.Af != PfFamily.Any ? src.Af : dst.Af;
                                            }

                                            if (icmp.Type != 0 && ((icmp.V6 && af == PfFamily.Inet) || (!icmp.V6 && af == PfFamily.Inet6)))
                                            {
                                                continue;
                                            }

                                            if ((sport.Op != PfOp.None || dport.Op != PfOp.None) && proto != 6 && proto != 17)
                                            {
                                                throw Fail("port only applies to tcp/udp", line);
                                            }

                                            if (icmp.Type != 0 && proto != (icmp.V6 ? 58 : 1))
                                            {
                                                throw Fail(icmp.V6 ? "icmp6-type only applies to icmp6" : "icmp-type only applies to icmp", line);
                                            }

                                            var r = r0 with
                                            {
                                                Interface = ifName,
                                                InterfaceNegated = ifNot,
                                                Protocol = proto,
                                                IcmpType = icmp.Type,
                                                IcmpCode = icmp.Code,
                                                Source = new PfRuleAddr(src.Not, src.Addr, sport),
                                                Destination = new PfRuleAddr(dst.Not, dst.Addr, dport),
                                                User = uid,
                                                Group = gid,
                                            };
                                            if (proto != 0 && proto != 6)
                                            {
                                                if (spec.FlagsSpecified && (r.Flags != 0 || r.FlagSet != 0))
                                                {
                                                    throw Fail("flags only apply to tcp", line);
                                                }

                                                r = r with { Flags = 0, FlagSet = 0 };
                                            }

                                            if (!TryPools(spec, ref r, ref af, dport, line))
                                            {
                                                continue;
                                            }

                                            r = r with { Family = af };
                                            var nr = target.Count + output.Count;
                                            r = r with
                                            {
                                                Labels = [.. r.Labels.Select(l => ExpandLabel(l, r, nr))],
                                                Tag = r.Tag is null ? null : ExpandLabel(r.Tag, r, nr),
                                                Tagged = r.Tagged is null ? null : ExpandLabel(r.Tagged, r, nr),
                                            };
                                            output.Add(r);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        if (output.Count == 0)
        {
            throw Fail("rule expands to no valid combination", line);
        }

        target.AddRange(output);
    }

    private bool TryPools(RuleSpec spec, ref PfRule rule, ref PfFamily af, PfPortRange dport, int line)
    {
        var r = rule;
        var ruleAf = af;
        PfPool? Build(List<HostNode>? hosts, PfPool opts, PfFamily family, ref PfFamily inferred)
        {
            if (hosts is null)
            {
                return null;
            }

            var kept = hosts.Where(h => family == PfFamily.Any || h.Af == PfFamily.Any || h.Af == family).ToList();
            if (kept.Count == 0)
            {
                return PfPool.Empty;
            }

            if (family == PfFamily.Any)
            {
                var fams = kept.Select(h => h.Af).Where(f => f != PfFamily.Any).Distinct().ToList();
                if (fams.Count == 1)
                {
                    var only = fams[0];
                    inferred = only;
                    kept = kept.Where(h => h.Af == PfFamily.Any || h.Af == only).ToList();
                }
            }

            var hasTable = kept.Any(h => h.Addr.Kind == PfAddrKind.Table);
            var type = opts.Type;
            if (type == PfPoolType.None && (kept.Count > 1 || hasTable || (kept[0].Addr.Kind == PfAddrKind.DynamicInterface && r.AfTo == PfFamily.Any)))
            {
                type = PfPoolType.RoundRobin;
            }

            if (hasTable && type != PfPoolType.RoundRobin)
            {
                throw Fail("tables are not supported by pool type", line);
            }

            if (kept.Count > 1 && type != PfPoolType.RoundRobin)
            {
                throw Fail("only round-robin valid for multiple redirection addresses", line);
            }

            return opts with
            {
                Type = type,
                Addresses = [.. kept.Select(h => new PfPoolAddr(h.Addr, h.Interface))],
            };
        }

        var inferredAf = af;
        var route = Build(spec.RouteHosts, spec.RoutePoolOpts, r.PreferIpv6NextHop ? PfFamily.Any : r.AfTo != PfFamily.Any ? r.AfTo : af, ref inferredAf);
        var natFamily = r.AfTo != PfFamily.Any ? r.AfTo : af;
        var natInferred = natFamily;
        var nat = Build(spec.NatHosts, spec.NatPoolOpts, natFamily, ref natInferred);
        var rdrInferred = natFamily;
        var rdr = Build(spec.RdrHosts, spec.RdrPoolOpts, natFamily, ref rdrInferred);
        if ((nat is not null && nat.Addresses.IsEmpty) || (rdr is not null && rdr.Addresses.IsEmpty) || (route is not null && route.Addresses.IsEmpty))
        {
            return false;
        }

        if (af == PfFamily.Any && r.AfTo == PfFamily.Any)
        {
            af = natInferred != PfFamily.Any ? natInferred : rdrInferred;
        }

        if (route is not null)
        {
            r = r with { RoutePool = route };
        }

        if (nat is not null)
        {
            if (r.Action == PfAction.Rdr && nat.ProxyPortHigh == uint.MaxValue)
            {
                var span = dport.Op == PfOp.Range ? dport.High - dport.Low : 0;
                nat = nat with { ProxyPortHigh = nat.ProxyPortLow + span };
            }

            r = r with { NatPool = nat };
        }

        if (rdr is not null)
        {
            r = r with { RdrPool = rdr };
        }

        _ = ruleAf;
        rule = r;
        return true;
    }

    private static string ExpandLabel(string label, PfRule r, int nr)
    {
        if (!label.Contains('$', StringComparison.Ordinal))
        {
            return label;
        }

        return label
            .Replace("$if", r.Interface ?? "any", StringComparison.Ordinal)
            .Replace("$srcaddr", LabelAddr(r.Source, r.Family), StringComparison.Ordinal)
            .Replace("$dstaddr", LabelAddr(r.Destination, r.Family), StringComparison.Ordinal)
            .Replace("$srcport", LabelPort(r.Source.Port), StringComparison.Ordinal)
            .Replace("$dstport", LabelPort(r.Destination.Port), StringComparison.Ordinal)
            .Replace("$proto", r.Protocol == 0 ? string.Empty : PfNames.ProtocolName(r.Protocol) ?? PfNames.N(r.Protocol), StringComparison.Ordinal)
            .Replace("$nr", PfNames.N(nr), StringComparison.Ordinal);
    }

    private static string LabelAddr(PfRuleAddr a, PfFamily af) => (a.Negated ? "!" : string.Empty) + PfPrinter.Address(a.Address, af);

    private static string LabelPort(PfPortRange p)
    {
        var a = PfNames.N(p.Low);
        var b = PfNames.N(p.High);
        return p.Op switch
        {
            PfOp.None => string.Empty,
            PfOp.Equal => a,
            PfOp.NotEqual => "!=" + a,
            PfOp.Less => "<" + a,
            PfOp.LessOrEqual => "<=" + a,
            PfOp.Greater => ">" + a,
            PfOp.GreaterOrEqual => ">=" + a,
            PfOp.InclusiveRange => a + "><" + b,
            PfOp.ExclusiveRange => a + "<>" + b,
            PfOp.Range => a + ":" + b,
            _ => string.Empty,
        };
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static ImmutableArray<T> One<T>(T v) => [v];
}
