using Sluice.Pf.Config;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;

namespace Sluice.Pf.Engine;

public sealed partial class PfEngine
{
    /// <summary>pf_test_rule: translation lookup, filter rules, the verdict, and state creation.</summary>
    private PfilVerdict TestRule(Packet packet, NetworkInterface ifp, bool inbound, ref PfPacket pd)
    {
        // Translation first (first match): binat, then nat (out) or rdr (in).
        var tctx = new MatchContext();
        EvalRules(_rules.Binat, ifp, inbound, ref pd, packet, ref tctx, firstMatch: true);
        if (tctx.Rule is null && !inbound)
        {
            EvalRules(_rules.Nat, ifp, inbound, ref pd, packet, ref tctx, firstMatch: true);
        }

        if (tctx.Rule is null && inbound)
        {
            EvalRules(_rules.Rdr, ifp, inbound, ref pd, packet, ref tctx, firstMatch: true);
            if (tctx.Rule is null && _rules.Binat.Length > 0)
            {
                // binat inbound: the external (pool) address maps back to the internal one.
                tctx.Rule = MatchBinatInbound(ifp, ref pd);
            }
        }

        var nr = tctx.Rule;
        if (nr is not null && nr.Ast.Action is PfAction.NoNat or PfAction.NoRdr or PfAction.NoBinat)
        {
            nr = null;
        }

        var orig = pd;
        if (nr is not null && !pd.Fragment)
        {
            if (!Translate(packet, ifp, inbound, ref pd, nr))
            {
                Counters[(int)PfReason.MapFailed]++;
                return PfilVerdict.Drop;
            }
        }

        var ctx = new MatchContext { Tag = tctx.Tag };
        PfRuleC? r = null;
        PfAction action;
        if (nr is not null && nr.Ast.NatPass)
        {
            r = nr;
            action = PfAction.Pass;
        }
        else
        {
            EvalRules(_rules.Filter, ifp, inbound, ref pd, packet, ref ctx, firstMatch: false);
            r = ctx.Rule;
            action = r?.Ast.Action ?? PfAction.Pass;
        }

        if (r is not null)
        {
            ctx.Actions.Merge(r.Actions);
        }

        Counters[(int)PfReason.Match]++;
        if (ctx.Tag != 0)
        {
            packet.PfTag = ctx.Tag;
        }

        if (r is not null)
        {
            CountRule(r, inbound, pd.Length);
            if (r.Ast.Log.Enabled)
            {
                LogPacket(packet, ifp, inbound, r, action == PfAction.Pass ? PfAction.Pass : PfAction.Block, PfReason.Match, ctx.Anchor);
            }
        }

        if (action != PfAction.Pass)
        {
            if (r is not null)
            {
                SendReturn(packet, ifp, inbound, ref pd, r);
            }

            return PfilVerdict.Drop;
        }

        var keep = r is null ? nr is not null : r.Ast.KeepState != PfKeepState.None || nr is not null;
        if (!keep || pd.Fragment || (pd.IcmpError && pd.Proto is PfPacket.Icmp or PfPacket.Icmp6)
            || (pd.Proto is PfPacket.Icmp or PfPacket.Icmp6 && !PfPacket.IsIcmpQuery(pd.V6, pd.IcmpType)))
        {
            if (ctx.Actions.HasScrub)
            {
                PfScrub(packet, ref pd, ctx.Actions);
            }

            return AfterPass(packet, ifp, inbound, ref pd, r, inbound, ctx.Actions);
        }

        var reason = CreateState(packet, ifp, inbound, ref orig, ref pd, r ?? nr!, nr, ctx.Anchor, ctx.Tag, ctx.Actions, ctx.LogAllMatches);
        if (reason != PfReason.Match)
        {
            Counters[(int)reason]++;
            return PfilVerdict.Drop;
        }

        if (ctx.Actions.HasScrub)
        {
            PfScrub(packet, ref pd, ctx.Actions);
        }

        return AfterPass(packet, ifp, inbound, ref pd, r, inbound, ctx.Actions);
    }

    /// <summary>pf_create_state: keys, limits, source tracking and the initial TCP window.</summary>
    private PfReason CreateState(Packet packet, NetworkInterface ifp, bool inbound, ref PfPacket orig, ref PfPacket pd, PfRuleC r, PfRuleC? nr, PfRuleC? anchor, ushort tag, PfRuleActions actions, PfRuleC[]? logAllMatches)
    {
        var opts = r.Ast.StateOptions;
        if (opts.MaxStates != 0 && r.StatesCurrent >= opts.MaxStates)
        {
            LimitCounters[(int)PfLimitCounter.States]++;
            return PfReason.StateLimit;
        }

        if ((uint)_states.Count >= _stateLimit)
        {
            return PfReason.StateLimit;
        }

        if (pd.Proto == PfPacket.Tcp && (pd.TcpFlags & 0x04) != 0)
        {
            return PfReason.Match; // no state for a RST: pass without one
        }

        PfSourceNode? sn = null;
        if (opts.MaxSrcNodes != 0 || opts.MaxSrcStates != 0 || opts.MaxSrcConn != 0 || opts.MaxSrcConnRate.Limit != 0 || opts.SourceTrack != 0)
        {
            var key = (opts.SourceTrack == 1 ? null : r, orig.Src, orig.V6);
            SourceSearches++;
            if (!_sources.TryGetValue(key, out sn))
            {
                if (opts.MaxSrcNodes != 0 && r.SourceNodes >= opts.MaxSrcNodes)
                {
                    LimitCounters[(int)PfLimitCounter.SrcNodes]++;
                    return PfReason.SrcLimit;
                }

                if ((uint)_sources.Count >= _srcNodeLimit)
                {
                    return PfReason.SrcLimit;
                }

                sn = new PfSourceNode { Rule = key.Item1, Address = orig.Src, V6 = orig.V6, Creation = Now, Expire = Now };
                if (opts.MaxSrcConnRate.Limit != 0)
                {
                    sn.ThresholdLimit = opts.MaxSrcConnRate.Limit * 1000;
                    sn.ThresholdSeconds = opts.MaxSrcConnRate.Seconds;
                    sn.ThresholdLast = Now / Second;
                }

                _sources[key] = sn;
                SourceInserts++;
                r.SourceNodes++;
            }

            if (opts.MaxSrcStates != 0 && sn.States >= opts.MaxSrcStates)
            {
                LimitCounters[(int)PfLimitCounter.SrcStates]++;
                return PfReason.SrcLimit;
            }
        }

        var s = new PfState
        {
            Rule = r,
            NatRule = nr,
            AnchorRule = anchor,
            Inbound = inbound,
            InterfaceName = _ifBound || opts.IfBound ? ifp.Name : "all",
            Creation = Now,
            Expire = Now,
            Id = _nextId++,
            Sloppy = opts.Sloppy,
            Log = r.Ast.Log.Enabled || actions.Log != 0,
            LogAllMatches = logAllMatches,
            Tag = tag,
            SourceNode = sn,
            RuleTimeouts = r.Timeouts,
            Actions = actions,
        };
        var origKey = PfStateKey.ForPacket(orig.V6, orig.Proto, orig.Src, orig.Sport, orig.Dst, orig.Dport, inbound);
        var newKey = PfStateKey.ForPacket(pd.V6, pd.Proto, pd.Src, pd.Sport, pd.Dst, pd.Dport, inbound);
        s.Wire = inbound ? origKey : newKey;
        s.Stack = inbound ? newKey : origKey;

        switch (pd.Proto)
        {
            case PfPacket.Tcp:
                {
                    var seq0 = pd.Seq;
                    var end = seq0 + (uint)pd.PayloadLength + 1;
                    if ((pd.TcpFlags & 0x02) != 0)
                    {
                        end++;
                        if (WindowScale(packet, ref pd) is var ws and >= 0)
                        {
                            s.Src.WScale = (byte)(0x80 | ws);
                        }
                    }

                    if ((pd.TcpFlags & 0x01) != 0)
                    {
                        end++;
                    }

                    s.Src.SeqLo = seq0;
                    s.Src.SeqHi = end;
                    s.Src.MaxWin = Math.Max((ushort)1, pd.Win);
                    s.Dst.SeqHi = 1;
                    s.Dst.MaxWin = 1;
                    s.Src.State = PfTcpState.SynSent;
                    s.Dst.State = PfTcpState.Closed;
                    s.Timeout = 0; // tcp.first
                    if (r.Ast.KeepState == PfKeepState.Modulate && (pd.TcpFlags & 0x12) == 0x02)
                    {
                        // modulate state: a random offset hides the initiator's ISN from the other side.
                        s.Src.SeqDiff = (uint)_stack.Random.NextInt64(1, 1L << 32);
                        ModulateSeq(packet, ref pd, s.Src.SeqDiff);
                    }

                    if (pd.TcpNorm)
                    {
                        s.Actions.Flags |= PfRuleActions.ScrubTcp;
                    }

                    if ((s.Actions.Flags & PfRuleActions.ScrubTcp) != 0)
                    {
                        // pf_create_state: scrub the initiator from its first segment on.
                        NormalizeTcpInit(packet, ref pd, ref s.Src);
                        if (!NormalizeTcpStateful(packet, ref pd, s, ref s.Src, ref s.Dst))
                        {
                            return PfReason.BadTimestamp;
                        }
                    }

                    break;
                }

            case PfPacket.Udp:
                s.Src.State = 1; // SINGLE
                s.Timeout = 6; // udp.first
                break;
            case PfPacket.Icmp or PfPacket.Icmp6:
                s.Timeout = 9; // icmp.first
                break;
            default:
                s.Src.State = 1;
                s.Timeout = 11; // other.first
                break;
        }

        if (_wire.ContainsKey(s.Wire) || _stackKeys.ContainsKey(s.Stack))
        {
            return PfReason.StateInsert;
        }

        _wire[s.Wire] = s;
        _stackKeys[s.Stack] = s;
        s.ListIndex = _states.Count;
        _states.Add(s);
        Inserts++;
        r.StatesCurrent++;
        r.StatesTotal++;
        if (sn is not null)
        {
            sn.States++;
        }

        TrackHalfOpen(s);
        if (pd.Proto == PfPacket.Tcp && r.Ast.KeepState == PfKeepState.Synproxy && (pd.TcpFlags & 0x12) == 0x02 && !_syncookieReplay)
        {
            SynproxyStart(s, packet, ref pd);
            SyncHalfOpen(s);
            return PfReason.Synproxy;
        }

        return PfReason.Match;
    }

    private void RemoveState(PfState s)
    {
        if (s.ListIndex < 0)
        {
            return;
        }

        _wire.Remove(s.Wire);
        _stackKeys.Remove(s.Stack);
        var last = _states[^1];
        _states[s.ListIndex] = last;
        last.ListIndex = s.ListIndex;
        _states.RemoveAt(_states.Count - 1);
        s.ListIndex = -1;
        Removals++;
        if (s.HalfOpen)
        {
            s.HalfOpen = false;
            _halfOpen--;
        }

        if (s.Rule is not null)
        {
            s.Rule.StatesCurrent--;
        }

        if (s.SourceNode is { } sn)
        {
            sn.States--;
            if (s.TcpEstablished && sn.Connections > 0) // pf_src_tree_remove_state: src.tcp_est
            {
                sn.Connections--;
            }

            if (sn.States == 0)
            {
                sn.Expire = Now + ((long)_timeouts[18] * Second);
            }
        }
    }

    private PfState? FindState(in PfStateKey key, bool inbound)
    {
        Searches++;
        var dict = inbound ? _wire : _stackKeys;
        if (!dict.TryGetValue(key, out var s))
        {
            return null;
        }

        if (ExpiresAt(s) <= Now)
        {
            RemoveState(s);
            return null;
        }

        return s;
    }

    /// <summary>Rewrites a packet that matched a translated state to the other key's addresses and ports.</summary>
    private static void StateTranslate(Packet packet, PfState s, bool inbound, ref PfPacket pd)
    {
        if (s.Wire.Equals(s.Stack))
        {
            return;
        }

        var nk = inbound ? s.Stack : s.Wire;
        var sidx0 = inbound; // source is addr[0] inbound, addr[1] outbound
        var nsrc = sidx0 ? nk.Addr0 : nk.Addr1;
        var nsport = sidx0 ? nk.Port0 : nk.Port1;
        var ndst = sidx0 ? nk.Addr1 : nk.Addr0;
        var ndport = sidx0 ? nk.Port1 : nk.Port0;
        if (pd.Src != nsrc || pd.Sport != nsport)
        {
            packet.MakeWritable();
            PfRewrite.ChangeSource(packet.Data, ref pd, nsrc, nsport);
        }

        if (pd.Dst != ndst || pd.Dport != ndport)
        {
            packet.MakeWritable();
            PfRewrite.ChangeDestination(packet.Data, ref pd, ndst, ndport);
        }
    }

    private void Touch(PfState s, bool fromSrc, int bytes)
    {
        s.Expire = Now;
        if (fromSrc)
        {
            s.Packets0++;
            s.Bytes0 += (ulong)bytes;
        }
        else
        {
            s.Packets1++;
            s.Bytes1 += (ulong)bytes;
        }
    }

    private bool TestStateOther(Packet packet, bool inbound, ref PfPacket pd, out PfState? s, out PfAction action)
    {
        action = PfAction.Pass;
        var key = PfStateKey.ForPacket(pd.V6, pd.Proto, pd.Src, pd.Sport, pd.Dst, pd.Dport, inbound);
        s = FindState(key, inbound);
        if (s is null)
        {
            return false;
        }

        var fromSrc = s.Inbound == inbound;
        ref var src = ref fromSrc ? ref s.Src : ref s.Dst;
        ref var dst = ref fromSrc ? ref s.Dst : ref s.Src;
        if (src.State < 1)
        {
            src.State = 1; // SINGLE
        }

        if (dst.State == 1)
        {
            dst.State = 2; // MULTIPLE
        }

        var udp = pd.Proto == PfPacket.Udp;
        s.Timeout = src.State == 2 && dst.State == 2 ? (udp ? 8 : 13) : (udp ? 7 : 12);
        Touch(s, fromSrc, pd.Length);
        StateTranslate(packet, s, inbound, ref pd);
        return true;
    }
}
