using System.Globalization;
using Sluice.Cli.Formatting;
using Sluice.Stack;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Links;
using Sluice.Wire;

namespace Sluice.Cli;

/// <summary>
/// ifconfig(8): listing (<c>ifconfig</c>, <c>-a</c>, <c>-l</c>, <c>-g</c>, <c>IF [af]</c>), cloning (<c>epair[N] create</c>,
/// <c>tap[N] create</c> — a Linux TAP device, real-time labs only — and <c>destroy</c>), VNET moves (<c>vnet J</c>, <c>-vnet J</c>) and configuration (<c>inet</c>, <c>inet6</c>, <c>alias</c>,
/// <c>-alias</c>, <c>netmask</c>, <c>prefixlen</c>, <c>up</c>, <c>down</c>, <c>mtu</c>, <c>description</c>, ...).
/// </summary>
/// <remarks>
/// The whole command line is parsed and checked before anything changes, so a failing command changes nothing.
/// Semantics relied on (FreeBSD sbin/ifconfig): an inet address without <c>alias</c> replaces the interface's first inet
/// address (setifaddr's clearaddr); <c>-alias</c>/<c>delete</c> without an address deletes the first one; an inet
/// address without a mask gets its classful mask (kernel in_control; from memory, unconfirmed for 14); an inet6
/// address without a prefix length gets /64; <c>ifconfig epairN create</c> prints <c>epairNa</c> because the
/// created name differs from the requested one.
/// </remarks>
internal sealed class Ifconfig : ITool
{
    private const string UsageText =
        "usage: ifconfig [-j jail] [-f type:format] interface address_family\n"
        + "\t[address [dest_address]] [parameters]\n"
        + "\tifconfig [-j jail] interface create\n"
        + "\tifconfig [-j jail] -a [-dDW] [-u] [address_family]\n"
        + "\tifconfig [-j jail] -l [-du] [address_family]\n"
        + "\tifconfig [-j jail] [-dkLmuv]\n";

    private enum AddressOp
    {
        Set,
        Alias,
        Delete,
    }

    private sealed class Plan
    {
        public bool Create;
        public bool Destroy;
        public bool? Up;
        public int? Mtu;
        public string? Description;
        public bool ClearDescription;
        public string? VnetTo;
        public string? VnetFrom;
        public bool? Promisc;
        public MacAddress? Ether;
        public Nd6Flags Nd6Set;
        public Nd6Flags Nd6Clear;
        public string Family = "inet";
        public string? AddressText;
        public string? NetmaskText;
        public string? PrefixLengthText;
        public AddressOp Op = AddressOp.Set;
        public bool DeleteFirst;
        public bool FamilyOnly;
    }

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        bool all = false, list = false, downOnly = false, upOnly = false;
        string? group = null;
        var opt = new GetOpt(args, "adDf:g:G:j:klLmnuvW");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'a':
                    all = true;
                    break;
                case 'l':
                    list = true;
                    break;
                case 'd':
                    downOnly = true;
                    break;
                case 'u':
                    upOnly = true;
                    break;
                case 'g':
                    group = opt.OptionArgument;
                    break;
                case 'j':
                    {
                        var jail = ctx.Lab.Jail(opt.OptionArgument!);
                        if (jail is null)
                        {
                            return ctx.Fail($"jail \"{opt.OptionArgument}\" not found");
                        }

                        var rest = args[opt.OperandIndex..].ToArray();
                        return ctx.Lab.Run(["ifconfig", .. ReassembleOptions(args, opt.OperandIndex), .. rest], jail, ctx.Out, ctx.Err);
                    }

                case 'D' or 'f' or 'G' or 'k' or 'L' or 'm' or 'n' or 'v' or 'W':
                    break;
                default:
                    ctx.Err.WriteLine(opt.Diagnostic("ifconfig", c));
                    ctx.Err.Write(UsageText);
                    return 1;
            }
        }

        var operands = args[opt.OperandIndex..];
        if (group is not null)
        {
            foreach (var ifp in ctx.Stack.Interfaces)
            {
                if (ifp.Groups.Contains(group) || (group == "all"))
                {
                    ctx.Out.WriteLine(ifp.Name);
                }
            }

            return 0;
        }

        if (list || all || operands.Length == 0)
        {
            string? family = operands.Length > 0 ? operands[0] : null;
            if (operands.Length > 1 || (family is not null && !IsFamily(family)))
            {
                ctx.Err.Write(UsageText);
                return 1;
            }

            var shown = ctx.Stack.Interfaces.Where(i => (!downOnly || !i.IsUp) && (!upOnly || i.IsUp));
            if (list)
            {
                ctx.Out.WriteLine(string.Join(' ', shown.Select(i => i.Name)));
                return 0;
            }

            foreach (var ifp in shown)
            {
                ctx.Out.Write(IfconfigFormat.Status(Status(ifp, family)));
            }

            return 0;
        }

        return Configure(ctx, operands[0], operands[1..]);
    }

    // -j re-dispatches inside the jail; keep the other option words for the inner run.
    private static string[] ReassembleOptions(ReadOnlySpan<string> args, int operandIndex)
    {
        var kept = new List<string>();
        for (var i = 0; i < operandIndex; i++)
        {
            if (args[i].StartsWith("-j", StringComparison.Ordinal))
            {
                if (args[i] == "-j")
                {
                    i++;
                }

                continue;
            }

            kept.Add(args[i]);
        }

        return [.. kept];
    }

    private static bool IsFamily(string s) => s is "inet" or "inet6" or "link" or "ether" or "lladdr";

    private static int Configure(ToolContext ctx, string name, ReadOnlySpan<string> words)
    {
        var plan = new Plan();
        var error = Parse(words, plan);
        if (error is not null)
        {
            return ctx.Fail(error);
        }

        if (plan.Create)
        {
            return Create(ctx, name, plan, words);
        }

        if (plan.VnetFrom is not null)
        {
            return Reclaim(ctx, name, plan.VnetFrom);
        }

        var ifp = ctx.Stack.FindInterface(name);
        if (ifp is null)
        {
            return ctx.Fail($"interface {name} does not exist");
        }

        if (plan.Destroy)
        {
            return Destroy(ctx, ifp);
        }

        if (words.Length == 0 || (plan.FamilyOnly && words.Length == 1))
        {
            ctx.Out.Write(IfconfigFormat.Status(Status(ifp, plan.FamilyOnly ? plan.Family : null)));
            return 0;
        }

        return Apply(ctx, ifp, plan);
    }

    private static string? Parse(ReadOnlySpan<string> words, Plan plan)
    {
        for (var i = 0; i < words.Length; i++)
        {
            var w = words[i];
            string? Next(ref int i, ReadOnlySpan<string> words) => i + 1 < words.Length ? words[++i] : null;
            switch (w)
            {
                case "create" or "plumb":
                    plan.Create = true;
                    break;
                case "destroy" or "unplumb":
                    plan.Destroy = true;
                    break;
                case "up":
                    plan.Up = true;
                    break;
                case "down":
                    plan.Up = false;
                    break;
                case "inet" or "inet6" or "link" or "ether" or "lladdr" when i == 0 || plan.AddressText is null:
                    plan.Family = w == "ether" || w == "lladdr" ? "link" : w;
                    plan.FamilyOnly = i == 0;
                    break;
                case "alias" or "add":
                    plan.Op = AddressOp.Alias;
                    break;
                case "-alias" or "delete" or "remove":
                    plan.Op = AddressOp.Delete;
                    break;
                case "netmask":
                    plan.NetmaskText = Next(ref i, words);
                    if (plan.NetmaskText is null)
                    {
                        return "'netmask' requires argument";
                    }

                    break;
                case "prefixlen":
                    plan.PrefixLengthText = Next(ref i, words);
                    if (plan.PrefixLengthText is null)
                    {
                        return "'prefixlen' requires argument";
                    }

                    break;
                case "broadcast":
                    {
                        var b = Next(ref i, words);
                        if (b is null)
                        {
                            return "'broadcast' requires argument";
                        }

                        if (!IPv4Address.TryParse(b, out _))
                        {
                            return $"{b}: bad value";
                        }

                        break;
                    }

                case "mtu":
                    {
                        var v = Next(ref i, words);
                        if (v is null)
                        {
                            return "'mtu' requires argument";
                        }

                        if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var mtu))
                        {
                            return "mtu: bad value"; // unconfirmed wording
                        }

                        plan.Mtu = mtu;
                        break;
                    }

                case "description" or "descr":
                    plan.Description = Next(ref i, words);
                    if (plan.Description is null)
                    {
                        return $"'{w}' requires argument";
                    }

                    break;
                case "-description" or "-descr":
                    plan.ClearDescription = true;
                    break;
                case "vnet":
                    plan.VnetTo = Next(ref i, words);
                    if (plan.VnetTo is null)
                    {
                        return "'vnet' requires argument";
                    }

                    break;
                case "-vnet":
                    plan.VnetFrom = Next(ref i, words);
                    if (plan.VnetFrom is null)
                    {
                        return "'-vnet' requires argument";
                    }

                    break;
                case "promisc":
                    plan.Promisc = true;
                    break;
                case "-promisc":
                    plan.Promisc = false;
                    break;
                case "group" or "-group" or "name":
                    // The stack's interface groups and names are fixed at creation.
                    return Next(ref i, words) is null ? $"'{w}' requires argument" : $"{w}: not supported by sluice";

                case "ifdisabled":
                    plan.Nd6Set |= Nd6Flags.IfDisabled;
                    break;
                case "-ifdisabled":
                    plan.Nd6Clear |= Nd6Flags.IfDisabled;
                    break;
                case "auto_linklocal":
                    plan.Nd6Set |= Nd6Flags.AutoLinkLocal;
                    break;
                case "-auto_linklocal":
                    plan.Nd6Clear |= Nd6Flags.AutoLinkLocal;
                    break;
                case "accept_rtadv":
                    plan.Nd6Set |= Nd6Flags.AcceptRtadv;
                    break;
                case "-accept_rtadv":
                    plan.Nd6Clear |= Nd6Flags.AcceptRtadv;
                    break;
                case "nud" or "performnud":
                    plan.Nd6Set |= Nd6Flags.PerformNud;
                    break;
                case "-nud" or "-performnud":
                    plan.Nd6Clear |= Nd6Flags.PerformNud;
                    break;
                case "no_dad":
                    plan.Nd6Set |= Nd6Flags.NoDad;
                    break;
                case "-no_dad":
                    plan.Nd6Clear |= Nd6Flags.NoDad;
                    break;
                case "-arp" or "arp" or "-link0" or "link0" or "-link1" or "link1" or "-link2" or "link2" or "debug" or "-debug"
                    or "-txcsum" or "txcsum" or "-rxcsum" or "rxcsum" or "-tso" or "tso" or "-lro" or "lro" or "metric":
                    if (w == "metric" && Next(ref i, words) is null)
                    {
                        return "'metric' requires argument";
                    }

                    break;
                default:
                    if (plan.Family == "link")
                    {
                        if (!MacAddress.TryParse(w, out var mac))
                        {
                            return "malformed link-level address";
                        }

                        plan.Ether = mac;
                        break;
                    }

                    if (plan.AddressText is null)
                    {
                        plan.AddressText = w;
                        var check = CheckAddress(plan.Family, w);
                        if (check is not null)
                        {
                            return check;
                        }
                    }
                    else
                    {
                        // A second address is the destination of a point-to-point link: meaningless on epair/lo.
                        var check = CheckAddress(plan.Family, w);
                        if (check is not null)
                        {
                            return check;
                        }
                    }

                    break;
            }
        }

        if (plan.Op == AddressOp.Delete && plan.AddressText is null)
        {
            plan.DeleteFirst = true;
        }

        if (plan.NetmaskText is not null && (plan.Family != "inet" || !TryParseNetmask(plan.NetmaskText, out _)))
        {
            return $"{plan.NetmaskText}: bad value";
        }

        if (plan.PrefixLengthText is not null
            && (plan.Family != "inet6" || !int.TryParse(plan.PrefixLengthText, NumberStyles.None, CultureInfo.InvariantCulture, out var pl) || pl > 128))
        {
            return $"{plan.PrefixLengthText}: bad value";
        }

        return null;
    }

    private static string? CheckAddress(string family, string text) => family switch
    {
        "inet" => TryParseInet(text, out _, out _) ? null : $"{text}: bad value",
        "inet6" => TryParseInet6(text, out _, out _) ? null : $"{text}: bad value",
        _ => $"{text}: bad value",
    };

    /// <summary>Parses <c>a.b.c.d[/len]</c>; len -1 when absent.</summary>
    internal static bool TryParseInet(string text, out IPv4Address address, out int prefix)
    {
        prefix = -1;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var a = slash < 0 ? text : text[..slash];
        if (!IPv4Address.TryParse(a, out address))
        {
            return false;
        }

        if (slash >= 0)
        {
            return int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) && prefix <= 32;
        }

        return true;
    }

    /// <summary>Parses <c>addr[%scope][/len]</c>; len -1 when absent.</summary>
    internal static bool TryParseInet6(string text, out IPv6Address address, out int prefix)
    {
        prefix = -1;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var a = slash < 0 ? text : text[..slash];
        var percent = a.IndexOf('%', StringComparison.Ordinal);
        if (percent >= 0)
        {
            if (percent == a.Length - 1)
            {
                address = default;
                return false; // "fe80::1%": an empty zone
            }

            a = a[..percent];
        }

        if (!IPv6Address.TryParse(a, out address))
        {
            return false;
        }

        if (slash >= 0)
        {
            return int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) && prefix <= 128;
        }

        return true;
    }

    /// <summary>A contiguous netmask as <c>0xffffff00</c>, dotted quad, or plain hex digits; returns the prefix length.</summary>
    internal static bool TryParseNetmask(string text, out int prefix)
    {
        prefix = 0;
        uint mask;
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            if (!uint.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out mask) || text.Length > 10)
            {
                return false;
            }
        }
        else if (IPv4Address.TryParse(text, out var dotted))
        {
            mask = dotted.Value;
        }
        else
        {
            return false;
        }

        prefix = System.Numerics.BitOperations.PopCount(mask);
        return prefix == 0 ? mask == 0 : System.Numerics.BitOperations.LeadingZeroCount(~mask) == prefix;
    }

    private static int ClassfulPrefix(IPv4Address a) => (a.Value >> 24) switch
    {
        < 128 => 8,
        < 192 => 16,
        < 224 => 24,
        _ => 32,
    };

    private static int Apply(ToolContext ctx, NetworkInterface ifp, Plan plan)
    {
        // Checks that need the interface, before anything changes.
        LabJail? target = null;
        if (plan.VnetTo is not null)
        {
            target = ctx.Lab.Jail(plan.VnetTo);
            if (target is null)
            {
                return ctx.Fail($"jail \"{plan.VnetTo}\" not found");
            }

            if (!target.Vnet || ifp.IsLoopback || ReferenceEquals(target.Stack, ctx.Stack))
            {
                return ctx.Fail("SIOCSIFVNET: Invalid argument"); // unconfirmed wording
            }

            if (target.Stack.FindInterface(ifp.Name) is not null)
            {
                return ctx.Fail("SIOCSIFVNET: File exists");
            }
        }

        if (plan.Mtu is int mtu && (mtu < 72 || mtu > (ifp.IsLoopback ? 65535 : 9216)))
        {
            return ctx.Fail("ioctl SIOCSIFMTU (set mtu): Invalid argument");
        }

        IPv4Address v4 = default;
        IPv6Address v6 = default;
        var prefix = -1;
        var hasAddress = plan.AddressText is not null;
        if (hasAddress && plan.Family == "inet")
        {
            TryParseInet(plan.AddressText!, out v4, out prefix);
            if (plan.NetmaskText is not null)
            {
                TryParseNetmask(plan.NetmaskText, out prefix);
            }

            if (prefix < 0)
            {
                prefix = ClassfulPrefix(v4);
            }

            if (plan.Op == AddressOp.Delete && !ifp.IPv4Addresses.Any(a => a.Address == v4))
            {
                return ctx.Fail("ioctl (SIOCDIFADDR): Can't assign requested address");
            }
        }
        else if (hasAddress && plan.Family == "inet6")
        {
            TryParseInet6(plan.AddressText!, out v6, out prefix);
            var literal = plan.AddressText!.Split('/')[0];
            if (literal.Contains('%', StringComparison.Ordinal))
            {
                // in6_getaddr → getaddrinfo reads the zone; in6_update_ifa refuses a zone that is not this interface.
                if (!ScopedAddress.TryParse(literal, ctx.Stack, out _, out var zone, out _))
                {
                    return ctx.Fail($"{plan.AddressText}: bad value");
                }

                if (zone is not null && zone != ifp)
                {
                    return ctx.Fail("ioctl (SIOCAIFADDR_IN6): Invalid argument");
                }
            }

            if (plan.PrefixLengthText is not null)
            {
                prefix = int.Parse(plan.PrefixLengthText, CultureInfo.InvariantCulture);
            }

            if (prefix < 0)
            {
                prefix = 64;
            }

            if (plan.Op == AddressOp.Delete && !ifp.IPv6Addresses.Any(a => a.Address == v6))
            {
                return ctx.Fail("ioctl (SIOCDIFADDR_IN6): Can't assign requested address");
            }
        }

        if (plan.DeleteFirst)
        {
            var none = plan.Family == "inet6" ? ifp.IPv6Addresses.Count == 0 : ifp.IPv4Addresses.Count == 0;
            if (none)
            {
                return ctx.Fail(plan.Family == "inet6"
                    ? "ioctl (SIOCDIFADDR_IN6): Can't assign requested address"
                    : "ioctl (SIOCDIFADDR): Can't assign requested address");
            }
        }

        // Apply, in FreeBSD's order: flags and parameters as they come, the address at the end.
        if (plan.Description is not null)
        {
            ifp.Description = plan.Description;
        }

        if (plan.ClearDescription)
        {
            ifp.Description = null;
        }

        if (plan.Mtu is int m)
        {
            var err = ifp.TrySetMtu(m);
            if (err is not null)
            {
                return ctx.Fail(err);
            }
        }

        if (plan.Ether is MacAddress mac)
        {
            ifp.HardwareAddress = mac;
        }

        if (plan.Promisc is bool p)
        {
            ifp.SetPromiscuous(p);
        }

        ifp.SetNd6Flags((ifp.Nd6Flags | plan.Nd6Set) & ~plan.Nd6Clear);
        if (plan.Up == true)
        {
            ifp.SetUp(true);
        }

        if (plan.DeleteFirst)
        {
            if (plan.Family == "inet6")
            {
                ifp.RemoveAddress(ifp.IPv6Addresses[0].Address);
            }
            else
            {
                ifp.RemoveAddress(ifp.IPv4Addresses[0].Address);
            }
        }
        else if (hasAddress && plan.Family == "inet")
        {
            if (plan.Op == AddressOp.Delete)
            {
                ifp.RemoveAddress(v4);
            }
            else
            {
                if (plan.Op == AddressOp.Set && ifp.IPv4Addresses.Count > 0 && ifp.IPv4Addresses[0].Address != v4)
                {
                    ifp.RemoveAddress(ifp.IPv4Addresses[0].Address);
                }

                ifp.AddAddress(v4, prefix);
            }
        }
        else if (hasAddress && plan.Family == "inet6")
        {
            if (plan.Op == AddressOp.Delete)
            {
                ifp.RemoveAddress(v6);
            }
            else
            {
                ifp.AddAddress(v6, prefix);
            }
        }

        if (plan.Up == false)
        {
            ifp.SetUp(false);
        }

        if (target is not null)
        {
            VnetMove.Move(ifp, ctx.Stack, target.Stack);
        }

        if (plan.Destroy)
        {
            return Destroy(ctx, ifp);
        }

        return 0;
    }

    private static int Create(ToolContext ctx, string name, Plan plan, ReadOnlySpan<string> words)
    {
        if (name.StartsWith("tap", StringComparison.Ordinal))
        {
            return CreateTap(ctx, name, words);
        }

        if (!name.StartsWith("epair", StringComparison.Ordinal))
        {
            return ctx.Fail($"SIOCIFCREATE2 ({name}): Invalid argument");
        }

        var unitText = name["epair".Length..];
        int unit;
        if (unitText.Length == 0)
        {
            unit = ctx.Lab.AllocateUnit("epair", u => ctx.Lab.Epairs.ContainsKey(u));
            if (unit < 0)
            {
                return ctx.Fail($"SIOCIFCREATE2 ({name}): No space left on device");
            }
        }
        else if (!int.TryParse(unitText, NumberStyles.None, CultureInfo.InvariantCulture, out unit) || unit > 32767
                 || (unitText.Length > 1 && unitText[0] == '0'))
        {
            return ctx.Fail($"SIOCIFCREATE2 ({name}): Invalid argument");
        }
        else if (ctx.Lab.Epairs.ContainsKey(unit))
        {
            return ctx.Fail($"SIOCIFCREATE2 ({name}): File exists");
        }

        var aName = $"epair{unit}a";
        var bName = $"epair{unit}b";
        if (ctx.Stack.FindInterface(aName) is not null || ctx.Stack.FindInterface(bName) is not null)
        {
            return ctx.Fail($"SIOCIFCREATE2 ({name}): File exists");
        }

        // Check the remaining parameters before creating anything.
        var rest = words.ToArray().Where(w => w is not ("create" or "plumb")).ToArray();
        var restPlan = new Plan();
        var error = Parse(rest, restPlan);
        if (error is not null)
        {
            return ctx.Fail(error);
        }

        var (linkA, linkB) = EpairLink.CreatePair(ctx.Lab.Loop, unit);
        var a = ctx.Stack.CreateInterface(aName, linkA, "epair");
        var b = ctx.Stack.CreateInterface(bName, linkB, "epair");
        ctx.Lab.Epairs[unit] = (a, b);
        ctx.Out.WriteLine(aName);
        return rest.Length == 0 ? 0 : Apply(ctx, a, restPlan);
    }

    /// <summary>
    /// <c>ifconfig tap[N] create</c> (tap(4)'s cloner): a Linux TAP device named the lab's Linux prefix plus the
    /// interface name, and an interface of that name over it. Real-time labs only.
    /// </summary>
    private static int CreateTap(ToolContext ctx, string name, ReadOnlySpan<string> words)
    {
        var unitText = name["tap".Length..];
        int unit;
        if (unitText.Length == 0)
        {
            unit = ctx.Lab.AllocateUnit("tap", u => ctx.Lab.Taps.ContainsKey(u));
            if (unit < 0)
            {
                return ctx.Fail($"SIOCIFCREATE2 ({name}): No space left on device");
            }
        }
        else if (!int.TryParse(unitText, NumberStyles.None, CultureInfo.InvariantCulture, out unit) || unit > 32767
                 || (unitText.Length > 1 && unitText[0] == '0'))
        {
            return ctx.Fail($"SIOCIFCREATE2 ({name}): Invalid argument");
        }

        var tapName = $"tap{unit}";
        if (ctx.Lab.Taps.ContainsKey(unit) || ctx.Stack.FindInterface(tapName) is not null)
        {
            return ctx.Fail($"SIOCIFCREATE2 ({name}): File exists");
        }

        if (!ctx.Lab.IsRealTime)
        {
            return ctx.Fail($"SIOCIFCREATE2 ({name}): Operation not supported in a virtual-time lab");
        }

        var rest = words.ToArray().Where(w => w is not ("create" or "plumb")).ToArray();
        var restPlan = new Plan();
        var error = Parse(rest, restPlan);
        if (error is not null)
        {
            return ctx.Fail(error);
        }

        TapLink link;
        try
        {
            link = TapLink.Open(ctx.Lab.LinuxInterfacePrefix + tapName, ctx.Lab.Loop);
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return ctx.Fail($"SIOCIFCREATE2 ({name}): {e.Message}");
        }

        var ifp = ctx.Stack.CreateInterface(tapName, link, "tap");
        ctx.Lab.Taps[unit] = ifp;
        if (unitText.Length == 0)
        {
            // Like epair, ifconfig prints the name when it differs from the one asked for.
            ctx.Out.WriteLine(tapName);
        }

        return rest.Length == 0 ? 0 : Apply(ctx, ifp, restPlan);
    }

    private static int Destroy(ToolContext ctx, NetworkInterface ifp)
    {
        if (ifp.Kind == "tap")
        {
            foreach (var (unit, tap) in ctx.Lab.Taps)
            {
                if (tap == ifp)
                {
                    ctx.Lab.Taps.Remove(unit);
                    break;
                }
            }

            CloseCaptures(ctx, ifp);
            ifp.Stack.DestroyInterface(ifp);
            return 0;
        }

        if (ifp.Kind != "epair")
        {
            return ctx.Fail("SIOCIFDESTROY: Invalid argument");
        }

        foreach (var (unit, pair) in ctx.Lab.Epairs)
        {
            if (pair.A == ifp || pair.B == ifp)
            {
                CloseCaptures(ctx, pair.A);
                CloseCaptures(ctx, pair.B);
                pair.A.Stack.DestroyInterface(pair.A);
                pair.B.Stack.DestroyInterface(pair.B);
                ctx.Lab.Epairs.Remove(unit);
                return 0;
            }
        }

        ifp.Stack.DestroyInterface(ifp);
        return 0;
    }

    // A capture ends when its interface goes (tcpdump exits when its BPF device loses the interface).
    private static void CloseCaptures(ToolContext ctx, NetworkInterface ifp)
    {
        foreach (var capture in ctx.Lab.Captures.ToArray())
        {
            if (capture.Interface == ifp)
            {
                capture.Close();
            }
        }
    }

    private static int Reclaim(ToolContext ctx, string name, string jailName)
    {
        var jail = ctx.Lab.Jail(jailName);
        if (jail is null)
        {
            return ctx.Fail($"jail \"{jailName}\" not found");
        }

        var ifp = jail.Stack.FindInterface(name);
        if (ifp is null || !jail.Vnet || ReferenceEquals(jail.Stack, ctx.Stack))
        {
            return ctx.Fail("SIOCSIFRVNET: Invalid argument"); // unconfirmed wording
        }

        if (ctx.Stack.FindInterface(name) is not null)
        {
            return ctx.Fail("SIOCSIFRVNET: File exists");
        }

        VnetMove.Move(ifp, jail.Stack, ctx.Stack);
        return 0;
    }

    /// <summary>Collects what ifconfig prints about <paramref name="ifp"/>; <paramref name="family"/> limits the addresses.</summary>
    internal static InterfaceStatus Status(NetworkInterface ifp, string? family)
    {
        var inet = family is null or "inet"
            ? ifp.IPv4Addresses.Select(a => new Inet4Line(a.Address.ToString(), IPv4Address.MaskFromPrefix(a.PrefixLength).Value, a.Broadcast?.ToString())).ToList()
            : [];
        var inet6 = family is null or "inet6"
            ? ifp.IPv6Addresses.Select(a => new Inet6Line(
                a.Address.IsLinkLocal ? $"{a.Address}%{ifp.Name}" : a.Address.ToString(),
                a.PrefixLength,
                (uint)a.Flags,
                a.Address.IsLinkLocal ? ifp.Index : 0)).ToList()
            : [];
        var isEpair = ifp.Kind == "epair";
        return new InterfaceStatus(
            ifp.Name,
            (uint)ifp.Flags,
            ifp.Mtu,
            ifp.Description,
            ifp.IsLoopback ? 0x680003u : 0x8u,
            ifp.IsLoopback ? null : ifp.HardwareAddress.ToString(),
            inet,
            inet6,
            ifp.Groups,
            isEpair ? "Ethernet 10Gbase-T (10Gbase-T <full-duplex>)" : ifp.IsLoopback ? null : "Ethernet autoselect",
            ifp.IsLoopback ? null : ifp.Link?.IsUp == true ? "active" : "no carrier",
            (uint)ifp.Nd6Flags);
    }
}
