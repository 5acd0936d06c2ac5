using System.Buffers.Binary;
using Sluice.Pf.Config;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;
using Sluice.Stack.Time;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Pf.Engine;

/// <summary>
/// The pf packet filter of one VNET (pf.c's pf_test): compiled rule set with skip steps, state table with TCP
/// window tracking, NAT/RDR/BINAT, tables, source tracking with overload, return-rst/return-icmp and pflog.
/// </summary>
/// <remarks>
/// Runs on the stack's event loop only; no locks. The compiled rule set is replaced whole by <see cref="Reload"/>.
/// Packets that match an existing state are processed without allocation. Generated replies (RST, ICMP) are marked
/// so that pf does not filter them again on the way out, as pf's PF_TAG_GENERATED.
/// </remarks>
public sealed partial class PfEngine : IPacketFilter, ITimerHandler
{
    internal const ushort GeneratedTag = 0xFFFF;
    private const long Second = 1_000_000_000L;

    private readonly NetStack _stack;
    private readonly Timer _purgeTimer;
    private readonly Timer _cookieTimer;
    private readonly Dictionary<string, PfTableRef> _tableRefs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ushort> _tags = new(StringComparer.Ordinal);
    private readonly Dictionary<PfStateKey, PfState> _wire = [];
    private readonly Dictionary<PfStateKey, PfState> _stackKeys = [];
    private readonly List<PfState> _states = [];
    private readonly Dictionary<(PfRuleC? Rule, UInt128 Address, bool V6), PfSourceNode> _sources = [];
    private PfCompiledRuleset _rules = new();
    private readonly uint[] _timeouts = new uint[32];
    private string[] _skipInterfaces = [];
    private bool _blockReturn;
    private bool _ifBound;
    private ulong _nextId = 1;
    private uint _stateLimit = 100_000, _srcNodeLimit = 100_000;
    private long _enabledSince;

    internal PfEngine(PfInstance pf)
    {
        Instance = pf;
        _stack = pf.Stack;
        _purgeTimer = new Timer(this);
        _cookieTimer = new Timer(this);
        LoadOptions(PfRuleset.Empty);
    }

    /// <summary>The instance this engine filters for.</summary>
    public PfInstance Instance { get; }

    /// <inheritdoc/>
    public string Name => "pf";

    /// <summary>The <c>pfctl -si</c> counters (by <see cref="PfReason"/>).</summary>
    public ulong[] Counters { get; } = new ulong[16];

    /// <summary>State table searches, inserts and removals.</summary>
    public ulong Searches { get; private set; }

    public ulong Inserts { get; private set; }

    public ulong Removals { get; private set; }

    /// <summary>Number of states.</summary>
    public int StateCount => _states.Count;

    /// <summary>Number of source-tracking nodes.</summary>
    public int SourceNodeCount => _sources.Count;

    /// <summary>Where <c>log</c> rules send packets (pflog0).</summary>
    public List<IPflogSink> LogSinks { get; } = [];

    /// <summary>Virtual or real time at which pf was enabled.</summary>
    public long EnabledSince => _enabledSince;

    private long Now => _stack.Loop.Now;

    /// <summary>Attaches to the stack's pfil hooks (pfctl -e).</summary>
    public void Attach()
    {
        if (_stack.Pfil.IndexOf(this) < 0)
        {
            _stack.Pfil.Add(this);
            _enabledSince = Now;
            SchedulePurge();
        }
    }

    /// <summary>Detaches from the pfil hooks (pfctl -d); states stay.</summary>
    public void Detach()
    {
        _stack.Pfil.Remove(this);
        _stack.Loop.Cancel(_purgeTimer);
    }

    /// <summary>
    /// False compiles every skip step as "next rule", so each rule is tested in turn (for the benchmark that shows what
    /// skip steps save); setting it recompiles.
    /// </summary>
    internal bool SkipStepsEnabled
    {
        get => _skipSteps;
        set
        {
            _skipSteps = value;
            Reload();
        }
    }

    private bool _skipSteps = true;

    /// <summary>Recompiles the active rule set and anchors (after a load, an anchor load or a flush).</summary>
    public void Reload()
    {
        var compiler = new PfCompiler(this);
        LoadOptions(Instance.Active);
        LoadStatusOptions(Instance.Active);
        ComputeChecksum(Instance.Active);
        _rules = compiler.Compile(Instance.Active, string.Empty);
    }

    internal PfTableRef TableRef(string name)
    {
        if (!_tableRefs.TryGetValue(name, out var r))
        {
            r = new PfTableRef(Instance, name);
            _tableRefs[name] = r;
        }

        return r;
    }

    internal ushort TagId(string name)
    {
        if (!_tags.TryGetValue(name, out var id))
        {
            id = (ushort)(_tags.Count + 1);
            _tags[name] = id;
        }

        return id;
    }

    private void LoadOptions(PfRuleset rs)
    {
        foreach (var (_, index) in PfNames.Timeouts)
        {
            _timeouts[index] = PfNames.DefaultTimeouts[index];
        }

        var skips = new List<string>();
        _blockReturn = false;
        _ifBound = false;
        _stateLimit = 100_000;
        _srcNodeLimit = 100_000;
        _reassemble = _reassembleNoDf = false;
        _fragLimit = 5000;
        var adaptiveSet = false;
        foreach (var o in rs.Statements.OfType<PfOptionStatement>())
        {
            var p = o.Text.Split(' ');
            switch (o.Name)
            {
                case "timeout" when p.Length >= 4 && uint.TryParse(p[3], out var v):
                    foreach (var (name, index) in PfNames.Timeouts)
                    {
                        if (name == p[2])
                        {
                            _timeouts[index] = v;
                            adaptiveSet |= index is 16 or 17;
                        }
                    }

                    break;
                case "limit" when p.Length >= 4 && uint.TryParse(p[3], out var l):
                    if (p[2] == "states")
                    {
                        _stateLimit = l;
                    }
                    else if (p[2] == "src-nodes")
                    {
                        _srcNodeLimit = l;
                    }
                    else if (p[2] == "frags")
                    {
                        _fragLimit = l;
                    }

                    break;
                case "block-policy":
                    _blockReturn = o.Text.EndsWith("return", StringComparison.Ordinal);
                    break;
                case "state-policy":
                    _ifBound = o.Text.EndsWith("if-bound", StringComparison.Ordinal);
                    break;
                case "reassemble":
                    _reassemble = p.Length >= 3 && p[2] == "yes";
                    _reassembleNoDf = _reassemble && p.Length >= 4 && p[3] == "no-df";
                    break;
                case "skip" when p.Length >= 4:
                    skips.Add(p[3]);
                    break;
            }
        }

        if (!adaptiveSet && _stateLimit != 100_000)
        {
            // pfctl: adaptive.start/end default to 60% and 120% of the state limit.
            _timeouts[16] = _stateLimit / 10 * 6;
            _timeouts[17] = _stateLimit / 10 * 12;
        }

        _skipInterfaces = [.. skips];
    }

    private void SchedulePurge()
    {
        var interval = Math.Max(1u, _timeouts[15]);
        _stack.Loop.ScheduleAfter(_purgeTimer, interval * Second);
    }

    /// <summary>The purge thread: removes expired states and source nodes (one reusable timer).</summary>
    public void OnTimer(Timer timer)
    {
        if (timer == _cookieTimer)
        {
            SyncookieRotate();
            return;
        }

        Purge();
        if (_stack.Pfil.IndexOf(this) >= 0)
        {
            SchedulePurge();
        }
    }

    /// <summary>Removes every expired state and unused source node now.</summary>
    public void Purge()
    {
        var now = Now;
        for (var i = _states.Count - 1; i >= 0; i--)
        {
            if (i < _states.Count && ExpiresAt(_states[i]) <= now)
            {
                RemoveState(_states[i]);
            }
        }

        PurgeFragments(now);
        List<PfSourceNode>? dead = null;
        foreach (var sn in _sources.Values)
        {
            if (sn.States == 0 && sn.Expire <= now)
            {
                (dead ??= []).Add(sn);
            }
        }

        if (dead is not null)
        {
            foreach (var sn in dead)
            {
                RemoveSourceNode(sn);
            }
        }
    }

    private void RemoveSourceNode(PfSourceNode sn)
    {
        if (_sources.Remove((sn.Rule, sn.Address, sn.V6)))
        {
            SourceRemovals++;
            if (sn.Rule is not null)
            {
                sn.Rule.SourceNodes--;
            }
        }
    }

    internal uint TimeoutSeconds(PfState s)
    {
        var t = s.Timeout;
        if (t < 0)
        {
            return 0;
        }

        return s.RuleTimeouts is { } rt && rt[t] != 0 ? rt[t] : _timeouts[t];
    }

    /// <summary>pf_state_expires: last activity plus the timeout, scaled down by adaptive timeouts.</summary>
    internal long ExpiresAt(PfState s)
    {
        if (s.Purged)
        {
            return long.MinValue;
        }

        long timeout = TimeoutSeconds(s);
        var start = (long)_timeouts[16];
        var end = (long)_timeouts[17];
        var states = (long)_states.Count;
        if (start > 0 && end > start && states > start)
        {
            if (states >= end)
            {
                return s.Expire;
            }

            timeout = timeout * (end - states) / (end - start);
        }

        return s.Expire + (timeout * Second);
    }

    /// <inheritdoc/>
    public PfilVerdict Filter(Packet packet, NetworkInterface ifp, PfilDirection direction, bool ipv6)
    {
        if (packet.PfTag == GeneratedTag)
        {
            packet.PfTag = 0;
            return PfilVerdict.Pass;
        }

        var inbound = direction == PfilDirection.In;
        if (inbound && (packet.Flags & PacketFlags.Loopback) == 0)
        {
            packet.PfTag = 0;
        }

        foreach (var s in _skipInterfaces)
        {
            if (InterfaceMatches(ifp, s))
            {
                return PfilVerdict.Pass;
            }
        }

        if (_logInterface is null || ifp.Name != _logInterface)
        {
            return FilterPacket(packet, ifp, direction, ipv6);
        }

        var length = packet.Length;
        var verdict = FilterPacket(packet, ifp, direction, ipv6);
        CountLogInterface(ipv6, inbound, verdict == PfilVerdict.Drop, length);
        return verdict;
    }

    /// <summary>pf_test once the packet is known not to be pf's own or on a skipped interface.</summary>
    private PfilVerdict FilterPacket(Packet packet, NetworkInterface ifp, PfilDirection direction, bool ipv6)
    {
        var inbound = direction == PfilDirection.In;
        var reason = PfPacket.Parse(packet.Data, ipv6, out var pd);
        if (reason != PfReason.Match)
        {
            Counters[(int)reason]++;
            return PfilVerdict.Drop;
        }

        var haveScrub = _rules.Scrub.Length > 0;
        var scrub = haveScrub ? MatchScrubRule(ifp, inbound, ref pd, packet) : null;
        if (!ipv6 && (haveScrub || _reassemble || pd.Fragment))
        {
            switch (NormalizeIPv4(packet, ifp, inbound, ref pd, scrub, haveScrub, out var whole))
            {
                case PfNormResult.Drop:
                    return PfilVerdict.Drop;
                case PfNormResult.Held:
                    return PfilVerdict.Consumed;
                case PfNormResult.Reassembled:
                    ContinueReassembled(whole!, ifp, direction, scrub, haveScrub, false);
                    return PfilVerdict.Consumed;
            }
        }
        else if (ipv6 && pd.Fragment)
        {
            switch (NormalizeIPv6(packet, ref pd, scrub, haveScrub, out var whole))
            {
                case PfNormResult.Drop:
                    return PfilVerdict.Drop;
                case PfNormResult.Held:
                    return PfilVerdict.Consumed;
                case PfNormResult.Reassembled:
                    ContinueReassembled(whole!, ifp, direction, scrub, haveScrub, true);
                    return PfilVerdict.Consumed;
            }
        }

        if (ipv6 && !inbound && packet.PfFragmentMaxLength != 0)
        {
            return TestReassembledOut6(packet, ifp, ref pd, scrub, haveScrub);
        }

        return TestNormalized(packet, ifp, inbound, ref pd, scrub, haveScrub);
    }

    /// <summary>
    /// pf_test6 on output for a datagram pf reassembled on input (PF_REASSEMBLED): filtered whole, and when it passes
    /// sent on as the fragments it arrived as (pf_refragment6); it is not reassembled a second time.
    /// </summary>
    private PfilVerdict TestReassembledOut6(Packet packet, NetworkInterface ifp, ref PfPacket pd, PfRuleC? scrub, bool haveScrub)
    {
        var info = (HeaderLength: (int)packet.PfFragmentHeaderLength, MaxLength: (int)packet.PfFragmentMaxLength, Id: packet.PfFragmentId);
        var saved = _whole6;
        _whole6 = (packet, info);
        PfilVerdict verdict;
        try
        {
            verdict = TestNormalized(packet, ifp, false, ref pd, scrub, haveScrub);
        }
        finally
        {
            _whole6 = saved;
        }

        if (verdict != PfilVerdict.Pass)
        {
            return verdict;
        }

        SendRefragmented6(packet, ifp, info);
        return PfilVerdict.Consumed;
    }

    private (int HeaderLength, int MaxLength, uint Id) _reassembled6Info;

    /// <summary>The reassembled IPv6 datagram being filtered now (route-to refragments it), with its fragment layout.</summary>
    private (Packet? Packet, (int HeaderLength, int MaxLength, uint Id) Info) _whole6;

    /// <summary>IPv6 datagrams pf reassembled, filtered whole and sent out as fragments again (pf_refragment6).</summary>
    public ulong Refragmented6 { get; private set; }

    /// <summary>
    /// pf_refragment6 on output: a passed, reassembled IPv6 datagram leaves as fragments no larger than the largest
    /// that arrived, with the original identification; pf's hooks do not see them again (M_SKIP_FIREWALL).
    /// </summary>
    private void SendRefragmented6(Packet whole, NetworkInterface ifp, (int HeaderLength, int MaxLength, uint Id) info)
    {
        Refragmented6++;
        foreach (var f in Refragment6(whole, info.HeaderLength, info.MaxLength, info.Id))
        {
            _stack.Reinject(f, ifp, PfilDirection.Out, true, this);
        }
    }

    /// <summary>
    /// Filters a datagram pf reassembled (it now owns it) and, when it passes, sends it on from pf's hook with
    /// <see cref="NetStack.Reinject"/>; the fragment that completed it was consumed.
    /// </summary>
    private void ContinueReassembled(Packet whole, NetworkInterface ifp, PfilDirection direction, PfRuleC? scrub, bool haveScrub, bool v6)
    {
        var info = _reassembled6Info;
        var reason = PfPacket.Parse(whole.Data, v6, out var pd);
        if (reason != PfReason.Match)
        {
            Counters[(int)reason]++;
            whole.Release();
            return;
        }

        var saved = _whole6;
        _whole6 = v6 ? (whole, info) : (null, default);
        PfilVerdict verdict;
        try
        {
            verdict = TestNormalized(whole, ifp, direction == PfilDirection.In, ref pd, scrub, haveScrub);
        }
        finally
        {
            _whole6 = saved;
        }

        switch (verdict)
        {
            case PfilVerdict.Pass when v6 && direction == PfilDirection.In:
                // pf_test6 keeps the datagram whole on input with its PF_REASSEMBLED tag: the stack delivers it, or
                // forwards it through pf's output test (ip6_forward runs the hook before the MTU check), which
                // refragments it there. Reassembled once, refragmented once.
                whole.PfFragmentHeaderLength = (ushort)info.HeaderLength;
                whole.PfFragmentMaxLength = (ushort)info.MaxLength;
                whole.PfFragmentId = info.Id;
                _stack.Reinject(whole, ifp, direction, true, this);
                break;
            case PfilVerdict.Pass when v6:
                SendRefragmented6(whole, ifp, info);
                break;
            case PfilVerdict.Pass:
                _stack.Reinject(whole, ifp, direction, false, this);
                break;
            case PfilVerdict.Drop:
                whole.Release();
                break;
        }
    }

    /// <summary>pf_test after normalization: TCP normalization, states, rules, then the scrub rule's rewrites.</summary>
    private PfilVerdict TestNormalized(Packet packet, NetworkInterface ifp, bool inbound, ref PfPacket pd, PfRuleC? scrub, bool haveScrub)
    {
        // pf_test: an inbound SYN is answered with a syncookie before anything else while cookies are on; no state.
        if (inbound && pd.Proto == PfPacket.Tcp && !pd.Fragment && (pd.TcpFlags & (SynF | AckFlag | RstF)) == SynF && SynfloodCheck())
        {
            SyncookieSend(packet, ref pd);
            return PfilVerdict.Drop;
        }

        var scrubbing = haveScrub ? scrub is not null && scrub.Ast.Action == PfAction.Scrub : true;
        if (pd.Proto == PfPacket.Tcp && !pd.Fragment && scrubbing && !NormalizeTcp(packet, ref pd))
        {
            Counters[(int)PfReason.Normalize]++;
            return PfilVerdict.Drop;
        }

        // pf_normalize_tcp: a scrub rule's "reassemble tcp" marks the packet (PFDESC_TCP_NORM) for the state it creates.
        pd.TcpNorm = haveScrub && scrubbing && (scrub!.Actions.Flags & PfRuleActions.ScrubTcp) != 0;

        var verdict = Test(packet, ifp, inbound, ref pd);
        if (verdict == PfilVerdict.Pass && haveScrub && scrubbing && scrub!.Actions.HasScrub)
        {
            PfScrub(packet, ref pd, scrub.Actions);
        }

        return verdict;
    }

    private PfilVerdict Test(Packet packet, NetworkInterface ifp, bool inbound, ref PfPacket pd)
    {
        // A fragment that was not reassembled matches no state and no rule that needs ports, flags or ICMP types
        // (pf's PF_VPROTO_FRAGMENT).
        if (!pd.Fragment)
        {
            PfState? s = null;
            var action = PfAction.Pass;
            var reason = PfReason.Match;
            var found = pd.Proto switch
            {
                PfPacket.Tcp => TestStateTcp(packet, inbound, ref pd, out s, out action, out reason),
                PfPacket.Icmp or PfPacket.Icmp6 => TestStateIcmp(packet, inbound, ref pd, out s, out action, out reason),
                _ => TestStateOther(packet, inbound, ref pd, out s, out action),
            };
            if (found)
            {
                if (s is not null && s.HalfOpen)
                {
                    SyncHalfOpen(s);
                }

                if (action != PfAction.Pass)
                {
                    Counters[(int)reason]++;
                    if (s?.Log == true && s.Rule is not null)
                    {
                        LogPacket(packet, ifp, inbound, s.Rule, PfAction.Block, reason, s.AnchorRule);
                    }

                    return PfilVerdict.Drop;
                }

                if (s is not null)
                {
                    if (s.Tag != 0)
                    {
                        packet.PfTag = s.Tag;
                    }

                    if (s.Rule is { } rr)
                    {
                        CountRule(rr, inbound, pd.Length);
                        if (s.Rule.Ast.Log.All)
                        {
                            LogPacket(packet, ifp, inbound, rr, PfAction.Pass, PfReason.Match, s.AnchorRule);
                        }
                    }

                    if (s.LogAllMatches is { } lm)
                    {
                        // pf_test: every match rule of the state with log (all) logs each of its packets.
                        foreach (var m in lm)
                        {
                            LogPacket(packet, ifp, inbound, m, PfAction.Pass, PfReason.Match, s.AnchorRule);
                        }
                    }

                    if (s.Actions.HasScrub)
                    {
                        PfScrub(packet, ref pd, s.Actions);
                    }

                    return AfterPass(packet, ifp, inbound, ref pd, s.Rule, s.Inbound, s.Actions);
                }

                return PfilVerdict.Pass;
            }
        }

        // pf_test: an ACK without a state may carry a cookie pf sent; then the SYN is rebuilt and the connection made.
        if (inbound && pd.Proto == PfPacket.Tcp && !pd.Fragment && (pd.TcpFlags & (SynF | AckFlag | RstF)) == AckFlag
            && (_cookieInflight[0] | _cookieInflight[1]) != 0 && SyncookieValidate(ref pd))
        {
            return SyncookieReplay(packet, ifp, ref pd);
        }

        return TestRule(packet, ifp, inbound, ref pd);
    }

    private static void CountRule(PfRuleC r, bool inbound, int bytes)
    {
        if (inbound)
        {
            r.PacketsIn++;
            r.BytesIn += (ulong)bytes;
        }
        else
        {
            r.PacketsOut++;
            r.BytesOut += (ulong)bytes;
        }
    }

    /// <summary>pf_norm's fragment checks: RFC 1858 tiny and overlapping fragments, bad lengths.</summary>
    private static PfReason FragmentChecks(ref PfPacket pd)
    {
        if (!pd.V6)
        {
            // A non-final fragment must carry a multiple of 8 bytes.
            if (pd.NonFirstFragment && pd.FragmentOffset < 16 && pd.Proto == PfPacket.Tcp)
            {
                return PfReason.Fragment; // RFC 1858: offset 1 could rewrite the TCP flags
            }

            if (pd.FragmentOffset + pd.TransportLength > 65535)
            {
                return PfReason.Fragment;
            }
        }

        if (!pd.NonFirstFragment && pd.Fragment)
        {
            var need = pd.Proto switch { PfPacket.Tcp => 20, PfPacket.Udp => 8, PfPacket.Icmp or PfPacket.Icmp6 => 8, _ => 0 };
            if (pd.TransportLength < need)
            {
                return PfReason.Fragment;
            }
        }

        return PfReason.Match;
    }

    private bool InterfaceMatches(NetworkInterface ifp, string name)
    {
        if (ifp.Name == name)
        {
            return true;
        }

        var groups = ifp.Groups;
        for (var i = 0; i < groups.Count; i++)
        {
            if (groups[i] == name)
            {
                return true;
            }
        }

        return false;
    }

    private ref struct MatchContext
    {
        public PfRuleC? Rule;
        public PfRuleC? Anchor;
        public ushort Tag;
        public bool Quick;
        public PfRuleActions Actions; // accumulated from matching match rules (pf_rule_to_actions)
        public PfRuleC[]? LogAllMatches; // match rules with log (all): pf logs every packet of the state for them
    }

    /// <summary>
    /// pf_match_rule over one list with skip steps; last match wins unless <c>quick</c>; anchors evaluated in place.
    /// With <paramref name="firstMatch"/> (translation rules) the first matching rule decides.
    /// </summary>
    private void EvalRules(PfRuleC[] rules, NetworkInterface ifp, bool inbound, ref PfPacket pd, Packet packet, ref MatchContext ctx, bool firstMatch, PfRuleC? anchor = null)
    {
        var i = 0;
        while (i < rules.Length)
        {
            var r = rules[i];
            var a = r.Ast;
            r.Evaluations++;
            if (r.IfName is not null && InterfaceMatches(ifp, r.IfName) == r.IfNegated)
            {
                i = r.Skip[PfSkip.Interface];
                continue;
            }

            if (a.Direction != PfDirection.Both && (a.Direction == PfDirection.In) != inbound)
            {
                i = r.Skip[PfSkip.Direction];
                continue;
            }

            if (a.Family != PfFamily.Any && (a.Family == PfFamily.Inet6) != pd.V6)
            {
                i = r.Skip[PfSkip.Family];
                continue;
            }

            if (a.Protocol != 0 && a.Protocol != pd.Proto)
            {
                i = r.Skip[PfSkip.Proto];
                continue;
            }

            if (!AddrMatches(r.Src, pd.V6, pd.Src, ifp, inbound, pd.Length))
            {
                i = r.Skip[PfSkip.SrcAddr];
                continue;
            }

            if (a.Source.Port.Op != PfOp.None && (pd.Fragment || !PortMatches(a.Source.Port, pd.Sport) || pd.Proto is not (PfPacket.Tcp or PfPacket.Udp)))
            {
                i = r.Skip[PfSkip.SrcPort];
                continue;
            }

            if (!AddrMatches(r.Dst, pd.V6, pd.Dst, ifp, !inbound, pd.Length))
            {
                i = r.Skip[PfSkip.DstAddr];
                continue;
            }

            if (a.Destination.Port.Op != PfOp.None && (pd.Fragment || !PortMatches(a.Destination.Port, pd.Dport) || pd.Proto is not (PfPacket.Tcp or PfPacket.Udp)))
            {
                i = r.Skip[PfSkip.DstPort];
                continue;
            }

            if (!OtherMatches(r, ref pd, packet, ctx.Tag))
            {
                i++;
                continue;
            }

            if (r.TagId != 0)
            {
                ctx.Tag = r.TagId;
            }

            if (r.Anchor is not null)
            {
                var before = ctx.Rule;
                var list = a.Action switch
                {
                    PfAction.Nat => r.Anchor.Nat,
                    PfAction.Rdr => r.Anchor.Rdr,
                    PfAction.Binat => r.Anchor.Binat,
                    PfAction.Scrub => r.Anchor.Scrub,
                    _ => r.Anchor.Filter,
                };
                EvalRules(list, ifp, inbound, ref pd, packet, ref ctx, firstMatch, r);
                if (ctx.Quick || (a.Quick && ctx.Rule != before) || (firstMatch && ctx.Rule is not null))
                {
                    ctx.Quick = true;
                    return;
                }

                i++;
                continue;
            }

            if (a.Action == PfAction.Match)
            {
                // pf_test_rule: a match rule's actions apply now, and a match rule with log logs the packet now.
                ctx.Actions.Merge(r.Actions);
                if (a.Log.Enabled)
                {
                    LogPacket(packet, ifp, inbound, r, PfAction.Match, PfReason.Match, anchor);
                    if (a.Log.All)
                    {
                        ctx.LogAllMatches = ctx.LogAllMatches is null ? [r] : [.. ctx.LogAllMatches, r];
                    }
                }

                if (a.Quick)
                {
                    ctx.Quick = true;
                    return;
                }

                i++;
                continue;
            }

            ctx.Rule = r;
            ctx.Anchor = anchor;
            if (a.Quick || firstMatch)
            {
                ctx.Quick = true;
                return;
            }

            i++;
        }
    }

    private bool OtherMatches(PfRuleC r, ref PfPacket pd, Packet packet, ushort tag)
    {
        var a = r.Ast;
        if (pd.Fragment && (a.FlagSet != 0 || a.IcmpType != 0 || a.IcmpCode != 0))
        {
            return false;
        }

        if (a.FlagSet != 0 && pd.Proto == PfPacket.Tcp && (pd.TcpFlags & a.FlagSet) != a.Flags)
        {
            return false;
        }

        if (a.IcmpType != 0 && (pd.Proto is not (PfPacket.Icmp or PfPacket.Icmp6) || a.IcmpType != pd.IcmpType + 1))
        {
            return false;
        }

        if (a.IcmpCode != 0 && a.IcmpCode != pd.IcmpCode + 1)
        {
            return false;
        }

        if (a.Tos != 0 && a.Tos != pd.Tos)
        {
            return false;
        }

        if (a.Prio != 0)
        {
            // pf_match_ieee8021q_pcp: only a packet with an 802.1Q priority tag can match, and no packet here has one.
            return false;
        }

        if (r.TaggedId != 0)
        {
            var t = tag != 0 ? tag : packet.PfTag;
            if ((t == r.TaggedId) == a.TaggedNegated)
            {
                return false;
            }
        }

        if (a.Fragment && !pd.Fragment)
        {
            return false;
        }

        if (a.Probability != 0 && a.Probability != uint.MaxValue && (uint)_stack.Random.NextInt64(0, 1L << 32) > a.Probability)
        {
            return false;
        }

        return true;
    }

    internal static bool PortMatches(PfPortRange p, ushort port)
    {
        uint v = port, lo = p.Low, hi = p.High;
        return p.Op switch
        {
            PfOp.InclusiveRange => v > lo && v < hi,
            PfOp.ExclusiveRange => v < lo || v > hi,
            PfOp.Range => v >= lo && v <= hi,
            PfOp.Equal => v == lo,
            PfOp.NotEqual => v != lo,
            PfOp.Less => v < lo,
            PfOp.LessOrEqual => v <= lo,
            PfOp.Greater => v > lo,
            PfOp.GreaterOrEqual => v >= lo,
            _ => true,
        };
    }

    private bool AddrMatches(PfAddrC a, bool v6, UInt128 addr, NetworkInterface ifp, bool inbound, int bytes)
    {
        bool m;
        switch (a.Kind)
        {
            case PfAddrKind.AddrMask:
                if (a.Any)
                {
                    return !a.Negated;
                }

                m = a.V6 == v6 && (addr & a.Mask) == a.Addr;
                break;
            case PfAddrKind.Range:
                m = a.V6 == v6 && addr >= a.Addr && addr <= a.RangeEnd;
                break;
            case PfAddrKind.Table:
                m = a.Table!.Match(v6, addr, inbound, bytes);
                break;
            case PfAddrKind.DynamicInterface:
                m = DynamicMatches(a, v6, addr);
                break;
            case PfAddrKind.NoRoute:
                m = v6 ? _stack.Routes6.Lookup(ToV6(addr)) is null : _stack.Routes4.Lookup(new Sluice.Wire.IPv4Address((uint)addr)) is null;
                break;
            case PfAddrKind.UrpfFailed:
                m = UrpfFailed(v6, addr, ifp);
                break;
            default:
                m = false;
                break;
        }

        return m != a.Negated;
    }

    /// <summary>
    /// pf_routable with an interface (uRPF): the route back to <paramref name="addr"/> must leave through
    /// <paramref name="ifp"/>; no route at all fails too. Link-local IPv6 sources are scoped to the link and pass.
    /// </summary>
    private bool UrpfFailed(bool v6, UInt128 addr, NetworkInterface ifp)
    {
        int index;
        if (v6)
        {
            var a6 = ToV6(addr);
            if (a6.IsLinkLocal)
            {
                return false;
            }

            var r6 = _stack.Routes6.Lookup(a6);
            if (r6 is null)
            {
                return true;
            }

            index = r6.InterfaceIndex;
        }
        else
        {
            var r4 = _stack.Routes4.Lookup(new Sluice.Wire.IPv4Address((uint)addr));
            if (r4 is null)
            {
                return true;
            }

            index = r4.InterfaceIndex;
        }

        return index != ifp.Index;
    }

    internal static Sluice.Wire.IPv6Address ToV6(UInt128 a)
    {
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(b, a);
        return Sluice.Wire.IPv6Address.Read(b);
    }

    internal static UInt128 FromV6(Sluice.Wire.IPv6Address a) => ((UInt128)a.High << 64) | a.Low;

    /// <summary>(if), (if:network), (if:broadcast), (if:0) resolved against the interface's addresses now.</summary>
    private bool DynamicMatches(PfAddrC a, bool v6, UInt128 addr)
    {
        var ifp = a.Interface == "self" ? null : _stack.FindInterface(a.Interface!);
        if (ifp is null)
        {
            if (a.Interface == "self")
            {
                return v6 ? _stack.IsLocalAddress(ToV6(addr)) : _stack.IsLocalAddress(new Sluice.Wire.IPv4Address((uint)addr));
            }

            foreach (var other in _stack.Interfaces)
            {
                if (InterfaceMatches(other, a.Interface!) && DynamicOn(other, a, v6, addr))
                {
                    return true;
                }
            }

            return false;
        }

        return DynamicOn(ifp, a, v6, addr);
    }

    private static bool DynamicOn(NetworkInterface ifp, PfAddrC a, bool v6, UInt128 addr)
    {
        var network = (a.Modifiers & PfIfModifiers.Network) != 0;
        var bcast = (a.Modifiers & PfIfModifiers.Broadcast) != 0;
        var first = (a.Modifiers & PfIfModifiers.NoAlias) != 0;
        if (!v6)
        {
            foreach (var ia in ifp.IPv4Addresses)
            {
                var width = 32;
                var len = a.Prefix >= 0 ? a.Prefix : network ? ia.PrefixLength : width;
                var mask = len == 0 ? 0u : uint.MaxValue << (width - len);
                var target = bcast ? (ia.Broadcast?.Value ?? 0) : ia.Address.Value;
                if (((uint)addr & mask) == (target & mask))
                {
                    return true;
                }

                if (first)
                {
                    break;
                }
            }

            return false;
        }

        foreach (var ia in ifp.IPv6Addresses)
        {
            var len = a.Prefix >= 0 ? a.Prefix : network ? ia.PrefixLength : 128;
            var mask = len == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - len);
            if ((addr & mask) == (FromV6(ia.Address) & mask))
            {
                return true;
            }

            if (first)
            {
                break;
            }
        }

        return false;
    }
}
