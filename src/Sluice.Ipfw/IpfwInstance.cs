using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Sluice.Dummynet;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;
using Sluice.Stack.Sysctl;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Ipfw;

/// <summary>A dynamic rule (state) created by keep-state/limit.</summary>
public sealed class IpfwState
{
    internal IpfwState(IpfwRule rule, FlowId id, string name)
    {
        Rule = rule;
        Id = id;
        Name = name;
    }

    /// <summary>The parent rule.</summary>
    public IpfwRule Rule { get; }

    /// <summary>The flow as first seen (forward direction).</summary>
    public FlowId Id { get; }

    /// <summary>State name.</summary>
    public string Name { get; }

    /// <summary>Expiry (virtual ns).</summary>
    public long Expire { get; internal set; }

    /// <summary>Packets matched.</summary>
    public long Packets { get; internal set; }

    /// <summary>Bytes matched.</summary>
    public long Bytes { get; internal set; }

    internal int TcpSeen; // bit 0: SYN fwd, 1: SYN rev, 2: FIN/RST

    internal FlowId LimitKey;
}

/// <summary>
/// ipfw of one VNET: the static rule list (first match wins, rule 65535 is the default), dynamic states, tables and
/// counters, attached to the stack's pfil hooks; <c>pipe</c>/<c>queue</c> actions hand packets to dummynet.
/// </summary>
/// <remarks>Get it with <see cref="Of"/>. Runs on the stack's loop; a failed command changes nothing.</remarks>
public sealed partial class IpfwInstance : IPacketFilter, IDummynetClient
{
    /// <summary>The default rule number.</summary>
    public const int DefaultRule = 65535;

    private readonly NetStack _stack;
    private List<IpfwRule> _rules = [];
    private readonly IpfwRule _default;
    private readonly Dictionary<FlowId, IpfwState> _states = [];
    private readonly Dictionary<string, IpfwTable> _tables = new(StringComparer.Ordinal);
    private readonly SysctlInt _enable;
    private readonly SysctlInt _enable6;
    private readonly SysctlInt _onePass;
    private readonly SysctlInt _defaultToAccept;
    private readonly SysctlInt _autoincStep;
    private readonly SysctlInt _dynAck, _dynSyn, _dynFin, _dynRst, _dynUdp, _dynShort;
    private uint _disabledSets;
    private int _nextId = 1;
    private readonly SysctlInt _verbose;
    private readonly SysctlInt _verboseLimit;
    private readonly int[] _callStack = new int[16];

    private IpfwInstance(NetStack stack)
    {
        _stack = stack;
        var t = stack.Sysctl;
        _enable = t.AddInt("net.inet.ip.fw.enable", "Enable ipfw", 1, 0, 1);
        _enable6 = t.AddInt("net.inet6.ip6.fw.enable", "Enable ipfw+6", 1, 0, 1);
        _onePass = t.AddInt("net.inet.ip.fw.one_pass", "Only do a single pass through ipfw when using dummynet(4)", 1, 0, 1);
        _defaultToAccept = t.AddInt("net.inet.ip.fw.default_to_accept", "Make the default rule accept all packets.", 0, 0, 1);
        _autoincStep = t.AddInt("net.inet.ip.fw.autoinc_step", "Rule number auto-increment step", 100, 1, 1000);
        _verbose = t.AddInt("net.inet.ip.fw.verbose", "Log matches to ipfw rules", 0, 0, 1);
        _verboseLimit = t.AddInt("net.inet.ip.fw.verbose_limit", "Set upper limit of matches of ipfw rules logged", 0, 0, int.MaxValue);
        _dynAck = t.AddInt("net.inet.ip.fw.dyn_ack_lifetime", "Lifetime of dyn. rules for acks", 300, 1, 86400);
        _dynSyn = t.AddInt("net.inet.ip.fw.dyn_syn_lifetime", "Lifetime of dyn. rules for syn", 20, 1, 86400);
        _dynFin = t.AddInt("net.inet.ip.fw.dyn_fin_lifetime", "Lifetime of dyn. rules for fin", 1, 1, 86400);
        _dynRst = t.AddInt("net.inet.ip.fw.dyn_rst_lifetime", "Lifetime of dyn. rules for rst", 1, 1, 86400);
        _dynUdp = t.AddInt("net.inet.ip.fw.dyn_udp_lifetime", "Lifetime of dyn. rules for UDP", 10, 1, 86400);
        _dynShort = t.AddInt("net.inet.ip.fw.dyn_short_lifetime", "Lifetime of dyn. rules for other situations", 5, 1, 86400);
        t.AddComputed("net.inet.ip.fw.static_count", "Number of static rules", () => (_rules.Count + 1).ToString(CultureInfo.InvariantCulture));
        t.AddComputed("net.inet.ip.fw.dyn_count", "Number of dyn. rules", () => _states.Count.ToString(CultureInfo.InvariantCulture));
        _default = new IpfwRule(DefaultRule, 31, IpfwAction.Deny, []) { ProtocolText = "ip" };
        Dummynet = DummynetInstance.Of(stack);
        stack.Pfil.Add(this);
    }

    /// <summary>The ipfw of <paramref name="stack"/>, attached to its pfil hooks on first use.</summary>
    public static IpfwInstance Of(NetStack stack) => stack.Feature(static s => new IpfwInstance(s));

    /// <inheritdoc/>
    public string Name => "ipfw";

    /// <summary>The stack's dummynet.</summary>
    public DummynetInstance Dummynet { get; }

    /// <summary>Static rules in order, the default rule last.</summary>
    public IReadOnlyList<IpfwRule> Rules => [.. _rules, DefaultRuleView];

    private IpfwRule DefaultRuleView => _defaultToAccept.Value != 0 ? AcceptDefault : _default;

    private IpfwRule AcceptDefault => field ??= new IpfwRule(DefaultRule, 31, IpfwAction.Allow, []) { ProtocolText = "ip" };

    /// <summary>Live dynamic states.</summary>
    public IEnumerable<IpfwState> States => _states.Values.Distinct().Where(s => s.Expire > _stack.Loop.Now);

    /// <summary>Tables by name.</summary>
    public IReadOnlyDictionary<string, IpfwTable> Tables => _tables;

    /// <summary>Sets disabled with <c>set disable</c> (bit per set).</summary>
    public uint DisabledSets => _disabledSets;

    /// <summary>Adds <paramref name="rule"/> (number 0: last + autoinc_step); returns the number it got.</summary>
    public int Add(IpfwRule rule)
    {
        if (rule.Number == 0)
        {
            var last = _rules.Count > 0 ? _rules[^1].Number : 0;
            rule.Number = (int)Math.Min(last + _autoincStep.Value, DefaultRule - 1);
        }

        foreach (var m in rule.Matches)
        {
            if (m is AddressMatch am)
            {
                foreach (var a in am.Items)
                {
                    if (a.Kind == IpfwAddressKind.Table && !_tables.ContainsKey(a.Table!))
                    {
                        _tables[a.Table!] = new IpfwTable(a.Table!);
                    }
                }
            }
        }

        if (rule.Log && rule.LogAmount == 0)
        {
            // ipfw(8): without logamount, the limit is net.inet.ip.fw.verbose_limit when the rule is added (0: none).
            rule.LogAmount = (int)_verboseLimit.Value;
        }

        rule.Id = _nextId++;
        var list = new List<IpfwRule>(_rules);
        var index = list.FindLastIndex(r => r.Number <= rule.Number) + 1;
        list.Insert(index, rule);
        _rules = list;
        return rule.Number;
    }

    /// <summary>Deletes every rule numbered <paramref name="number"/>; false when none exists.</summary>
    public bool Delete(int number)
    {
        var list = _rules.Where(r => r.Number != number).ToList();
        if (list.Count == _rules.Count)
        {
            return false;
        }

        _rules = list;
        RemoveStatesOf(r => r.Number == number);
        return true;
    }

    /// <summary>Deletes every rule of set <paramref name="set"/>.</summary>
    public void DeleteSet(int set)
    {
        _rules = _rules.Where(r => r.Set != set).ToList();
        RemoveStatesOf(r => r.Set == set);
    }

    /// <summary>Removes every rule except the default, and all states (<c>ipfw -f flush</c>).</summary>
    public void Flush()
    {
        _rules = [];
        _states.Clear();
    }

    /// <summary>Zeroes counters of rule <paramref name="number"/> (all when null); false when it does not exist.</summary>
    public bool Zero(int? number, bool logOnly = false)
    {
        var found = false;
        foreach (var r in Rules)
        {
            if (number is null || r.Number == number)
            {
                found = true;
                if (!logOnly)
                {
                    r.Packets = r.Bytes = r.Timestamp = 0;
                }

                r.Logged = 0;
            }
        }

        return found;
    }

    /// <summary>set disable/enable.</summary>
    public void SetEnabled(int set, bool enabled) =>
        _disabledSets = enabled ? _disabledSets & ~(1u << set) : _disabledSets | (1u << set);

    /// <summary>set move N to S / set move rule N to S / set swap A B.</summary>
    public void MoveSet(int from, int to, bool swap)
    {
        foreach (var r in _rules)
        {
            if (r.Set == from)
            {
                r.Set = to;
            }
            else if (swap && r.Set == to)
            {
                r.Set = from;
            }
        }
    }

    /// <summary>set move rule N to S.</summary>
    public bool MoveRule(int number, int to)
    {
        var found = false;
        foreach (var r in _rules.Where(r => r.Number == number))
        {
            r.Set = to;
            found = true;
        }

        return found;
    }

    /// <summary>Creates a table; false when it exists.</summary>
    public bool CreateTable(string name)
    {
        if (_tables.ContainsKey(name))
        {
            return false;
        }

        _tables[name] = new IpfwTable(name);
        return true;
    }

    /// <summary>Destroys a table.</summary>
    public bool DestroyTable(string name) => _tables.Remove(name);

    internal bool TableLookup(string name, UInt128 address, bool ipv6) =>
        _tables.TryGetValue(name, out var t) && t.Lookup(address, ipv6, out _);

    private void RemoveStatesOf(Func<IpfwRule, bool> predicate)
    {
        foreach (var k in _states.Where(kv => predicate(kv.Value.Rule)).Select(kv => kv.Key).ToList())
        {
            _states.Remove(k);
        }
    }

    /// <summary>Formats <c>ipfw list</c>/<c>show</c> for rules (all, or those in <paramref name="ranges"/>).</summary>
    public string Format(bool counters, bool showSet, bool timestamps, bool dynamic, bool expired, IReadOnlyList<(int Low, int High)>? ranges, out bool anyListed)
    {
        var now = _stack.Loop.Now;
        var rules = Rules.Where(r => ranges is null || ranges.Count == 0 || ranges.Any(x => r.Number >= x.Low && r.Number <= x.High)).ToList();
        anyListed = rules.Count > 0;
        var states = dynamic ? _states.Values.Distinct().Where(s => expired || s.Expire > now).OrderBy(s => s.Rule.Number).ToList() : [];
        var pw = 0;
        var bw = 0;
        foreach (var r in rules)
        {
            pw = Math.Max(pw, Digits(r.Packets) + 1);
            bw = Math.Max(bw, Digits(r.Bytes) + 1);
        }

        foreach (var s in states)
        {
            pw = Math.Max(pw, Digits(s.Packets) + 1);
            bw = Math.Max(bw, Digits(s.Bytes) + 1);
        }

        var sb = new StringBuilder();
        foreach (var r in rules)
        {
            var disabled = r.Number != DefaultRule && (_disabledSets & (1u << r.Set)) != 0;
            if (disabled && !showSet)
            {
                continue;
            }

            if (disabled)
            {
                sb.Append("# DISABLED ");
            }

            sb.Append(r.Number.ToString("D5", CultureInfo.InvariantCulture)).Append(' ');
            if (counters)
            {
                sb.Append(r.Packets.ToString(CultureInfo.InvariantCulture).PadLeft(pw)).Append(' ');
                sb.Append(r.Bytes.ToString(CultureInfo.InvariantCulture).PadLeft(bw)).Append(' ');
            }

            if (timestamps)
            {
                sb.Append(r.Timestamp == 0 ? new string(' ', 25) : CTime(r.Timestamp) + " ");
            }

            sb.Append(r.FormatBody(showSet)).Append('\n');
        }

        if (dynamic && states.Count > 0)
        {
            sb.Append(ranges is { Count: > 0 } ? "## Dynamic rules:\n" : $"## Dynamic rules ({states.Count} {states.Count * 120}):\n");
            foreach (var s in states)
            {
                var left = Math.Max(0, (s.Expire - now + Nanos.PerSecond - 1) / Nanos.PerSecond);
                var id = s.Id;
                sb.Append(s.Rule.Number.ToString("D5", CultureInfo.InvariantCulture)).Append(' ');
                sb.Append(s.Packets.ToString(CultureInfo.InvariantCulture).PadLeft(pw)).Append(' ');
                sb.Append(s.Bytes.ToString(CultureInfo.InvariantCulture).PadLeft(bw)).Append(' ');
                sb.Append('(').Append(left).Append("s) ").Append(s.Rule.State is IpfwStateKind.Limit or IpfwStateKind.SetLimit ? "LIMIT " : "STATE ");
                sb.Append(DummynetInstance.ProtocolName(id.Protocol) ?? id.Protocol.ToString(CultureInfo.InvariantCulture)).Append(' ');
                sb.Append(Addr(id.Source, id.IsIPv6)).Append(' ').Append(id.SourcePort).Append(" <-> ");
                sb.Append(Addr(id.Destination, id.IsIPv6)).Append(' ').Append(id.DestinationPort).Append(" :").Append(s.Name).Append('\n');
            }
        }

        return sb.ToString();
    }

    private static string Addr(UInt128 a, bool v6) => v6 ? IpfwAddress.V6(a) : new IPv4Address((uint)a).ToString();

    private static int Digits(long v) => v.ToString(CultureInfo.InvariantCulture).Length;

    private static string CTime(long seconds)
    {
        var t = DateTime.UnixEpoch.AddSeconds(seconds);
        return string.Format(CultureInfo.InvariantCulture, "{0} {1} {2,2} {3:HH:mm:ss} {4}", t.DayOfWeek.ToString()[..3],
            CultureInfo.InvariantCulture.DateTimeFormat.GetAbbreviatedMonthName(t.Month), t.Day, t, t.Year);
    }

    /// <inheritdoc/>
    public PfilVerdict Filter(Packet packet, NetworkInterface ifp, PfilDirection direction, bool ipv6)
    {
        var cookie = packet.DummynetCookie;
        if (cookie != 0)
        {
            packet.DummynetCookie = 0;
        }

        if ((ipv6 ? _enable6.Value : _enable.Value) == 0)
        {
            return PfilVerdict.Pass;
        }

        var start = 0;
        if ((cookie & 0x8000_0000u) != 0)
        {
            // Back from a pipe (ip_dn_io.c dummynet_send): one_pass accepts, otherwise continue after the rule.
            if (_onePass.Value != 0)
            {
                return PfilVerdict.Pass;
            }

            var number = (int)((cookie >> 15) & 0xffff);
            var id = (int)(cookie & 0x7fff);
            start = ResumeIndex(_rules, number, id);
        }

        var ctx = new PacketContext
        {
            IPv6 = ipv6,
            Direction = direction,
            Interface = ifp,
            ReceiveInterfaceIndex = packet.ReceiveInterfaceIndex,
            Length = packet.Length,
            Stack = _stack,
            Ipfw = this,
            Tag = packet.IpfwTag,
            IcmpType = -1,
        };
        ReadContext(packet.Data, ref ctx);
        return Run(packet, ref ctx, start);
    }

    /// <summary>The rule after the one a packet left for a pipe (by number and id), or the first numbered above it.</summary>
    private static int ResumeIndex(List<IpfwRule> rules, int number, int id)
    {
        for (var i = 0; i < rules.Count; i++)
        {
            var r = rules[i];
            if (r.Number == number && (r.Id & 0x7fff) == id)
            {
                return i + 1;
            }

            if (r.Number > number)
            {
                return i;
            }
        }

        return rules.Count;
    }

    private static void ReadContext(ReadOnlySpan<byte> data, ref PacketContext ctx)
    {
        FlowId.TryRead(data, ctx.IPv6, out ctx.Id);
        if (!ctx.IPv6 && data.Length >= 20)
        {
            ctx.Ttl = data[8];
            var off = BinaryPrimitives.ReadUInt16BigEndian(data[6..]) & 0x1fff;
            ctx.Fragment = off != 0;
            var hlen = (data[0] & 0x0f) * 4;
            if (!ctx.Fragment && hlen >= 20 && data.Length >= hlen + 14 && ctx.Id.Protocol == 6)
            {
                ctx.TcpFlags = data[hlen + 13];
            }
            else if (!ctx.Fragment && hlen >= 20 && data.Length > hlen && ctx.Id.Protocol == 1)
            {
                ctx.IcmpType = data[hlen];
            }
        }
        else if (ctx.IPv6 && data.Length >= 40)
        {
            ctx.Ttl = data[7];
            if (ctx.Id.Protocol == 6 && data[6] == 6 && data.Length >= 54)
            {
                ctx.TcpFlags = data[53];
            }
            else if (ctx.Id.Protocol == 58 && data[6] == 58 && data.Length > 40)
            {
                ctx.IcmpType = data[40];
            }
        }
    }

    private PfilVerdict Run(Packet packet, ref PacketContext ctx, int start)
    {
        var rules = _rules;
        var depth = 0;
        var now = _stack.Loop.Now;
        var stateChecked = false;
        for (var i = start; i <= rules.Count; i++)
        {
            var rule = i < rules.Count ? rules[i] : DefaultRuleView;
            if (rule.Number != DefaultRule && (_disabledSets & (1u << rule.Set)) != 0)
            {
                continue;
            }

            if (rule.Probability < 1 && _stack.Random.NextDouble() >= rule.Probability)
            {
                continue;
            }

            if (!Matches(rule, ref ctx))
            {
                continue;
            }

            var effective = rule;
            IpfwState? state = null;
            if (rule.Action == IpfwAction.CheckState || (rule.State is IpfwStateKind.KeepState or IpfwStateKind.Limit && !stateChecked))
            {
                // The first check-state or keep-state looks the packet up in the dynamic table (O_PROBE_STATE).
                stateChecked = true;
                state = LookupState(ref ctx, now);
                if (state is not null)
                {
                    effective = state.Rule;
                }
                else if (rule.Action == IpfwAction.CheckState)
                {
                    continue;
                }
            }

            if (state is null && rule.State != IpfwStateKind.None)
            {
                if (!CreateState(rule, ref ctx, now))
                {
                    // limit exceeded: the packet is dropped.
                    Count(rule, ref ctx, now);
                    return PfilVerdict.Drop;
                }
            }

            Count(effective, ref ctx, now);
            if (effective.Log)
            {
                LogPacket(packet, ref ctx, effective);
            }

            if (effective.Tag != 0)
            {
                packet.IpfwTag = effective.Tag > 0 ? (ushort)effective.Tag : ctx.Tag == -effective.Tag ? (ushort)0 : packet.IpfwTag;
                ctx.Tag = packet.IpfwTag;
            }

            switch (effective.Action)
            {
                case IpfwAction.Allow:
                    return PfilVerdict.Pass;
                case IpfwAction.Fwd:
                    return Forward(packet, ref ctx, effective);
                case IpfwAction.Nat:
                    if (!RunNat(effective.Argument, packet, ref ctx))
                    {
                        return PfilVerdict.Drop;
                    }

                    if (_onePass.Value != 0)
                    {
                        return PfilVerdict.Pass;
                    }

                    // ip_fw_pfil.c: without one_pass the translated packet goes on at the next rule.
                    ReadContext(packet.Data, ref ctx);
                    continue;
                case IpfwAction.Deny:
                    return PfilVerdict.Drop;
                case IpfwAction.Reset:
                    SendReset(packet, ref ctx);
                    return PfilVerdict.Drop;
                case IpfwAction.Reject or IpfwAction.Unreach:
                    SendUnreachable(packet, ref ctx, effective.Action == IpfwAction.Reject ? 1 : effective.Argument);
                    return PfilVerdict.Drop;
                case IpfwAction.Unreach6:
                    SendUnreachable6(packet, ref ctx, effective.Argument);
                    return PfilVerdict.Drop;
                case IpfwAction.Count or IpfwAction.SetFib or IpfwAction.CheckState:
                    continue;
                case IpfwAction.Skipto:
                    i = NextIndex(rules, effective.Argument, i) - 1;
                    continue;
                case IpfwAction.Call:
                    if (depth >= _callStack.Length)
                    {
                        return PfilVerdict.Drop;
                    }

                    _callStack[depth++] = i;
                    i = NextIndex(rules, effective.Argument, i) - 1;
                    continue;
                case IpfwAction.Return:
                    if (depth > 0)
                    {
                        i = _callStack[--depth];
                    }

                    continue;
                default:
                    {
                        var isQueue = effective.Action == IpfwAction.Queue;
                        var info = new DnPacketInfo(ctx.Direction, ctx.Interface.Index, ctx.IPv6,
                            0x8000_0000u | ((uint)rule.Number << 15) | ((uint)rule.Id & 0x7fff));
                        Dummynet.Enqueue(effective.Argument, isQueue, packet, info, this);
                        return PfilVerdict.Consumed;
                    }
            }
        }

        return PfilVerdict.Drop;
    }

    private static int NextIndex(List<IpfwRule> rules, int target, int current)
    {
        // skipto/call go forward only: a target at or before the current rule means the next rule.
        for (var j = current + 1; j < rules.Count; j++)
        {
            if (rules[j].Number >= target)
            {
                return j;
            }
        }

        return rules.Count;
    }

    private static bool Matches(IpfwRule rule, ref PacketContext ctx)
    {
        var p = rule.ProtocolNumber;
        if (p >= 0 && !rule.JustOptions || (rule.JustOptions && p >= 0))
        {
            var ok = p == 256 ? !ctx.IPv6 : p == 257 ? ctx.IPv6 : ctx.Id.Protocol == p;
            if (!ok)
            {
                return false;
            }
        }

        var ms = rule.Matches;
        var orResult = false;
        for (var k = 0; k < ms.Count; k++)
        {
            var m = ms[k];
            var r = m.Evaluate(ref ctx) ^ m.Not;
            if (m.OrNext)
            {
                orResult |= r;
                continue;
            }

            if (!(r || orResult))
            {
                return false;
            }

            orResult = false;
        }

        return true;
    }

    private void Count(IpfwRule rule, ref PacketContext ctx, long now)
    {
        rule.Packets++;
        rule.Bytes += ctx.Length;
        rule.Timestamp = now / Nanos.PerSecond;
    }

    private static FlowId Reverse(in FlowId id) => new()
    {
        Source = id.Destination,
        Destination = id.Source,
        SourcePort = id.DestinationPort,
        DestinationPort = id.SourcePort,
        Protocol = id.Protocol,
        IsIPv6 = id.IsIPv6,
    };

    private static FlowId Key(in FlowId id) => new()
    {
        Source = id.Source,
        Destination = id.Destination,
        SourcePort = id.SourcePort,
        DestinationPort = id.DestinationPort,
        Protocol = id.Protocol,
        IsIPv6 = id.IsIPv6,
    };

    private IpfwState? LookupState(ref PacketContext ctx, long now)
    {
        var key = Key(ctx.Id);
        var forward = true;
        if (!_states.TryGetValue(key, out var s))
        {
            forward = false;
            if (!_states.TryGetValue(Reverse(key), out s))
            {
                return null;
            }
        }

        if (s.Expire <= now)
        {
            _states.Remove(Key(s.Id));
            return null;
        }

        s.Packets++;
        s.Bytes += ctx.Length;
        UpdateLifetime(s, ref ctx, forward, now);
        return s;
    }

    private void UpdateLifetime(IpfwState s, ref PacketContext ctx, bool forward, long now)
    {
        long lifetime;
        if (ctx.Id.Protocol == 6)
        {
            var f = ctx.TcpFlags;
            if ((f & 0x02) != 0)
            {
                s.TcpSeen |= forward ? 1 : 2;
            }

            if ((f & 0x05) != 0)
            {
                s.TcpSeen |= 4;
            }

            lifetime = (s.TcpSeen & 4) != 0 ? ((f & 0x04) != 0 ? _dynRst.Value : _dynFin.Value)
                : (s.TcpSeen & 3) == 3 ? _dynAck.Value : _dynSyn.Value;
        }
        else
        {
            lifetime = ctx.Id.Protocol == 17 ? _dynUdp.Value : _dynShort.Value;
        }

        s.Expire = now + (lifetime * Nanos.PerSecond);
    }

    private bool CreateState(IpfwRule rule, ref PacketContext ctx, long now)
    {
        var key = Key(ctx.Id);
        var s = new IpfwState(rule, key, rule.StateName);
        if (rule.State is IpfwStateKind.Limit or IpfwStateKind.SetLimit)
        {
            var lm = rule.LimitMask;
            s.LimitKey = new FlowId
            {
                Source = (lm & IpfwLimitMask.SrcAddr) != 0 ? key.Source : 0,
                Destination = (lm & IpfwLimitMask.DstAddr) != 0 ? key.Destination : 0,
                SourcePort = (lm & IpfwLimitMask.SrcPort) != 0 ? key.SourcePort : (ushort)0,
                DestinationPort = (lm & IpfwLimitMask.DstPort) != 0 ? key.DestinationPort : (ushort)0,
            };
            var count = _states.Values.Count(x => x.Rule == rule && x.Expire > now && x.LimitKey == s.LimitKey);
            if (count >= rule.LimitCount)
            {
                return false;
            }
        }

        s.Packets = 1;
        s.Bytes = ctx.Length;
        UpdateLifetime(s, ref ctx, true, now);
        _states[key] = s;
        return true;
    }

    /// <summary>ICMP destination unreachable back to the source (send_reject in ip_fw2.c).</summary>
    private void SendUnreachable(Packet packet, ref PacketContext ctx, int code)
    {
        if (ctx.IPv6 || ctx.Fragment || ctx.Id.Protocol == 1 && ctx.IcmpType is not (0 or 8 or 13 or 15 or 17))
        {
            return;
        }

        var data = packet.Data;
        var hlen = (data[0] & 0x0f) * 4;
        var quote = Math.Min(data.Length, hlen + 8);
        var source = _stack.IsLocalAddress(new IPv4Address(ctx.Id.Destination4)) ? new IPv4Address(ctx.Id.Destination4) : ctx.Interface.PrimaryIPv4?.Address;
        if (source is null)
        {
            return;
        }

        var reply = _stack.Pool.Rent(8 + quote);
        var icmp = reply.Data;
        icmp.Clear();
        icmp[0] = 3;
        icmp[1] = (byte)code;
        data[..quote].CopyTo(icmp[8..]);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum.Fold(Checksum.Add(icmp)));
        _stack.OutputIPv4(reply, source.Value, new IPv4Address(ctx.Id.Source4), IPProtocol.Icmp);
    }

    /// <summary>Continues a packet that left a pipe: back into the hook that took it (<see cref="NetStack.Reinject"/>).</summary>
    /// <remarks>The dummynet cookie tells <see cref="Filter"/> which rule the packet left from. Takes ownership.</remarks>
    public void Reinject(Packet packet, in DnPacketInfo info)
    {
        var ifp = _stack.InterfaceByIndex(info.InterfaceIndex);
        if (ifp is null)
        {
            packet.Release();
            return;
        }

        // ip_dn_io.c dummynet_send: back into the hook that took the packet; ipfw sees the cookie and either accepts
        // (one_pass) or continues after the pipe's rule, then the remaining hooks and the stack carry on.
        packet.DummynetCookie = info.Cookie;
        _stack.Reinject(packet, ifp, info.Direction, info.IPv6, this, rerunFilter: true);
    }
}

/// <summary>An address table (<c>ipfw table NAME create</c>).</summary>
public sealed class IpfwTable(string name)
{
    private readonly List<(UInt128 Address, int Length, bool V6, uint Value)> _entries = [];

    /// <summary>Name.</summary>
    public string Name { get; } = name;

    /// <summary>Entries (address, prefix length, family, value).</summary>
    public IReadOnlyList<(UInt128 Address, int Length, bool V6, uint Value)> Entries => _entries;

    /// <summary>Adds an entry; false when it exists.</summary>
    public bool Add(UInt128 address, int length, bool v6, uint value)
    {
        if (_entries.Any(e => e.Address == address && e.Length == length && e.V6 == v6))
        {
            return false;
        }

        _entries.Add((address, length, v6, value));
        _entries.Sort((a, b) => a.V6 != b.V6 ? a.V6.CompareTo(b.V6) : a.Address != b.Address ? a.Address.CompareTo(b.Address) : a.Length.CompareTo(b.Length));
        return true;
    }

    /// <summary>Deletes an entry; false when absent.</summary>
    public bool Delete(UInt128 address, int length, bool v6) => _entries.RemoveAll(e => e.Address == address && e.Length == length && e.V6 == v6) > 0;

    /// <summary>Removes every entry.</summary>
    public void Flush() => _entries.Clear();

    /// <summary>Longest-prefix lookup.</summary>
    public bool Lookup(UInt128 address, bool v6, out uint value)
    {
        value = 0;
        var best = -1;
        foreach (var e in _entries)
        {
            if (e.V6 != v6 || e.Length <= best)
            {
                continue;
            }

            var match = v6 ? ((address ^ e.Address) & AddressMatch.Mask128(e.Length)) == 0
                : (((uint)address ^ (uint)e.Address) & AddressMatch.Mask32(e.Length)) == 0;
            if (match)
            {
                best = e.Length;
                value = e.Value;
            }
        }

        return best >= 0;
    }
}
