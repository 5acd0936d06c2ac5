using System.Globalization;

namespace Sluice.Pf.Config;

public sealed partial class PfParser
{
    /// <summary>A host of a from/to list before expansion.</summary>
    private sealed record HostNode(PfAddr Addr, bool Not, PfFamily Af, string? Interface = null);

    private static readonly HostNode AnyHost = new(PfAddr.Any, false, PfFamily.Any);

    /// <summary><c>any | xhost | { xhost, ... }</c>.</summary>
    private List<HostNode> IpSpec()
    {
        if (Accept("any"))
        {
            return [AnyHost];
        }

        if (AcceptPunct("{"))
        {
            var list = new List<HostNode>();
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                list.AddRange(XHost());
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

            return list;
        }

        return XHost();
    }

    private List<HostNode> XHost()
    {
        var not = AcceptPunct("!");
        if (Accept("no-route"))
        {
            return [new HostNode(new PfAddr(PfAddrKind.NoRoute, default, 0), not, PfFamily.Any)];
        }

        if (Accept("urpf-failed"))
        {
            return [new HostNode(new PfAddr(PfAddrKind.UrpfFailed, default, 0), not, PfFamily.Any)];
        }

        var hosts = Host();
        return not ? hosts.Select(h => h with { Not = true }).ToList() : hosts;
    }

    private List<HostNode> Host()
    {
        if (AcceptPunct("<"))
        {
            var name = ExpectString();
            ExpectPunct(">");
            if (name.Length == 0 || name.Length >= 32)
            {
                throw Fail("table name too long");
            }

            return [new HostNode(new PfAddr(PfAddrKind.Table, default, 0, Name: name), false, PfFamily.Any)];
        }

        if (AcceptPunct("("))
        {
            var name = ExpectString();
            ExpectPunct(")");
            var prefix = -1;
            if (AcceptPunct("/"))
            {
                prefix = (int)ExpectNumber(128);
            }

            return [DynAddr(name, prefix)];
        }

        if (!T.IsString)
        {
            throw Syntax();
        }

        var line = T.Line;
        var s = Advance().Text;
        if (T.IsPunct("-") && Peek(1).IsString)
        {
            Advance();
            var e = Advance().Text;
            if (!ParseLiteral(s, -1, out var a, out _) || !ParseLiteral(e, -1, out var b, out _) || a.Family != b.Family)
            {
                throw Fail("invalid address range", line);
            }

            return [new HostNode(new PfAddr(PfAddrKind.Range, a, PfIp.Width(a.Family), b), false, a.Family)];
        }

        var mask = -1;
        if (AcceptPunct("/"))
        {
            if (!IsNumber(T))
            {
                throw Syntax();
            }

            var m = ParseUInt(Advance().Text, out var ok);
            if (!ok || m > 128)
            {
                throw Fail($"invalid netmask '/{m}'", line);
            }

            mask = (int)m;
        }

        var hosts = ResolveHost(s, mask);
        if (hosts is null)
        {
            throw Fail("could not parse host specification", line);
        }

        return hosts;
    }

    private HostNode DynAddr(string spec, int prefix)
    {
        var name = spec;
        var mods = PfIfModifiers.None;
        while (true)
        {
            var colon = name.LastIndexOf(':');
            if (colon < 0)
            {
                break;
            }

            var m = name[(colon + 1)..];
            mods |= m switch
            {
                "network" => PfIfModifiers.Network,
                "broadcast" => PfIfModifiers.Broadcast,
                "peer" => PfIfModifiers.Peer,
                "0" => PfIfModifiers.NoAlias,
                _ => throw Fail("syntax error"),
            };
            name = name[..colon];
        }

        if (name.Length == 0 || name.Length >= 16)
        {
            throw Fail("interface name too long");
        }

        var modeBits = (int)(mods & (PfIfModifiers.Network | PfIfModifiers.Broadcast | PfIfModifiers.Peer));
        if ((modeBits & (modeBits - 1)) != 0)
        {
            throw Fail("illegal combination of interface modifiers");
        }

        return new HostNode(new PfAddr(PfAddrKind.DynamicInterface, default, prefix, Name: name, Modifiers: mods), false, PfFamily.Any);
    }

    private static bool ParseLiteral(string s, int mask, out PfIp ip, out int prefix)
    {
        prefix = mask;
        if (mask >= 0 ? PfAddressText.TryParseV4Net(s, out ip) : PfAddressText.TryParseV4(s, out ip))
        {
            if (mask > 32)
            {
                return false;
            }

            prefix = mask < 0 ? 32 : mask;
            return true;
        }

        if (PfAddressText.TryParseV6(s, out ip))
        {
            prefix = mask < 0 ? 128 : mask;
            return true;
        }

        return false;
    }

    /// <summary>host(): an interface (with modifiers), an IPv4 or IPv6 address; null (after pfctl's warning) otherwise.</summary>
    private List<HostNode>? ResolveHost(string s, int mask)
    {
        var ifHosts = InterfaceHosts(s, mask);
        if (ifHosts is not null)
        {
            return ifHosts;
        }

        if (ParseLiteral(s, mask, out var ip, out var prefix))
        {
            var addr = new PfAddr(PfAddrKind.AddrMask, ip.Mask(prefix), prefix);
            return [new HostNode(addr, false, ip.Family)];
        }

        if (s.Contains('/', StringComparison.Ordinal) || mask > 128)
        {
            Warn($"invalid netmask '{s}'");
            return null;
        }

        Warn($"no IP address found for {s}{(mask >= 0 ? "/" + mask.ToString(CultureInfo.InvariantCulture) : string.Empty)}");
        return null;
    }

    private List<HostNode>? InterfaceHosts(string s, int mask)
    {
        var name = s;
        var mods = PfIfModifiers.None;
        while (true)
        {
            var colon = name.LastIndexOf(':');
            if (colon < 0)
            {
                break;
            }

            var m = name[(colon + 1)..];
            var f = m switch
            {
                "network" => PfIfModifiers.Network,
                "broadcast" => PfIfModifiers.Broadcast,
                "peer" => PfIfModifiers.Peer,
                "0" => PfIfModifiers.NoAlias,
                _ => PfIfModifiers.None,
            };
            if (f == PfIfModifiers.None)
            {
                return null;
            }

            mods |= f;
            name = name[..colon];
        }

        if (name.Length == 0)
        {
            return null;
        }

        IReadOnlyList<PfInterfaceAddress>? addrs = name == "self" ? _options.Interfaces.AllAddresses() : _options.Interfaces.Addresses(name);
        if (addrs is null)
        {
            return null;
        }

        var result = new List<HostNode>();
        bool got4 = false, got6 = false;
        foreach (var a in addrs)
        {
            if ((mods & PfIfModifiers.Broadcast) != 0 && (a.Address.Family != PfFamily.Inet || a.Broadcast is null))
            {
                continue;
            }

            if ((mods & PfIfModifiers.Peer) != 0 && a.Peer is null)
            {
                continue;
            }

            var linkLocal = a.Address.Family == PfFamily.Inet6 && (a.Address.Bits >> 118) == (0xfe80 >> 6);
            if ((mods & PfIfModifiers.Network) != 0 && linkLocal)
            {
                continue;
            }

            if ((mods & PfIfModifiers.NoAlias) != 0)
            {
                if (a.Address.Family == PfFamily.Inet && got4)
                {
                    continue;
                }

                if (a.Address.Family == PfFamily.Inet6 && (linkLocal || got6))
                {
                    continue;
                }
            }

            if (a.Address.Family == PfFamily.Inet)
            {
                got4 = true;
            }
            else
            {
                got6 = true;
            }

            var ip = (mods & PfIfModifiers.Broadcast) != 0 ? a.Broadcast!.Value : (mods & PfIfModifiers.Peer) != 0 ? a.Peer!.Value : a.Address;
            var width = PfIp.Width(ip.Family);
            var prefix = (mods & PfIfModifiers.Network) != 0 ? a.Prefix : width;
            if (mask >= 0)
            {
                prefix = Math.Min(mask, width);
            }

            result.Add(new HostNode(new PfAddr(PfAddrKind.AddrMask, ip.Mask(prefix), prefix), false, ip.Family));
        }

        return result;
    }

    /// <summary><c>port item | port { items }</c> after the <c>port</c> keyword.</summary>
    private List<PfPortRange> PortSpec(bool allowStar = false)
    {
        if (AcceptPunct("{"))
        {
            var list = new List<PfPortRange>();
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                list.Add(PortItem(allowStar));
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

            return list;
        }

        return [PortItem(allowStar)];
    }

    private PfPortRange PortItem(bool allowStar)
    {
        var op = T.Kind == PfTokenKind.Punct ? T.Text switch
        {
            "=" => PfOp.Equal,
            "!=" => PfOp.NotEqual,
            "<" => PfOp.Less,
            "<=" => PfOp.LessOrEqual,
            ">" => PfOp.Greater,
            ">=" => PfOp.GreaterOrEqual,
            _ => PfOp.None,
        } : PfOp.None;
        if (op != PfOp.None)
        {
            Advance();
            var (a, b, range) = PortRange(allowStar);
            if (range)
            {
                throw Syntax();
            }

            return new PfPortRange(op, a, b);
        }

        var (lo, hi, isRange) = PortRange(allowStar);
        if (isRange)
        {
            return new PfPortRange(PfOp.Range, lo, hi);
        }

        if (T.IsPunct("><") || T.IsPunct("<>"))
        {
            var bin = Advance().Text == "><" ? PfOp.InclusiveRange : PfOp.ExclusiveRange;
            var (hi2, _, r2) = PortRange(allowStar);
            if (r2)
            {
                throw Syntax();
            }

            return new PfPortRange(bin, lo, hi2);
        }

        return new PfPortRange(PfOp.Equal, lo, lo);
    }

    private (uint Low, uint High, bool Range) PortRange(bool allowStar)
    {
        if (!T.IsString)
        {
            throw Syntax();
        }

        var line = T.Line;
        var s = Advance().Text;
        var colon = s.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            var p = Service(s, line);
            return (p, p, false);
        }

        var a = Service(s[..colon], line);
        var rest = s[(colon + 1)..];
        if (rest == "*")
        {
            if (!allowStar)
            {
                throw Fail("syntax error", line);
            }

            return (a, uint.MaxValue, true);
        }

        var b = Service(rest, line);
        if (b < a)
        {
            throw Fail("invalid port range", line);
        }

        return (a, b, true);
    }

    private uint Service(string s, int line)
    {
        if (s.Length > 0 && s.All(char.IsAsciiDigit))
        {
            if (!ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v > 65535)
            {
                throw Fail($"illegal port value {(ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var vv) ? vv : ulong.MaxValue)}", line);
            }

            return (uint)v;
        }

        var port = PfNames.ServicePort(s, "tcp");
        if (port < 0)
        {
            port = PfNames.ServicePort(s, "udp");
        }

        if (port < 0)
        {
            throw Fail($"unknown port {s}", line);
        }

        return (uint)port;
    }

    private static readonly Dictionary<string, uint> Users = new(StringComparer.Ordinal)
    {
        ["root"] = 0, ["toor"] = 0, ["daemon"] = 1, ["operator"] = 2, ["bin"] = 3, ["tty"] = 4, ["kmem"] = 5,
        ["games"] = 7, ["news"] = 8, ["man"] = 9, ["sshd"] = 22, ["smmsp"] = 25, ["mailnull"] = 26, ["bind"] = 53,
        ["unbound"] = 59, ["proxy"] = 62, ["_pflogd"] = 64, ["_dhcp"] = 65, ["uucp"] = 66, ["pop"] = 68,
        ["auditdistd"] = 78, ["www"] = 80, ["ntpd"] = 123, ["_ypldap"] = 160, ["hast"] = 845, ["nobody"] = 65534,
    };

    private static readonly Dictionary<string, uint> Groups = new(StringComparer.Ordinal)
    {
        ["wheel"] = 0, ["daemon"] = 1, ["kmem"] = 2, ["sys"] = 3, ["tty"] = 4, ["operator"] = 5, ["mail"] = 6,
        ["bin"] = 7, ["news"] = 8, ["man"] = 9, ["games"] = 13, ["ftp"] = 14, ["staff"] = 20, ["sshd"] = 22,
        ["smmsp"] = 25, ["mailnull"] = 26, ["guest"] = 31, ["video"] = 44, ["realtime"] = 47, ["bind"] = 53,
        ["unbound"] = 59, ["proxy"] = 62, ["authpf"] = 63, ["_pflogd"] = 64, ["_dhcp"] = 65, ["uucp"] = 66,
        ["dialer"] = 68, ["network"] = 69, ["audit"] = 77, ["www"] = 80, ["ntpd"] = 123, ["nogroup"] = 65533,
        ["nobody"] = 65534,
    };

    /// <summary>uid/gid list after <c>user</c>/<c>group</c>.</summary>
    private List<PfPortRange> IdSpec(bool user)
    {
        var list = new List<PfPortRange>();
        if (AcceptPunct("{"))
        {
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                list.Add(IdItem(user));
                SkipComma();
                if (T.Kind == PfTokenKind.Eof)
                {
                    throw Syntax();
                }
            }

            Advance();
            return list.Count == 0 ? throw Syntax() : list;
        }

        list.Add(IdItem(user));
        return list;
    }

    private PfPortRange IdItem(bool user)
    {
        var op = T.Kind == PfTokenKind.Punct ? T.Text switch
        {
            "=" => PfOp.Equal,
            "!=" => PfOp.NotEqual,
            "<" => PfOp.Less,
            "<=" => PfOp.LessOrEqual,
            ">" => PfOp.Greater,
            ">=" => PfOp.GreaterOrEqual,
            _ => PfOp.None,
        } : PfOp.None;
        if (op != PfOp.None)
        {
            Advance();
        }

        var a = Id(user);
        if (op == PfOp.None && (T.IsPunct("><") || T.IsPunct("<>")))
        {
            var bin = Advance().Text == "><" ? PfOp.InclusiveRange : PfOp.ExclusiveRange;
            var b = Id(user);
            return new PfPortRange(bin, a, b);
        }

        return new PfPortRange(op == PfOp.None ? PfOp.Equal : op, a, a);
    }

    private uint Id(bool user)
    {
        if (!T.IsString)
        {
            throw Syntax();
        }

        var line = T.Line;
        var s = Advance().Text;
        if (s == "unknown")
        {
            return user ? uint.MaxValue : uint.MaxValue;
        }

        if (s.All(char.IsAsciiDigit) && s.Length > 0)
        {
            if (!uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v == uint.MaxValue)
            {
                throw Fail(user ? $"illegal uid value {s}" : $"illegal gid value {s}", line);
            }

            return v;
        }

        if ((user ? Users : Groups).TryGetValue(s, out var id))
        {
            return id;
        }

        throw Fail(user ? $"unknown user {s}" : $"unknown group {s}", line);
    }
}
