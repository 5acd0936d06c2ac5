using System.Collections.Immutable;
using System.Globalization;

namespace Sluice.Pf.Config;

public sealed partial class PfParser
{
    /// <summary>A rule before list expansion.</summary>
    private sealed class RuleSpec
    {
        public PfRule Rule = new();
        public List<(string? Name, bool Not)> Interfaces = [(null, false)];
        public List<int> Protos = [0];
        public List<HostNode> Src = [AnyHost];
        public List<HostNode> Dst = [AnyHost];
        public List<PfPortRange> SrcPorts = [PfPortRange.None];
        public List<PfPortRange> DstPorts = [PfPortRange.None];
        public List<PfPortRange> Uids = [PfPortRange.None];
        public List<PfPortRange> Gids = [PfPortRange.None];
        public List<(int Type, int Code, bool V6)> Icmp = [(0, 0, false)];
        public List<HostNode>? RouteHosts;
        public List<HostNode>? NatHosts;
        public List<HostNode>? RdrHosts;
        public PfPool NatPoolOpts = PfPool.Empty;
        public PfPool RdrPoolOpts = PfPool.Empty;
        public PfPool RoutePoolOpts = PfPool.Empty;
        public bool StateSpecified;
        public bool FlagsSpecified;
        public bool BlockPolicySpecified;
        public int Line;
    }

    private static readonly ImmutableArray<PfPoolAddr> NoAddrs = ImmutableArray<PfPoolAddr>.Empty;

    private void FilterRule(RulesetBuilder rs)
    {
        var spec = new RuleSpec { Line = T.Line };
        var r = spec.Rule;
        var action = Advance().Text;
        r = r with { Action = action == "pass" ? PfAction.Pass : action == "block" ? PfAction.Block : PfAction.Match };
        if (r.Action == PfAction.Block)
        {
            r = BlockSpec(r, spec);
        }

        spec.Rule = r;
        RuleHead(spec, allowRoute: true);
        FilterOpts(spec);
        AddExpanded(rs, spec);
    }

    private PfRule BlockSpec(PfRule r, RuleSpec spec)
    {
        if (Accept("drop"))
        {
            spec.BlockPolicySpecified = true;
            return r with { BlockPolicy = PfBlockPolicy.Drop };
        }

        if (Accept("return"))
        {
            spec.BlockPolicySpecified = true;
            return r with { BlockPolicy = PfBlockPolicy.Return };
        }

        if (Accept("return-rst"))
        {
            spec.BlockPolicySpecified = true;
            var ttl = 0;
            if (AcceptPunct("("))
            {
                Expect("ttl");
                ttl = (int)ExpectNumber(255);
                ExpectPunct(")");
            }

            return r with { BlockPolicy = PfBlockPolicy.ReturnRst, ReturnTtl = ttl };
        }

        if (Accept("return-icmp"))
        {
            spec.BlockPolicySpecified = true;
            int c4 = (3 << 8) | 3, c6 = (1 << 8) | 4;
            if (AcceptPunct("("))
            {
                c4 = IcmpReturnCode(false);
                if (AcceptPunct(","))
                {
                    c6 = IcmpReturnCode(true);
                }

                ExpectPunct(")");
            }

            return r with { BlockPolicy = PfBlockPolicy.ReturnIcmp, ReturnIcmp = c4, ReturnIcmp6 = c6 };
        }

        if (Accept("return-icmp6"))
        {
            spec.BlockPolicySpecified = true;
            var c6 = (1 << 8) | 4;
            if (AcceptPunct("("))
            {
                c6 = IcmpReturnCode(true);
                ExpectPunct(")");
            }

            return r with { BlockPolicy = PfBlockPolicy.ReturnIcmp, ReturnIcmp = (3 << 8) | 3, ReturnIcmp6 = c6, Family = PfFamily.Any };
        }

        return r with { BlockPolicy = PfBlockPolicy.Default };
    }

    private int IcmpReturnCode(bool v6)
    {
        var type = v6 ? 1 : 3;
        if (!T.IsString)
        {
            throw Syntax();
        }

        var line = T.Line;
        var s = Advance().Text;
        if (s.All(char.IsAsciiDigit) && s.Length > 0)
        {
            var v = ParseUInt(s, out var ok);
            if (!ok || v > 255)
            {
                throw Fail($"illegal icmp-code {s}", line);
            }

            return (type << 8) | (int)v;
        }

        var code = PfNames.IcmpCode(type, s, v6);
        if (code < 0)
        {
            throw Fail($"unknown icmp-code {s}", line);
        }

        return (type << 8) | code;
    }

    /// <summary><c>[in|out] [log] [quick] [on if] [route] [af] [proto] [fromto]</c>.</summary>
    private void RuleHead(RuleSpec spec, bool allowRoute, bool allowDirection = true)
    {
        var r = spec.Rule;
        if (allowDirection)
        {
            if (Accept("in"))
            {
                r = r with { Direction = PfDirection.In };
            }
            else if (Accept("out"))
            {
                r = r with { Direction = PfDirection.Out };
            }
        }

        while (true)
        {
            if (T.Is("log"))
            {
                r = r with { Log = LogOpts() };
            }
            else if (Accept("quick"))
            {
                r = r with { Quick = true };
            }
            else
            {
                break;
            }
        }

        spec.Rule = r;
        Interfaces(spec);
        if (allowRoute)
        {
            Route(spec);
        }

        Af(spec);
        Protos(spec);
        FromTo(spec);
    }

    private PfLog LogOpts()
    {
        Expect("log");
        var log = new PfLog(true, false, false, false, 0);
        if (AcceptPunct("("))
        {
            while (true)
            {
                if (Accept("all"))
                {
                    log = log with { All = true };
                }
                else if (Accept("user"))
                {
                    log = log with { User = true };
                }
                else if (Accept("matches"))
                {
                    log = log with { Matches = true };
                }
                else if (Accept("to"))
                {
                    var ifn = ExpectString();
                    if (!ifn.StartsWith("pflog", StringComparison.Ordinal) || !int.TryParse(ifn.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var unit))
                    {
                        throw Fail($"{ifn}: invalid log interface");
                    }

                    log = log with { Interface = unit };
                }
                else
                {
                    throw Syntax();
                }

                if (!AcceptPunct(","))
                {
                    break;
                }
            }

            ExpectPunct(")");
        }

        return log;
    }

    private void Interfaces(RuleSpec spec)
    {
        if (!Accept("on"))
        {
            return;
        }

        if (AcceptPunct("{"))
        {
            var list = new List<(string?, bool)>();
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                list.Add(IfItem());
                SkipComma();
                if (T.Kind == PfTokenKind.Eof)
                {
                    throw Syntax();
                }
            }

            Advance();
            spec.Interfaces = list.Count == 0 ? throw Syntax() : list;
            return;
        }

        spec.Interfaces = [IfItem()];
    }

    private (string?, bool) IfItem()
    {
        var not = AcceptPunct("!");
        var name = ExpectString();
        if (name == "any" && !not)
        {
            return (null, false);
        }

        if (name.Length >= 16)
        {
            throw Fail($"interface name too long");
        }

        return (name, not);
    }

    private void Route(RuleSpec spec)
    {
        PfRouteType rt;
        if (Accept("route-to"))
        {
            rt = PfRouteType.RouteTo;
        }
        else if (Accept("reply-to"))
        {
            rt = PfRouteType.ReplyTo;
        }
        else if (Accept("dup-to"))
        {
            rt = PfRouteType.DupTo;
        }
        else
        {
            return;
        }

        var hosts = new List<HostNode>();
        if (AcceptPunct("{"))
        {
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                hosts.Add(RouteHost());
                SkipComma();
                if (T.Kind == PfTokenKind.Eof)
                {
                    throw Syntax();
                }
            }

            Advance();
        }
        else
        {
            hosts.Add(RouteHost());
        }

        spec.RouteHosts = hosts;
        spec.RoutePoolOpts = PoolOpts(PfPool.Empty);
        spec.Rule = spec.Rule with { Route = rt };
        if (Accept("prefer-ipv6-nexthop"))
        {
            spec.Rule = spec.Rule with { PreferIpv6NextHop = true };
        }
    }

    private HostNode RouteHost()
    {
        if (AcceptPunct("("))
        {
            var ifn = ExpectString();
            if (AcceptPunct(")"))
            {
                return new HostNode(PfAddr.Any, false, PfFamily.Any, ifn);
            }

            var hosts = Host();
            ExpectPunct(")");
            if (hosts.Count != 1)
            {
                throw Fail("route-to requires a single address per interface");
            }

            return hosts[0] with { Interface = ifn };
        }

        var name = ExpectString();
        return new HostNode(PfAddr.Any, false, PfFamily.Any, name);
    }

    private void Af(RuleSpec spec)
    {
        if (Accept("inet"))
        {
            spec.Rule = spec.Rule with { Family = PfFamily.Inet };
        }
        else if (Accept("inet6"))
        {
            spec.Rule = spec.Rule with { Family = PfFamily.Inet6 };
        }
    }

    private void Protos(RuleSpec spec)
    {
        if (!Accept("proto"))
        {
            return;
        }

        var list = new List<int>();
        if (AcceptPunct("{"))
        {
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                list.Add(ProtoItem());
                SkipComma();
                if (T.Kind == PfTokenKind.Eof)
                {
                    throw Syntax();
                }
            }

            Advance();
            if (list.Count == 0)
            {
                throw Syntax();
            }
        }
        else
        {
            list.Add(ProtoItem());
        }

        spec.Protos = list;
    }

    private int ProtoItem()
    {
        if (!T.IsString)
        {
            throw Syntax();
        }

        var line = T.Line;
        var s = Advance().Text;
        if (s.Length > 0 && s.All(char.IsAsciiDigit))
        {
            var v = ParseUInt(s, out var ok);
            if (!ok || v > 255)
            {
                throw Fail($"protocol outside range", line);
            }

            if (v == 0)
            {
                throw Fail("protocol 0 is not allowed", line);
            }

            return (int)v;
        }

        var p = PfNames.ProtocolNumber(s);
        if (p <= 0 || p > 255)
        {
            throw Fail($"unknown protocol {s}", line);
        }

        return p;
    }

    private void FromTo(RuleSpec spec)
    {
        if (Accept("all"))
        {
            return;
        }

        if (Accept("from"))
        {
            if (!T.Is("port"))
            {
                spec.Src = IpSpec();
            }

            if (Accept("port"))
            {
                spec.SrcPorts = PortSpec();
            }

            if (Accept("os"))
            {
                var os = ExpectString();
                spec.Rule = spec.Rule with { OsFingerprint = os == "any" ? null : os };
            }
        }

        if (Accept("to"))
        {
            if (!T.Is("port"))
            {
                spec.Dst = IpSpec();
            }

            if (Accept("port"))
            {
                spec.DstPorts = PortSpec();
            }
        }
    }

    private void FilterOpts(RuleSpec spec)
    {
        var r = spec.Rule;
        while (!AtEndOfStatement && !T.IsPunct("{"))
        {
            var t = T;
            if (t.Kind == PfTokenKind.Punct && t.Text == "!")
            {
                Advance();
                Expect("tagged");
                r = r with { Tagged = ExpectString(), TaggedNegated = true };
                continue;
            }

            if (t.Kind != PfTokenKind.Word)
            {
                throw Syntax();
            }

            switch (t.Text)
            {
                case "user":
                    Advance();
                    spec.Uids = IdSpec(true);
                    break;
                case "group":
                    Advance();
                    spec.Gids = IdSpec(false);
                    break;
                case "flags":
                    Advance();
                    spec.FlagsSpecified = true;
                    r = Flags(r);
                    break;
                case "icmp-type" or "icmp6-type":
                    Advance();
                    spec.Icmp = IcmpSpec(t.Text == "icmp6-type");
                    break;
                case "tos":
                    Advance();
                    r = r with { Tos = Tos() };
                    break;
                case "dscp":
                    Advance();
                    r = r with { Tos = (int)ExpectNumber(63) << 2 };
                    break;
                case "keep" or "modulate" or "synproxy":
                    Advance();
                    Expect("state");
                    spec.StateSpecified = true;
                    r = r with
                    {
                        KeepState = t.Text == "keep" ? PfKeepState.Normal : t.Text == "modulate" ? PfKeepState.Modulate : PfKeepState.Synproxy,
                    };
                    if (T.IsPunct("("))
                    {
                        r = r with { StateOptions = StateOpts() };
                    }

                    break;
                case "no":
                    Advance();
                    Expect("state");
                    spec.StateSpecified = true;
                    r = r with { KeepState = PfKeepState.None };
                    break;
                case "fragment":
                    Advance();
                    r = r with { Fragment = true };
                    break;
                case "allow-opts":
                    Advance();
                    r = r with { AllowOpts = true };
                    break;
                case "once":
                    Advance();
                    r = r with { Once = true };
                    break;
                case "label":
                    Advance();
                    var label = ExpectString();
                    if (label.Length >= 64)
                    {
                        throw Fail("rule label too long (max 63 chars)");
                    }

                    if (r.Labels.Length >= 5)
                    {
                        throw Fail("Too many labels");
                    }

                    r = r with { Labels = r.Labels.Add(label) };
                    break;
                case "state" or "source" when Peek(1).Is("limiter"):
                    {
                        var isSource = t.Text == "source";
                        var (lid, lact) = LimiterRef();
                        r = isSource ? r with { SourceLimiter = lid, SourceLimiterAction = lact } : r with { StateLimiter = lid, StateLimiterAction = lact };
                        break;
                    }

                case "ridentifier":
                    Advance();
                    r = r with { Ridentifier = ExpectNumber() };
                    break;
                case "queue":
                    Advance();
                    if (AcceptPunct("("))
                    {
                        var q1 = ExpectString();
                        string? q2 = null;
                        if (AcceptPunct(","))
                        {
                            q2 = ExpectString();
                        }

                        ExpectPunct(")");
                        r = r with { Queue = q1, PriorityQueue = q2 };
                    }
                    else
                    {
                        r = r with { Queue = ExpectString() };
                    }

                    break;
                case "tag":
                    Advance();
                    r = r with { Tag = ExpectString() };
                    break;
                case "tagged":
                    Advance();
                    r = r with { Tagged = ExpectString() };
                    break;
                case "probability":
                    Advance();
                    r = r with { Probability = Probability() };
                    break;
                case "rtable":
                    Advance();
                    r = r with { Rtable = (int)ExpectNumber(65535) };
                    break;
                case "divert-to":
                    Advance();
                    if (IsNumber(T) && !Peek(1).Is("port"))
                    {
                        // FreeBSD's divert(4) form: divert-to <port>.
                        var (dp, _, _) = PortRange(false);
                        r = r with { DivertPort = dp };
                    }
                    else
                    {
                        var h = Host();
                        _ = h;
                        Expect("port");
                        var (p, _, _) = PortRange(false);
                        r = r with { DivertPort = p };
                    }

                    break;
                case "divert-reply":
                    Advance();
                    break;
                case "received-on":
                    Advance();
                    r = r with { ReceivedOn = ExpectString() };
                    break;
                case "prio":
                    Advance();
                    r = r with { Prio = (int)ExpectNumber(7) + 1 };
                    break;
                case "set":
                    Advance();
                    r = SetOpts(r);
                    break;
                case "max-pkt-rate":
                    Advance();
                    r = r with { MaxPktRate = Rate() };
                    break;
                case "max-pkt-size":
                    Advance();
                    r = r with { MaxPktSize = ExpectNumber(65535) };
                    break;
                case "dnpipe" or "dnqueue":
                    Advance();
                    if (AcceptPunct("("))
                    {
                        var a = (int)ExpectNumber(65535);
                        ExpectPunct(",");
                        var b = (int)ExpectNumber(65535);
                        ExpectPunct(")");
                        r = r with { DnPipe = a, DnRPipe = b, DnIsPipe = t.Text == "dnpipe" };
                    }
                    else
                    {
                        r = r with { DnPipe = (int)ExpectNumber(65535), DnIsPipe = t.Text == "dnpipe" };
                    }

                    break;
                case "scrub":
                    Advance();
                    r = r with { Scrub = ScrubOpts(r.Scrub, parenthesized: true) };
                    break;
                case "nat-to":
                    Advance();
                    spec.NatHosts = RedirSpec();
                    spec.NatPoolOpts = RedirPorts(PfPool.Empty, nat: true);
                    spec.NatPoolOpts = PoolOpts(spec.NatPoolOpts);
                    break;
                case "rdr-to":
                    Advance();
                    spec.RdrHosts = RedirSpec();
                    spec.RdrPoolOpts = RedirPorts(PfPool.Empty, nat: false);
                    spec.RdrPoolOpts = PoolOpts(spec.RdrPoolOpts);
                    break;
                case "af-to":
                    Advance();
                    {
                        var af = Accept("inet") ? PfFamily.Inet : Accept("inet6") ? PfFamily.Inet6 : throw Syntax();
                        Expect("from");
                        spec.NatHosts = RedirSpec();
                        spec.NatPoolOpts = PoolOpts(PfPool.Empty);
                        if (Accept("to"))
                        {
                            spec.RdrHosts = RedirSpec();
                            spec.RdrPoolOpts = PoolOpts(PfPool.Empty);
                        }

                        r = r with { AfTo = af };
                    }

                    break;
                default:
                    throw Syntax();
            }
        }

        spec.Rule = r;
    }

    private PfRule Flags(PfRule r)
    {
        if (Accept("any"))
        {
            return r with { Flags = 0, FlagSet = 0 };
        }

        byte f = 0;
        if (!T.IsPunct("/"))
        {
            f = ParseFlags(ExpectString());
        }

        ExpectPunct("/");
        var set = ParseFlags(ExpectString());
        if ((f & ~set) != 0)
        {
            throw Fail("flags always false");
        }

        return r with { Flags = f, FlagSet = set };
    }

    private byte ParseFlags(string s)
    {
        byte f = 0;
        foreach (var c in s)
        {
            var i = "FSRPAUEW".IndexOf(c, StringComparison.Ordinal);
            if (i < 0)
            {
                throw Fail("bad flags");
            }

            f |= (byte)(1 << i);
        }

        return f == 0 ? (byte)0xFF : f;
    }

    private List<(int, int, bool)> IcmpSpec(bool v6)
    {
        var list = new List<(int, int, bool)>();
        if (AcceptPunct("{"))
        {
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                list.Add(IcmpItem(v6));
                SkipComma();
                if (T.Kind == PfTokenKind.Eof)
                {
                    throw Syntax();
                }
            }

            Advance();
            return list.Count == 0 ? throw Syntax() : list;
        }

        list.Add(IcmpItem(v6));
        return list;
    }

    private (int, int, bool) IcmpItem(bool v6)
    {
        var line = T.Line;
        var s = ExpectString();
        int type;
        if (s.Length > 0 && s.All(char.IsAsciiDigit))
        {
            var v = ParseUInt(s, out var ok);
            if (!ok || v > 255)
            {
                throw Fail($"illegal icmp-type {s}", line);
            }

            type = (int)v;
        }
        else
        {
            type = PfNames.IcmpType(s, v6);
            if (type < 0)
            {
                throw Fail($"unknown icmp-type {s}", line);
            }
        }

        var code = 0;
        if (Accept("code"))
        {
            var cs = ExpectString();
            if (cs.Length > 0 && cs.All(char.IsAsciiDigit))
            {
                var v = ParseUInt(cs, out var ok);
                if (!ok || v > 255)
                {
                    throw Fail($"illegal icmp-code {cs}", line);
                }

                code = (int)v + 1;
            }
            else
            {
                var c = PfNames.IcmpCode(type, cs, v6);
                if (c < 0)
                {
                    throw Fail($"unknown icmp-code {cs}", line);
                }

                code = c + 1;
            }
        }

        return (type + 1, code, v6);
    }

    private int Tos()
    {
        var line = T.Line;
        var s = ExpectString();
        switch (s)
        {
            case "lowdelay":
                return 0x10;
            case "throughput":
                return 0x08;
            case "reliability":
                return 0x04;
        }

        var v = ParseUInt(s, out var ok);
        if (!ok || v > 255)
        {
            throw Fail($"illegal tos value {s}", line);
        }

        return (int)v;
    }

    private uint Probability()
    {
        var line = T.Line;
        var s = ExpectString();
        var percent = false;
        if (AcceptPunct("%"))
        {
            percent = true;
        }

        if (s.EndsWith('%'))
        {
            s = s[..^1];
            percent = true;
        }

        if (!double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var p))
        {
            throw Fail($"invalid probability: {s}", line);
        }

        if (percent)
        {
            p /= 100.0;
        }

        if (p < 0.0 || p > 1.0)
        {
            throw Fail($"invalid probability: {s}", line);
        }

        var v = (uint)Math.Min(p * uint.MaxValue, uint.MaxValue);
        return v == 0 ? 1 : v;
    }

    private (uint, uint) Rate()
    {
        var line = T.Line;
        var a = ExpectNumber();
        ExpectPunct("/");
        var b = ExpectNumber();
        if (a == 0 || b == 0)
        {
            throw Fail("invalid rate", line);
        }

        return (a, b);
    }

    private PfRule SetOpts(PfRule r)
    {
        var paren = AcceptPunct("(");
        do
        {
            if (Accept("prio"))
            {
                if (AcceptPunct("("))
                {
                    var a = (int)ExpectNumber(7);
                    ExpectPunct(",");
                    var b = (int)ExpectNumber(7);
                    ExpectPunct(")");
                    r = r with { SetPrio = (a, b) };
                }
                else
                {
                    var a = (int)ExpectNumber(7);
                    r = r with { SetPrio = (a, a) };
                }
            }
            else if (Accept("tos"))
            {
                r = r with { Scrub = r.Scrub with { SetTos = Tos() } };
            }
            else if (Accept("queue"))
            {
                r = r with { Queue = ExpectString() };
            }
            else
            {
                throw Syntax();
            }
        }
        while (paren && AcceptPunct(","));

        if (paren)
        {
            ExpectPunct(")");
        }

        return r;
    }

    private PfStateOptions StateOpts()
    {
        ExpectPunct("(");
        var o = PfStateOptions.None;
        var timeouts = new List<(int, uint)>();
        while (true)
        {
            SkipNewlines();
            var line = T.Line;
            if (Accept("max"))
            {
                o = o with { MaxStates = ExpectNumber() };
            }
            else if (Accept("no-sync"))
            {
                o = o with { NoSync = true };
            }
            else if (Accept("pflow"))
            {
                o = o with { Pflow = true };
            }
            else if (Accept("source-track"))
            {
                var mode = Accept("global") ? 1 : Accept("rule") ? 2 : 2;
                o = o with { SourceTrack = mode };
            }
            else if (Accept("max-src-states"))
            {
                o = o with { MaxSrcStates = ExpectNumber(), SourceTrack = o.SourceTrack == 0 ? 2 : o.SourceTrack };
            }
            else if (Accept("max-src-conn"))
            {
                o = o with { MaxSrcConn = ExpectNumber(), SourceTrack = 2 };
            }
            else if (Accept("max-src-conn-rate"))
            {
                o = o with { MaxSrcConnRate = Rate(), SourceTrack = 2 };
            }
            else if (Accept("max-src-nodes"))
            {
                o = o with { MaxSrcNodes = ExpectNumber(), SourceTrack = o.SourceTrack == 0 ? 2 : o.SourceTrack };
            }
            else if (Accept("overload"))
            {
                ExpectPunct("<");
                var t = ExpectString();
                ExpectPunct(">");
                o = o with { OverloadTable = t };
                if (Accept("flush"))
                {
                    o = o with { Flush = true, FlushGlobal = Accept("global") };
                }
            }
            else if (Accept("if-bound"))
            {
                o = o with { IfBound = true };
            }
            else if (Accept("floating"))
            {
                o = o with { Floating = true };
            }
            else if (Accept("sloppy"))
            {
                o = o with { Sloppy = true };
            }
            else if (T.Kind == PfTokenKind.Word && PfNames.TimeoutIndex(T.Text) >= 0)
            {
                var idx = PfNames.TimeoutIndex(Advance().Text);
                var v = ExpectNumber();
                timeouts.RemoveAll(x => x.Item1 == idx);
                timeouts.Add((idx, v));
            }
            else
            {
                throw Fail("syntax error", line);
            }

            SkipNewlines();
            if (!AcceptPunct(","))
            {
                break;
            }
        }

        ExpectPunct(")");
        if (o.OverloadTable is not null && o.MaxSrcConn == 0 && o.MaxSrcConnRate.Limit == 0)
        {
            throw Fail("'overload' requires 'max-src-conn' or 'max-src-conn-rate'");
        }

        return o with { Timeouts = [.. timeouts.OrderBy(x => x.Item1)] };
    }

    private PfScrubOptions ScrubOpts(PfScrubOptions s, bool parenthesized)
    {
        if (parenthesized)
        {
            ExpectPunct("(");
        }

        while (true)
        {
            if (Accept("no-df"))
            {
                s = s with { NoDf = true };
            }
            else if (Accept("random-id"))
            {
                s = s with { RandomId = true };
            }
            else if (Accept("min-ttl"))
            {
                s = s with { MinTtl = (int)ExpectNumber(255) };
            }
            else if (Accept("max-mss"))
            {
                s = s with { MaxMss = (int)ExpectNumber(65535) };
            }
            else if (Accept("set-tos"))
            {
                s = s with { SetTos = Tos() };
            }
            else if (Accept("reassemble"))
            {
                Expect("tcp");
                s = s with { ReassembleTcp = true };
            }
            else if (Accept("fragment"))
            {
                if (Accept("reassemble"))
                {
                    s = s with { FragmentNoReassemble = false };
                }
                else if (Accept("no"))
                {
                    Expect("reassemble");
                    s = s with { FragmentNoReassemble = true };
                }
                else if (Accept("crop") || Accept("drop-ovl"))
                {
                }
                else
                {
                    throw Syntax();
                }
            }
            else if (!parenthesized && T.Is("label"))
            {
                break;
            }
            else
            {
                break;
            }

            if (parenthesized)
            {
                AcceptPunct(",");
            }
        }

        if (parenthesized)
        {
            ExpectPunct(")");
        }

        return s;
    }

    private void ScrubRule(RulesetBuilder rs, bool no)
    {
        var spec = new RuleSpec { Line = T.Line };
        Expect("scrub");
        spec.Rule = spec.Rule with { Action = no ? PfAction.NoScrub : PfAction.Scrub };
        RuleHead(spec, allowRoute: false);
        var r = spec.Rule;
        if (!no)
        {
            r = r with { Scrub = ScrubOpts(r.Scrub, parenthesized: T.IsPunct("(")) };
        }

        while (T.Is("label") || T.Is("tag") || T.Is("tagged"))
        {
            var kw = Advance().Text;
            var v = ExpectString();
            r = kw == "label" ? r with { Labels = r.Labels.Add(v) } : kw == "tag" ? r with { Tag = v } : r with { Tagged = v };
        }

        spec.Rule = r;
        AddExpanded(rs, spec);
    }

    /// <summary><c>host | { host, ... }</c> of a translation target.</summary>
    private List<HostNode> RedirSpec()
    {
        if (AcceptPunct("{"))
        {
            var list = new List<HostNode>();
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                list.AddRange(Host());
                SkipComma();
                if (T.Kind == PfTokenKind.Eof)
                {
                    throw Syntax();
                }
            }

            Advance();
            return list.Count == 0 ? throw Syntax() : list;
        }

        return Host();
    }

    private PfPool RedirPorts(PfPool pool, bool nat)
    {
        if (!Accept("port"))
        {
            return nat ? pool with { ProxyPortLow = 50001, ProxyPortHigh = 65535 } : pool;
        }

        var (a, b, range) = PortRange(allowStar: !nat);
        return pool with { ProxyPortLow = a, ProxyPortHigh = range ? b : (nat ? a : 0) };
    }

    private PfPool PoolOpts(PfPool pool)
    {
        while (true)
        {
            if (Accept("bitmask"))
            {
                pool = pool with { Type = PfPoolType.Bitmask };
            }
            else if (Accept("random"))
            {
                pool = pool with { Type = PfPoolType.Random };
            }
            else if (Accept("round-robin"))
            {
                pool = pool with { Type = PfPoolType.RoundRobin };
            }
            else if (Accept("source-hash"))
            {
                pool = pool with { Type = PfPoolType.SourceHash, Key = HashKey() };
            }
            else if (Accept("sticky-address"))
            {
                pool = pool with { StickyAddress = true };
            }
            else if (Accept("static-port"))
            {
                pool = pool with { StaticPort = true };
            }
            else if (Accept("map-e-portset"))
            {
                var line = T.Line;
                var o = ExpectNumber();
                ExpectPunct("/");
                var l = ExpectNumber();
                ExpectPunct("/");
                var ps = ParseUInt(ExpectString(), out var ok);
                if (!ok)
                {
                    throw Fail("syntax error", line);
                }

                pool = pool with { MapE = (o, l, ps) };
            }
            else
            {
                return pool;
            }
        }
    }

    private UInt128 HashKey()
    {
        if (T.Kind != PfTokenKind.Word || T.Is("sticky-address") || T.Is("static-port"))
        {
            return UInt128.Zero; // pfctl picks a random key; zero keeps output deterministic
        }

        var line = T.Line;
        var s = Advance().Text;
        if (s.StartsWith("0x", StringComparison.Ordinal))
        {
            var hex = s[2..];
            if (hex.Length != 32 || !hex.All(char.IsAsciiHexDigit))
            {
                throw Fail("hash key must be 128 bits long", line);
            }

            return UInt128.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }

        // A passphrase is hashed (MD5 in pfctl); keep a stable digest of it.
#pragma warning disable CA5351 // pfctl derives the key from the passphrase with MD5; not a security boundary here
        var md5 = System.Security.Cryptography.MD5.HashData(System.Text.Encoding.UTF8.GetBytes(s));
#pragma warning restore CA5351
        UInt128 k = 0;
        for (var i = 0; i < 16; i += 4)
        {
            k = (k << 32) | System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(md5.AsSpan(i));
        }

        return k;
    }

    private void NatRule(RulesetBuilder rs, bool no)
    {
        var spec = new RuleSpec { Line = T.Line };
        var kind = Advance().Text;
        var action = kind == "nat" ? (no ? PfAction.NoNat : PfAction.Nat) : (no ? PfAction.NoRdr : PfAction.Rdr);
        spec.Rule = spec.Rule with { Action = action };
        NatPassLog(spec);
        Interfaces(spec);
        Af(spec);
        Protos(spec);
        FromTo(spec);
        NatTail(spec);
        if (Accept("->") || AcceptPunct("->"))
        {
            if (no)
            {
                throw Fail("translation rule with 'no' does not need '->'");
            }

            spec.NatHosts = RedirSpec();
            spec.NatPoolOpts = RedirPorts(PfPool.Empty, nat: action == PfAction.Nat);
            spec.NatPoolOpts = PoolOpts(spec.NatPoolOpts);
        }
        else if (!no)
        {
            throw Fail("translation rule requires '-> address'");
        }

        AddExpanded(rs, spec);
    }

    private void NatPassLog(RuleSpec spec)
    {
        if (Accept("pass"))
        {
            spec.Rule = spec.Rule with { NatPass = true };
        }

        if (T.Is("log"))
        {
            spec.Rule = spec.Rule with { Log = LogOpts() };
        }
    }

    private void NatTail(RuleSpec spec)
    {
        while (true)
        {
            if (Accept("tag"))
            {
                spec.Rule = spec.Rule with { Tag = ExpectString() };
            }
            else if (T.IsPunct("!") && Peek(1).Is("tagged"))
            {
                Advance();
                Advance();
                spec.Rule = spec.Rule with { Tagged = ExpectString(), TaggedNegated = true };
            }
            else if (Accept("tagged"))
            {
                spec.Rule = spec.Rule with { Tagged = ExpectString() };
            }
            else if (Accept("rtable"))
            {
                spec.Rule = spec.Rule with { Rtable = (int)ExpectNumber(65535) };
            }
            else
            {
                return;
            }
        }
    }

    private void BinatRule(RulesetBuilder rs, bool no)
    {
        var spec = new RuleSpec { Line = T.Line };
        Expect("binat");
        spec.Rule = spec.Rule with { Action = no ? PfAction.NoBinat : PfAction.Binat };
        NatPassLog(spec);
        Interfaces(spec);
        Af(spec);
        Protos(spec);
        FromTo(spec);
        NatTail(spec);
        if (AcceptPunct("->"))
        {
            if (no)
            {
                throw Fail("'no binat' rule does not need '->'");
            }

            spec.NatHosts = RedirSpec();
            spec.NatPoolOpts = PoolOpts(PfPool.Empty);
        }
        else if (!no)
        {
            throw Fail("binat rule requires '-> address'");
        }

        AddExpanded(rs, spec);
    }

    private void AnchorRule(RulesetBuilder rs)
    {
        var spec = new RuleSpec { Line = T.Line };
        var kind = Advance().Text;
        string? name = null;
        if (T.Kind == PfTokenKind.Quoted || (T.Kind == PfTokenKind.Word && !IsRuleKeyword(T.Text)))
        {
            name = Advance().Text;
        }

        var action = kind switch
        {
            "nat-anchor" => PfAction.Nat,
            "rdr-anchor" => PfAction.Rdr,
            "binat-anchor" => PfAction.Binat,
            _ => PfAction.Pass,
        };
        spec.Rule = spec.Rule with { Action = action };
        if (action == PfAction.Pass)
        {
            RuleHead(spec, allowRoute: false);
            FilterOpts(spec);
        }
        else
        {
            Interfaces(spec);
            Af(spec);
            Protos(spec);
            FromTo(spec);
            NatTail(spec);
        }

        PfRuleset? body = null;
        if (AcceptPunct("{"))
        {
            if (name is not null && name.Contains('/', StringComparison.Ordinal))
            {
                throw Fail("anchor name must not contain '/' with an inline ruleset");
            }

            var inner = new RulesetBuilder();
            ParseStatements(inner, inAnchor: true);
            ExpectPunct("}");
            body = inner.Build();
            if (name is null)
            {
                _anchorSerial++;
            }
        }
        else if (name is null)
        {
            throw Fail("anchor without a name requires an inline ruleset");
        }

        spec.Rule = spec.Rule with { AnchorCall = name ?? string.Empty, AnchorBody = body };
        AddExpanded(rs, spec);
    }

    private static bool IsRuleKeyword(string s) => s is "in" or "out" or "on" or "inet" or "inet6" or "proto" or "from" or "to" or "all"
        or "log" or "quick" or "user" or "group" or "label" or "tag" or "tagged" or "flags" or "icmp-type" or "icmp6-type" or "tos"
        or "ridentifier" or "rtable" or "prio" or "once" or "keep" or "no";

    private void LoadAnchor(RulesetBuilder rs)
    {
        var line = Advance().Line;
        Expect("anchor");
        var name = ExpectString();
        Expect("from");
        var file = ExpectString();
        rs.Statements.Add(new PfLoadAnchorStatement(line, name, file));
    }

    private void Antispoof(RulesetBuilder rs)
    {
        var line = Advance().Line;
        var log = default(PfLog);
        var quick = false;
        while (true)
        {
            if (T.Is("log"))
            {
                log = LogOpts();
            }
            else if (Accept("quick"))
            {
                quick = true;
            }
            else
            {
                break;
            }
        }

        Expect("for");
        var ifs = new List<string>();
        if (AcceptPunct("{"))
        {
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                ifs.Add(ExpectString());
                SkipComma();
                if (T.Kind == PfTokenKind.Eof)
                {
                    throw Syntax();
                }
            }

            Advance();
        }
        else
        {
            ifs.Add(ExpectString());
        }

        var af = Accept("inet") ? PfFamily.Inet : Accept("inet6") ? PfFamily.Inet6 : PfFamily.Any;
        var labels = ImmutableArray<string>.Empty;
        while (Accept("label"))
        {
            labels = labels.Add(ExpectString());
        }

        foreach (var ifn in ifs)
        {
            var addrs = _options.Interfaces.Addresses(ifn);
            if (addrs is null)
            {
                throw Fail($"cannot find interface {ifn}", line);
            }

            var baseRule = new PfRule
            {
                Action = PfAction.Block,
                BlockPolicy = _blockReturn ? PfBlockPolicy.Return : PfBlockPolicy.Drop,
                Direction = PfDirection.In,
                Log = log,
                Quick = quick,
                Labels = labels,
                Line = line,
            };
            foreach (var a in addrs)
            {
                if (af != PfFamily.Any && a.Address.Family != af)
                {
                    continue;
                }

                var width = PfIp.Width(a.Address.Family);
                var net = new PfAddr(PfAddrKind.AddrMask, a.Address.Mask(a.Prefix), a.Prefix);
                rs.Filter.Add(baseRule with
                {
                    Interface = ifn,
                    InterfaceNegated = true,
                    Family = a.Address.Family,
                    Source = new PfRuleAddr(false, net, PfPortRange.None),
                });
                if (!a.IsLoopback && a.Prefix != width)
                {
                    rs.Filter.Add(baseRule with
                    {
                        Family = a.Address.Family,
                        Source = new PfRuleAddr(false, new PfAddr(PfAddrKind.AddrMask, a.Address, width), PfPortRange.None),
                    });
                }
            }
        }
    }
}
