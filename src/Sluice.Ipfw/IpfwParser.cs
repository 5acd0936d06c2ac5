using System.Globalization;
using Sluice.Dummynet;
using Sluice.Wire;

namespace Sluice.Ipfw;

/// <summary>An ipfw error: FreeBSD's message (after <c>ipfw: </c>) and exit status.</summary>
public sealed record IpfwError(string Message, int Status);

/// <summary>
/// Parser of <c>ipfw add</c> rule text (FreeBSD <c>sbin/ipfw/ipfw2.c</c> compile_rule): pure, never throws; an error
/// names the offending token with FreeBSD's wording.
/// </summary>
public static class IpfwParser
{
    private const int ExUsage = 64;
    private const int ExDataErr = 65;

    private static readonly string[] UnreachCodes =
    [
        "net", "host", "protocol", "port", "needfrag", "srcfail", "net-unknown", "host-unknown", "isolated", "net-prohib",
        "host-prohib", "tosnet", "toshost", "filter-prohib", "host-precedence", "precedence-cutoff",
    ];

    private static readonly Dictionary<string, int> Services = new(StringComparer.Ordinal)
    {
        ["ftp-data"] = 20, ["ftp"] = 21, ["ssh"] = 22, ["telnet"] = 23, ["smtp"] = 25, ["domain"] = 53, ["http"] = 80,
        ["www"] = 80, ["pop3"] = 110, ["ntp"] = 123, ["imap"] = 143, ["snmp"] = 161, ["ldap"] = 389, ["https"] = 443,
        ["daytime"] = 13, ["echo"] = 7, ["discard"] = 9, ["bootps"] = 67, ["bootpc"] = 68, ["tftp"] = 69, ["syslog"] = 514,
    };

    private static readonly Dictionary<string, int> Protocols = new(StringComparer.Ordinal)
    {
        ["icmp"] = 1, ["igmp"] = 2, ["tcp"] = 6, ["udp"] = 17, ["gre"] = 47, ["esp"] = 50, ["ah"] = 51, ["ipv6-icmp"] = 58,
        ["icmp6"] = 58, ["pim"] = 103, ["carp"] = 112, ["sctp"] = 132, ["pfsync"] = 240, ["ipencap"] = 4,
    };

    /// <summary>Name of an unreach code (or its number).</summary>
    public static string UnreachName(int code) =>
        code >= 0 && code < UnreachCodes.Length ? UnreachCodes[code] : code.ToString(CultureInfo.InvariantCulture);

    /// <summary>ipfw2.c's icmp6codes: no-route, admin-prohib, address, port; null for another word.</summary>
    public static int? Unreach6Code(string name) => name switch
    {
        "no-route" => 0,
        "admin-prohib" => 1,
        "address" => 3,
        "port" => 4,
        _ => null,
    };

    /// <summary>The name ipfw prints for ICMPv6 unreachable <paramref name="code"/>, or the number.</summary>
    public static string Unreach6Name(int code) => code switch
    {
        0 => "no-route",
        1 => "admin-prohib",
        3 => "address",
        4 => "port",
        _ => code.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Parses <paramref name="av"/> (the words after <c>add</c>) into a rule; number 0 means "assign one".</summary>
    public static bool TryParseRule(ReadOnlySpan<string> av, out IpfwRule? rule, out IpfwError? error)
    {
        rule = null;
        error = null;
        var i = 0;
        var number = 0;
        var set = 0;
        var prob = 1.0;
        if (i < av.Length && av[i].Length > 0 && char.IsAsciiDigit(av[i][0]))
        {
            var (n, end) = DummynetParser.StrToUL(av[i]);
            if (end != av[i].Length || n > 65535)
            {
                return Fail(out error, $"invalid rule number: {av[i]}", ExDataErr);
            }

            number = (int)n;
            i++;
        }

        if (i < av.Length && av[i] == "set")
        {
            i++;
            if (i >= av.Length || !int.TryParse(av[i], NumberStyles.None, CultureInfo.InvariantCulture, out set) || set > 31)
            {
                return Fail(out error, $"illegal set {(i < av.Length ? av[i] : string.Empty)}", ExDataErr);
            }

            i++;
        }

        if (i < av.Length && av[i] == "prob")
        {
            i++;
            var d = i < av.Length ? DummynetParser.StrToD(av[i]) : 0;
            if (d <= 0 || d > 1)
            {
                return Fail(out error, $"illegal match prob. {(i < av.Length ? av[i] : string.Empty)}", ExDataErr);
            }

            prob = d;
            i++;
        }

        if (i >= av.Length)
        {
            return Fail(out error, "missing action", ExUsage);
        }

        var tok = av[i++];
        IpfwAction action;
        var arg = 0;
        string? fwd = null;
        var stateName = "default";
        switch (tok)
        {
            case "allow" or "accept" or "pass" or "permit":
                action = IpfwAction.Allow;
                break;
            case "deny" or "drop":
                action = IpfwAction.Deny;
                break;
            case "reject":
                action = IpfwAction.Reject;
                arg = 1;
                break;
            case "reset":
                action = IpfwAction.Reset;
                break;
            case "count":
                action = IpfwAction.Count;
                break;
            case "return":
                action = IpfwAction.Return;
                break;
            case "check-state":
                action = IpfwAction.CheckState;
                if (i < av.Length && av[i].StartsWith(':'))
                {
                    if (!ValidStateName(av[i][1..]))
                    {
                        return Fail(out error, $"Invalid state name {av[i]}", ExDataErr);
                    }

                    stateName = av[i++][1..];
                }

                break;
            case "unreach":
                {
                    action = IpfwAction.Unreach;
                    if (i >= av.Length)
                    {
                        return Fail(out error, "missing unreach code", ExUsage);
                    }

                    var code = Array.IndexOf(UnreachCodes, av[i]);
                    if (code < 0)
                    {
                        var (n, end) = DummynetParser.StrToUL(av[i]);
                        if (end != av[i].Length || av[i].Length == 0 || n > 255)
                        {
                            return Fail(out error, $"unknown ICMP unreachable code ``{av[i]}''", ExDataErr);
                        }

                        code = (int)n;
                    }

                    arg = code;
                    i++;
                    action = code == 1 ? IpfwAction.Reject : IpfwAction.Unreach;
                    break;
                }

            case "unreach6" when i < av.Length && Unreach6Code(av[i]) is { } code6:
                action = IpfwAction.Unreach6;
                arg = code6;
                i++;
                break;
            case "skipto" or "call" or "pipe" or "queue" or "setfib" or "nat" or "unreach6":
                {
                    action = tok switch
                    {
                        "skipto" => IpfwAction.Skipto,
                        "call" => IpfwAction.Call,
                        "pipe" => IpfwAction.Pipe,
                        "queue" => IpfwAction.Queue,
                        "setfib" => IpfwAction.SetFib,
                        "unreach6" => IpfwAction.Unreach6,
                        _ => IpfwAction.Nat,
                    };
                    if (i >= av.Length)
                    {
                        return Fail(out error, tok == "setfib" ? "missing fib number" : $"missing {tok} number", ExUsage);
                    }

                    var (n, end) = DummynetParser.StrToUL(av[i]);
                    if (av[i].Length == 0 || !char.IsAsciiDigit(av[i][0]) || end != av[i].Length || n > 65535)
                    {
                        return Fail(out error, $"illegal argument for {tok}", ExDataErr);
                    }

                    if (tok == "setfib" && n > 15)
                    {
                        return Fail(out error, "fib too large.\n", ExDataErr);
                    }

                    arg = (int)n;
                    i++;
                    break;
                }

            case "fwd" or "forward":
                {
                    action = IpfwAction.Fwd;
                    if (i >= av.Length)
                    {
                        return Fail(out error, "missing forward address", ExUsage);
                    }

                    var t = av[i];
                    var comma = t.IndexOf(',', StringComparison.Ordinal);
                    var host = comma < 0 ? t : t[..comma];
                    if (host != "tablearg" && !IPv4Address.TryParse(host, out _) && !IPv6Address.TryParse(host, out _))
                    {
                        return Fail(out error, $"invalid forward address {t}", ExDataErr);
                    }

                    if (comma >= 0 && (!ushort.TryParse(t.AsSpan(comma + 1), NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                    {
                        return Fail(out error, $"illegal forwarding port ``{t[(comma + 1)..]}''", ExDataErr);
                    }

                    fwd = t;
                    i++;
                    break;
                }

            default:
                return Fail(out error, $"invalid action {tok}\n", ExDataErr);
        }

        var log = false;
        var logAmount = 0;
        var tag = 0;
        while (i < av.Length && av[i] is "log" or "tag" or "untag")
        {
            var p = av[i++];
            if (p == "log")
            {
                if (log)
                {
                    return Fail(out error, "log cannot be specified more than once", ExDataErr);
                }

                log = true;
                if (i < av.Length && av[i] == "logamount")
                {
                    i++;
                    if (i >= av.Length)
                    {
                        return Fail(out error, "logamount requires argument", ExUsage);
                    }

                    logAmount = DummynetParser.AtoI(av[i++]);
                    if (logAmount < 0)
                    {
                        return Fail(out error, "logamount must be positive", ExDataErr);
                    }
                }
            }
            else
            {
                if (tag != 0)
                {
                    return Fail(out error, "tag and untag cannot be specified more than once", ExUsage);
                }

                if (i >= av.Length || !int.TryParse(av[i], NumberStyles.None, CultureInfo.InvariantCulture, out var t) || t is < 1 or > 65534)
                {
                    return Fail(out error, $"{p}: invalid argument {(i < av.Length ? av[i] : string.Empty)}", ExDataErr);
                }

                tag = p == "tag" ? t : -t;
                i++;
            }
        }

        var matches = new List<IpfwMatch>();
        var justOpts = false;
        string? protoText = null;
        var protoNumber = -1;
        var toStart = 0;
        var optionsStart = 0;
        var stateKind = IpfwStateKind.None;
        var limitMask = IpfwLimitMask.None;
        var limitCount = 0;
        string? comment = null;

        if (action == IpfwAction.CheckState)
        {
            if (i < av.Length && av[i] == "//")
            {
                comment = string.Join(' ', av[(i + 1)..].ToArray());
                i = av.Length;
            }

            if (i < av.Length)
            {
                return Fail(out error, $"unrecognised option [-1] {av[i]}\n", ExUsage);
            }

            rule = new IpfwRule(number, set, action, matches) { Probability = prob, Log = log, LogAmount = logAmount, Tag = tag, StateName = stateName, Comment = comment, JustOptions = true };
            return true;
        }

        if (i >= av.Length)
        {
            return Fail(out error, "missing protocol", ExUsage);
        }

        // protocol: a protocol word starts "proto from src to dst"; anything else is an options-only rule.
        if (TryProtocol(av[i], out protoNumber, out protoText))
        {
            i++;
            if (i >= av.Length || av[i] != "from")
            {
                // FreeBSD 11+: "allow tcp" alone is an options-only rule with a protocol.
                if (i < av.Length && av[i] != "from" && IsOption(av[i]))
                {
                    justOpts = true;
                }
                else if (i < av.Length)
                {
                    return Fail(out error, "missing ``from''", ExUsage);
                }
                else
                {
                    justOpts = true;
                }
            }
        }
        else
        {
            justOpts = true;
        }

        if (!justOpts)
        {
            i++; // from
            if (!ParseAddresses(av, ref i, true, matches, out error))
            {
                return false;
            }

            ParsePorts(av, ref i, RangeField.SrcPort, protoNumber, matches);
            toStart = matches.Count;
            if (i >= av.Length || av[i] != "to")
            {
                return Fail(out error, "missing ``to''", ExUsage);
            }

            i++;
            if (!ParseAddresses(av, ref i, false, matches, out error))
            {
                return false;
            }

            ParsePorts(av, ref i, RangeField.DstPort, protoNumber, matches);
            optionsStart = matches.Count;
        }

        var openPar = false;
        IpfwMatch? prev = null;
        var pendingNot = false;
        while (i < av.Length)
        {
            var s = av[i];
            if (s.StartsWith('!') && s.Length > 1)
            {
                if (pendingNot)
                {
                    return Fail(out error, "double \"not\" not allowed\n", ExUsage);
                }

                pendingNot = true;
                s = s[1..];
            }

            i++;
            IpfwMatch? m = null;
            string? Need(ref int j, ReadOnlySpan<string> a) => j < a.Length ? a[j++] : null;
            switch (s)
            {
                case "not":
                    if (pendingNot)
                    {
                        return Fail(out error, "double \"not\" not allowed\n", ExUsage);
                    }

                    pendingNot = true;
                    continue;
                case "or":
                    if (!openPar || prev is null)
                    {
                        return Fail(out error, "invalid \"or\" block\n", ExUsage);
                    }

                    prev.OrNext = true;
                    continue;
                case "{" or "(":
                    if (openPar)
                    {
                        return Fail(out error, "+nested \"(\" not allowed\n", ExUsage);
                    }

                    openPar = true;
                    continue;
                case "}" or ")":
                    if (!openPar)
                    {
                        return Fail(out error, "+missing \")\"\n", ExUsage);
                    }

                    openPar = false;
                    prev = null;
                    continue;
                case "in":
                    m = new OptionMatch(OptionKind.In);
                    break;
                case "out":
                    m = new OptionMatch(OptionKind.Out);
                    break;
                case "frag":
                    m = new OptionMatch(OptionKind.Frag);
                    break;
                case "established":
                    m = new OptionMatch(OptionKind.Established);
                    break;
                case "setup":
                    m = new OptionMatch(OptionKind.Setup);
                    break;
                case "ip4" or "ipv4":
                    m = new OptionMatch(OptionKind.Ip4);
                    break;
                case "ip6" or "ipv6":
                    m = new OptionMatch(OptionKind.Ip6);
                    break;
                case "via" or "recv" or "xmit":
                    {
                        var name = Need(ref i, av);
                        if (name is null)
                        {
                            return Fail(out error, "recv, xmit, via require interface name or address", ExUsage);
                        }

                        m = new OptionMatch(s == "via" ? OptionKind.Via : s == "recv" ? OptionKind.Recv : OptionKind.Xmit, text: name);
                        break;
                    }

                case "tcpflags" or "tcpflag":
                    {
                        var v = Need(ref i, av);
                        if (v is null)
                        {
                            return Fail(out error, "missing argument for tcpflags", ExUsage);
                        }

                        if (!TryFlags(v, out var setF, out var clearF, out var bad))
                        {
                            return Fail(out error, $"invalid \"tcpflags\" argument: {bad}", ExDataErr);
                        }

                        m = new OptionMatch(OptionKind.TcpFlags, setF, clearF, FormatHelpers.TcpFlagsText(setF, clearF));
                        break;
                    }

                case "icmptypes" or "icmptype":
                    {
                        var v = Need(ref i, av);
                        if (v is null)
                        {
                            return Fail(out error, "icmptypes requires list of types", ExUsage);
                        }

                        var mask = 0;
                        var list = new List<int>();
                        foreach (var part in v.Split(','))
                        {
                            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var t) || t > 31)
                            {
                                return Fail(out error, $"invalid ICMP type {part}", ExDataErr);
                            }

                            mask |= 1 << t;
                        }

                        for (var t = 0; t < 32; t++)
                        {
                            if ((mask & (1 << t)) != 0)
                            {
                                list.Add(t);
                            }
                        }

                        m = new OptionMatch(OptionKind.IcmpTypes, mask, 0, string.Join(",", list));
                        break;
                    }

                case "ipttl" or "iplen" or "tagged":
                    {
                        var v = Need(ref i, av);
                        var field = s == "ipttl" ? RangeField.IpTtl : s == "iplen" ? RangeField.IpLen : RangeField.Tagged;
                        var max = s == "ipttl" ? 255 : 65535;
                        if (v is null || !TryRanges(v, max, null, out var ranges))
                        {
                            return v is null
                                ? Fail(out error, s == "ipttl" ? "ipttl requires TTL" : s == "iplen" ? "iplen requires length" : "tagged requires argument", ExUsage)
                                : Fail(out error, s == "tagged" ? $"tagged: invalid tag list: {v}" : $"invalid {s} {v}", ExDataErr);
                        }

                        m = new RangeMatch(field, ranges);
                        break;
                    }

                case "ipversion" or "ipver":
                    {
                        var v = Need(ref i, av);
                        if (v is null)
                        {
                            return Fail(out error, "ipver requires version", ExUsage);
                        }

                        m = new OptionMatch(OptionKind.IpVer, (int)DummynetParser.StrToUL(v).Value);
                        break;
                    }

                case "proto":
                    {
                        var v = Need(ref i, av);
                        if (v is null)
                        {
                            return Fail(out error, "missing protocol", ExUsage);
                        }

                        if (!TryProtocol(v, out var pn, out var pt) || pn < 0)
                        {
                            return Fail(out error, $"invalid protocol ``{v}''", ExDataErr);
                        }

                        m = new OptionMatch(OptionKind.Proto, pn, text: pt);
                        break;
                    }

                case "src-ip" or "dst-ip" or "src-ip6" or "dst-ip6":
                    {
                        if (i >= av.Length)
                        {
                            return Fail(out error, s.StartsWith("src", StringComparison.Ordinal) ? "missing source IP" : "missing destination IP", ExUsage);
                        }

                        var tmp = new List<IpfwMatch>();
                        if (!ParseAddresses(av, ref i, s.StartsWith("src", StringComparison.Ordinal), tmp, out error, s))
                        {
                            return false;
                        }

                        m = tmp[0];
                        break;
                    }

                case "src-port" or "dst-port":
                    {
                        var v = Need(ref i, av);
                        if (v is null)
                        {
                            return Fail(out error, s == "src-port" ? "missing source port" : "missing destination port", ExUsage);
                        }

                        if (!TryRanges(v, 65535, Services, out var ranges))
                        {
                            return Fail(out error, s == "src-port" ? $"invalid source port {v}" : $"invalid destination port {v}", ExDataErr);
                        }

                        m = new RangeMatch(s == "src-port" ? RangeField.SrcPortOption : RangeField.DstPortOption, ranges);
                        break;
                    }

                case "keep-state" or "record-state" or "limit" or "set-limit":
                    {
                        if (openPar)
                        {
                            return Fail(out error, s is "limit" or "set-limit" ? "limit or set-limit cannot be part of an or block" : "keep-state or record-state cannot be part of an or block", ExUsage);
                        }

                        if (stateKind != IpfwStateKind.None)
                        {
                            return Fail(out error, "only one of keep-state, record-state,  limit and set-limit is allowed", ExUsage);
                        }

                        stateKind = s switch
                        {
                            "keep-state" => IpfwStateKind.KeepState,
                            "record-state" => IpfwStateKind.RecordState,
                            "limit" => IpfwStateKind.Limit,
                            _ => IpfwStateKind.SetLimit,
                        };
                        if (stateKind is IpfwStateKind.Limit or IpfwStateKind.SetLimit)
                        {
                            while (i < av.Length && av[i] is "src-addr" or "src-port" or "dst-addr" or "dst-port")
                            {
                                limitMask |= av[i] switch
                                {
                                    "src-addr" => IpfwLimitMask.SrcAddr,
                                    "src-port" => IpfwLimitMask.SrcPort,
                                    "dst-addr" => IpfwLimitMask.DstAddr,
                                    _ => IpfwLimitMask.DstPort,
                                };
                                i++;
                            }

                            if (limitMask == IpfwLimitMask.None)
                            {
                                return Fail(out error, "limit: missing limit mask", ExUsage);
                            }

                            if (i >= av.Length || !int.TryParse(av[i], NumberStyles.None, CultureInfo.InvariantCulture, out limitCount) || limitCount is < 1 or > 65534)
                            {
                                return Fail(out error, $"limit: invalid argument {(i < av.Length ? av[i] : string.Empty)}", ExDataErr);
                            }

                            i++;
                        }

                        if (i < av.Length && av[i].StartsWith(':'))
                        {
                            if (!ValidStateName(av[i][1..]))
                            {
                                return Fail(out error, $"Invalid state name {av[i]}", ExDataErr);
                            }

                            stateName = av[i++][1..];
                        }

                        pendingNot = false;
                        continue;
                    }

                case "//" or "comment":
                    comment = string.Join(' ', av[i..].ToArray());
                    i = av.Length;
                    continue;
                default:
                    return Fail(out error, $"unrecognised option [-1] {s}\n", ExUsage);
            }

            m.Not = pendingNot;
            pendingNot = false;
            matches.Add(m);
            prev = openPar ? m : null;
        }

        if (openPar)
        {
            return Fail(out error, "missing \")\"\n", ExUsage);
        }

        if (justOpts)
        {
            toStart = optionsStart = 0;
        }

        rule = new IpfwRule(number, set, action, matches)
        {
            Probability = prob,
            Argument = arg,
            ForwardTo = fwd,
            Log = log,
            LogAmount = logAmount,
            Tag = tag,
            ProtocolText = protoText,
            ProtocolNumber = protoNumber,
            ToStart = toStart,
            OptionsStart = optionsStart,
            JustOptions = justOpts,
            State = stateKind,
            StateName = stateName,
            LimitMask = limitMask,
            LimitCount = limitCount,
            Comment = comment,
        };
        return true;
    }

    private static bool IsOption(string s) => s is "in" or "out" or "via" or "recv" or "xmit" or "setup" or "established" or "frag"
        or "keep-state" or "record-state" or "limit" or "dst-port" or "src-port" or "src-ip" or "dst-ip" or "tcpflags" or "icmptypes"
        or "ipttl" or "tagged" or "//" or "not" or "{" or "ipver" or "ipversion";

    private static bool ValidStateName(string name) =>
        name.Length is > 0 and < 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    /// <summary>Protocol word: ip/all (any), ip4/ipv4, ip6/ipv6, a name, or a number.</summary>
    private static bool TryProtocol(string s, out int number, out string? text)
    {
        text = s;
        switch (s)
        {
            case "ip" or "all":
                number = -1;
                text = "ip";
                return true;
            case "ip4" or "ipv4":
                number = 256;
                text = "ip4";
                return true;
            case "ip6" or "ipv6":
                number = 257;
                text = "ip6";
                return true;
        }

        if (Protocols.TryGetValue(s, out number))
        {
            text = DummynetInstance.ProtocolName(number) ?? s;
            return true;
        }

        if (s.Length > 0 && s.All(char.IsAsciiDigit) && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out number) && number <= 255)
        {
            text = DummynetInstance.ProtocolName(number) ?? s;
            return true;
        }

        number = -1;
        text = null;
        return false;
    }

    private static bool ParseAddresses(ReadOnlySpan<string> av, ref int i, bool source, List<IpfwMatch> matches, out IpfwError? error, string? keyword = null)
    {
        error = null;
        var not = false;
        var open = false;
        var group = new List<IpfwMatch>();
        if (i < av.Length && av[i] is "{" or "(")
        {
            open = true;
            i++;
        }

        while (true)
        {
            if (i < av.Length && av[i] == "not")
            {
                not = true;
                i++;
            }

            if (i >= av.Length)
            {
                return Fail(out error, source ? "missing source address" : "missing dst address", ExUsage);
            }

            if (!TryAddressList(av[i], out var items))
            {
                return Fail(out error, source ? $"bad source address {av[i]}" : $"bad destination address {av[i]}", ExUsage);
            }

            i++;
            var m = new AddressMatch(source, items, keyword) { Not = not };
            not = false;
            group.Add(m);
            if (open && i < av.Length && av[i] == "or")
            {
                m.OrNext = true;
                i++;
                continue;
            }

            if (open)
            {
                if (i < av.Length && av[i] is "}" or ")")
                {
                    i++;
                }
                else
                {
                    return Fail(out error, "missing \")\"\n", ExUsage);
                }
            }

            break;
        }

        // "any" alone prints nothing extra and matches everything: keep it only when negated or in a group.
        if (group.Count == 1 && !group[0].Not && ((AddressMatch)group[0]).Items is [{ Kind: IpfwAddressKind.Any }] && keyword is null)
        {
            return true;
        }

        matches.AddRange(group);
        return true;
    }

    private static bool TryAddressList(string s, out List<IpfwAddress> items)
    {
        items = [];
        if (s == "any")
        {
            items.Add(new IpfwAddress(IpfwAddressKind.Any, 0, 0, null));
            return true;
        }

        if (s == "me")
        {
            items.Add(new IpfwAddress(IpfwAddressKind.Me, 0, 0, null));
            return true;
        }

        if (s == "me6")
        {
            items.Add(new IpfwAddress(IpfwAddressKind.Me6, 0, 0, null));
            return true;
        }

        if (s.StartsWith("table(", StringComparison.Ordinal) && s.EndsWith(')'))
        {
            var name = s[6..^1];
            var comma = name.IndexOf(',', StringComparison.Ordinal);
            if (comma >= 0)
            {
                name = name[..comma];
            }

            if (name.Length == 0 || name.Length > 63 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            {
                return false;
            }

            items.Add(new IpfwAddress(IpfwAddressKind.Table, 0, 0, name));
            return true;
        }

        foreach (var part in s.Split(','))
        {
            var slash = part.IndexOf('/', StringComparison.Ordinal);
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            var host = slash >= 0 ? part[..slash] : part;
            if (IPv4Address.TryParse(colon >= 0 && slash < 0 ? part[..colon] : host, out var v4))
            {
                var len = 32;
                if (slash >= 0)
                {
                    if (!int.TryParse(part.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out len) || len > 32)
                    {
                        return false;
                    }
                }
                else if (colon >= 0)
                {
                    if (!IPv4Address.TryParse(part[(colon + 1)..], out var maskAddr))
                    {
                        return false;
                    }

                    len = maskAddr.PrefixLengthFromMask();
                    if (len < 0)
                    {
                        return false;
                    }
                }

                items.Add(new IpfwAddress(IpfwAddressKind.V4, v4.Value & AddressMatch.Mask32(len), len, null));
                continue;
            }

            if (IPv6Address.TryParse(host, out var v6))
            {
                var len = 128;
                if (slash >= 0 && (!int.TryParse(part.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out len) || len > 128))
                {
                    return false;
                }

                var a = ((UInt128)v6.High << 64) | v6.Low;
                items.Add(new IpfwAddress(IpfwAddressKind.V6, a & AddressMatch.Mask128(len), len, null));
                continue;
            }

            return false;
        }

        return items.Count > 0;
    }

    private static void ParsePorts(ReadOnlySpan<string> av, ref int i, RangeField field, int proto, List<IpfwMatch> matches)
    {
        var not = false;
        var j = i;
        if (j < av.Length && av[j] == "not")
        {
            not = true;
            j++;
        }

        if (j >= av.Length)
        {
            return;
        }

        if (av[j] == "any")
        {
            i = j + 1;
            return;
        }

        if (TryRanges(av[j], 65535, proto is 6 or 17 or 132 or -1 ? Services : null, out var ranges))
        {
            matches.Add(new RangeMatch(field, ranges) { Not = not });
            i = j + 1;
        }
    }

    private static bool TryRanges(string s, int max, Dictionary<string, int>? names, out List<(int, int)> ranges)
    {
        ranges = [];
        foreach (var part in s.Split(','))
        {
            var dash = part.IndexOf('-', 1 < part.Length ? 1 : 0);
            var lo = dash > 0 ? part[..dash] : part;
            var hi = dash > 0 ? part[(dash + 1)..] : part;
            if (!TryValue(lo, max, names, out var l) || !TryValue(hi, max, names, out var h) || h < l)
            {
                return false;
            }

            ranges.Add((l, h));
        }

        return ranges.Count > 0;
    }

    private static bool TryValue(string s, int max, Dictionary<string, int>? names, out int v)
    {
        if (s.Length > 0 && s.All(char.IsAsciiDigit) && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v) && v <= max)
        {
            return true;
        }

        v = 0;
        return names is not null && names.TryGetValue(s, out v);
    }

    private static bool TryFlags(string s, out int set, out int clear, out string bad)
    {
        set = clear = 0;
        bad = string.Empty;
        string[] names = ["fin", "syn", "rst", "push", "ack", "urg"];
        foreach (var raw in s.Split(','))
        {
            var neg = raw.StartsWith('!');
            var name = neg ? raw[1..] : raw;
            var idx = Array.IndexOf(names, name == "psh" ? "push" : name);
            if (idx < 0)
            {
                bad = raw;
                return false;
            }

            if (neg)
            {
                clear |= 1 << idx;
            }
            else
            {
                set |= 1 << idx;
            }
        }

        return true;
    }

    private static bool Fail(out IpfwError? error, string message, int status)
    {
        error = new IpfwError(message, status);
        return false;
    }
}
