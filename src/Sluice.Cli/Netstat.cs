using System.Globalization;
using System.Text;
using Sluice.Cli.Formatting;
using Sluice.Stack;
using Sluice.Stack.Routing;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Wire;

namespace Sluice.Cli;

/// <summary>
/// netstat(1): <c>-r</c> routing tables, <c>-i</c> interfaces (<c>-b</c> bytes), <c>-s</c> protocol statistics (<c>-p proto</c>),
/// with <c>-n</c>, <c>-W</c>, <c>-4</c>, <c>-6</c>, <c>-f inet|inet6</c>; no mode lists TCP and UDP sockets (<c>-a</c>: listeners too).
/// </summary>
internal sealed class Netstat : ITool
{
    private const string UsageText =
        "usage: netstat [-46AaCcLnRSTWx] [-f protocol_family | -p protocol]\n"
        + "               [-j jail] [-M core] [-N system]\n"
        + "       netstat -i | -I interface [-46abdhnW] [-f address_family]\n"
        + "               [-j jail] [-M core] [-N system]\n"
        + "       netstat -w wait [-I interface] [-46d] [-M core] [-N system]\n"
        + "               [-j jail] [-q howmany]\n"
        + "       netstat -s [-46sz] [-f protocol_family | -p protocol]\n"
        + "               [-j jail] [-M core]\n"
        + "       netstat -r [-46AnW] [-F fibnum] [-f address_family]\n"
        + "               [-j jail] [-M core] [-N system]\n";

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        bool routes = false, interfaces = false, stats = false, numeric = false, bytes = false, wide = false, v4 = true, v6 = true, all = false;
        var statsLevel = 0;
        string? protocol = null, onlyInterface = null;
        var opt = new GetOpt(args, "46AaBbCcdF:f:ghI:ij:LlM:mN:nOoP:p:Qq:RrSsTuWw:xz");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case '4':
                    v6 = false;
                    v4 = true;
                    break;
                case '6':
                    v4 = false;
                    v6 = true;
                    break;
                case 'f':
                    switch (opt.OptionArgument)
                    {
                        case "inet":
                            (v4, v6) = (true, false);
                            break;
                        case "inet6":
                            (v4, v6) = (false, true);
                            break;
                        case "link" or "unix" or "local" or "netgraph" or "ng" or "pfkey":
                            (v4, v6) = (false, false);
                            break;
                        default:
                            ctx.Err.WriteLine($"netstat: {opt.OptionArgument}: unknown address family");
                            return 1;
                    }

                    break;
                case 'r':
                    routes = true;
                    break;
                case 'a':
                    all = true;
                    break;
                case 'i':
                    interfaces = true;
                    break;
                case 'I':
                    interfaces = true;
                    onlyInterface = opt.OptionArgument;
                    break;
                case 's':
                    stats = true;
                    statsLevel++;
                    break;
                case 'p':
                    protocol = opt.OptionArgument;
                    break;
                case 'n':
                    numeric = true;
                    break;
                case 'b':
                    bytes = true;
                    break;
                case 'W':
                    wide = true;
                    break;
                case 'w':
                    return ctx.Fail("-w: interval display is not supported in a lab", 1);
                default:
                    if (c is '?' or ':')
                    {
                        ctx.Err.WriteLine(opt.Diagnostic("netstat", c));
                        ctx.Err.Write(UsageText);
                        return 1;
                    }

                    break;
            }
        }

        if (opt.OperandIndex < args.Length)
        {
            ctx.Err.Write(UsageText);
            return 1;
        }

        if (stats)
        {
            return Statistics(ctx, protocol, v4, v6, statsLevel);
        }

        if (routes)
        {
            // Sluice has no name service: names print as numbers, so -n changes nothing but the widths, which are -n's.
            _ = numeric;
            ctx.Out.Write(RoutingTables(ctx.Stack, v4, v6, numeric: true, wide));
            return 0;
        }

        if (interfaces)
        {
            if (onlyInterface is not null && ctx.Stack.FindInterface(onlyInterface) is null)
            {
                return ctx.Fail($"{onlyInterface}: no such interface"); // unconfirmed wording
            }

            ctx.Out.Write(InterfaceTable(ctx.Stack, v4, v6, bytes, onlyInterface));
            return 0;
        }

        switch (protocol)
        {
            case null or "tcp" or "udp":
                ctx.Out.Write(Sockets(ctx.Stack, all, numeric, v4, v6, protocol));
                return 0;
            case "ip" or "icmp" or "ip6" or "icmp6" or "sctp" or "igmp" or "carp" or "pfsync" or "divert" or "pim" or "rip6" or "udplite" or "arp":
                return 0;
            default:
                return ctx.Fail($"{protocol}: unknown protocol");
        }
    }

    /// <summary>
    /// <c>netstat [-a] [-n]</c>: TCP connections, then UDP sockets, newest first, under one title and header that
    /// appear only with the first row (protopr) [src]. Without <c>-a</c>, listeners and sockets bound to the wildcard
    /// address are left out.
    /// </summary>
    internal static string Sockets(NetStack stack, bool all, bool numeric, bool v4, bool v6, string? protocol)
    {
        var rows = new List<SocketRow>();
        if (protocol is null or "tcp")
        {
            var list = stack.Tcp.Connections();
            var connections = list.Where(c => c.State != TcpState.Listen).Reverse();
            var listeners = list.Where(c => c.State == TcpState.Listen).Reverse();
            foreach (var c in connections.Concat(listeners))
            {
                var ipv6 = c.Local.Address.IsIPv6;
                if ((ipv6 ? !v6 : !v4) || (!all && (c.State == TcpState.Listen || c.Local.Address.IsUnspecified)))
                {
                    continue;
                }

                rows.Add(Row(stack, "tcp", c.Local, c.Foreign, c.ReceiveQueue, c.SendQueue, TcpStateNames.Of(c.State), numeric));
            }
        }

        if (protocol is null or "udp")
        {
            foreach (var u in stack.UdpSockets.Reverse())
            {
                if ((u.IsIPv6 ? !v6 : !v4) || (!all && u.LocalEndpoint.Address.IsUnspecified))
                {
                    continue;
                }

                var foreign = u.RemoteEndpoint ?? new InetEndpoint(u.IsIPv6 ? IPv6Address.Any : IPv4Address.Any, 0);
                rows.Add(Row(stack, "udp", u.LocalEndpoint, foreign, u.QueuedBytes, 0, null, numeric));
            }
        }

        if (rows.Count == 0)
        {
            return string.Empty;
        }

        var sb = new StringBuilder(NetstatSockets.Title(all)).Append(NetstatSockets.Header());
        foreach (var r in rows)
        {
            sb.Append(NetstatSockets.Line(r));
        }

        return sb.ToString();
    }

    // Sluice has no name service: addresses are always numeric. Ports follow protopr: with -n numeric; otherwise the local
    // port is named unless it is an anonymous (ephemeral) one, and the foreign port is named only when both ports match.
    private static SocketRow Row(NetStack stack, string proto, InetEndpoint local, InetEndpoint foreign, long recvQ, long sendQ, string? state, bool numeric)
    {
        var anonymous = local.Port >= 10000;
        return new SocketRow(
            proto,
            local.Address.IsIPv6 ? "6" : "4",
            recvQ,
            sendQ,
            AddressText(local.Address, stack),
            local.Port,
            AddressText(foreign.Address, stack),
            foreign.Port,
            state,
            LocalNumericPort: numeric || anonymous,
            ForeignNumericPort: numeric || (!anonymous && local.Port != foreign.Port));
    }

    // inet6print → inet6name: getnameinfo(NI_NUMERICHOST) prints a scoped address with its zone (fe80::1%epair0a).
    private static string AddressText(InetAddress address, NetStack stack) => address.IsUnspecified ? "*" : address.ToString(stack);

    /// <summary><c>netstat -rn</c>: the title, then Internet and Internet6 sections.</summary>
    /// <remarks>Sluice has no name service, so the output is always numeric (<c>-n</c> widths).</remarks>
    internal static string RoutingTables(NetStack stack, bool v4, bool v6, bool numeric, bool wide)
    {
        _ = wide;
        var sb = new StringBuilder("Routing tables\n");
        var now = stack.Loop.Now;
        if (v4)
        {
            var rows = stack.Routes4.Entries.Select(r => new RouteRow(
                Destination4(r),
                r.Gateway is { } g ? g.ToString() : Link(r.GatewayInterfaceIndex, r.InterfaceIndex),
                r.Flags.FormatNetstatFlags(),
                NetifName(stack, r.InterfaceIndex, r.Flags),
                Remaining(r.Expire, now)));
            sb.Append(NetstatFormat.RouteSection(inet6: false, numeric, rows));
        }

        if (v6)
        {
            var rows = stack.Routes6.Entries.Select(r => new RouteRow(
                Destination6(stack, r),
                r.Gateway is { } g ? (g.IsLinkLocal ? $"{g}%{IfName(stack, r.InterfaceIndex)}" : g.ToString()) : Link(r.GatewayInterfaceIndex, r.InterfaceIndex),
                r.Flags.FormatNetstatFlags(),
                NetifName(stack, r.InterfaceIndex, r.Flags),
                Remaining(r.Expire, now)));
            sb.Append(NetstatFormat.RouteSection(inet6: true, numeric, rows));
        }

        return sb.ToString();
    }

    // Routes to the stack's own addresses leave through lo0 but name the owning interface as link#N [sample].
    private static string Link(int gatewayInterfaceIndex, int interfaceIndex) =>
        $"link#{(gatewayInterfaceIndex != 0 ? gatewayInterfaceIndex : interfaceIndex)}";

    private static long Remaining(long expire, long now) => expire > 0 ? Math.Max(0, (expire - now) / 1_000_000_000) : 0;

    // A route to a local address goes out lo0 while its gateway names the address's own interface (link#N).
    private static string NetifName(NetStack stack, int ifIndex, RouteFlags flags) =>
        (flags & RouteFlags.Local) != 0 ? stack.Loopback.Name : IfName(stack, ifIndex);

    private static string IfName(NetStack stack, int ifIndex) => stack.InterfaceByIndex(ifIndex)?.Name ?? $"if{ifIndex}";

    internal static string Destination4(Route<IPv4Address> r) =>
        r.IsDefault ? "default" : r.PrefixLength == 32 ? r.Destination.ToString() : $"{r.Destination}/{r.PrefixLength}";

    internal static string Destination6(NetStack stack, Route<IPv6Address> r)
    {
        if (r.IsDefault)
        {
            return "default";
        }

        // p_sockaddr: a scoped destination shows its zone (fe80::%lo0/64, fe80::1%lo0); fe80::/10 itself has none.
        var text = r.Destination.ToString();
        if (r.Zone != 0)
        {
            text += "%" + IfName(stack, r.Zone);
        }

        return r.PrefixLength == 128 ? text : $"{text}/{r.PrefixLength}";
    }

    /// <summary><c>netstat -i</c>: one link row per interface, then a row per address of the shown families.</summary>
    /// <remarks>
    /// Address rows show the address's own counters (ifa_ipackets/ifa_opackets, with -b ifa_ibytes/ifa_obytes) and
    /// <c>-</c> for errors, drops and collisions, as intpr does.
    /// </remarks>
    internal static string InterfaceTable(NetStack stack, bool v4, bool v6, bool bytes, string? only)
    {
        var sb = new StringBuilder(NetstatFormat.InterfaceHeader(bytes));
        foreach (var ifp in stack.Interfaces)
        {
            if (only is not null && ifp.Name != only)
            {
                continue;
            }

            var k = ifp.Counters;
            sb.Append(NetstatFormat.InterfaceLine(
                new InterfaceRow(ifp.Name, ifp.IsUp, ifp.Mtu, $"<Link#{ifp.Index}>", ifp.IsLoopback ? ifp.Name : ifp.HardwareAddress.ToString(),
                    k.InputPackets, k.InputErrors, k.InputDrops, k.InputBytes, k.OutputPackets, k.OutputErrors, k.OutputBytes, k.Collisions),
                bytes));
            if (v6)
            {
                foreach (var a in ifp.IPv6Addresses)
                {
                    var network = a.Address.Mask(a.PrefixLength).ToString() + (a.Address.IsLinkLocal ? "%" + ifp.Name : string.Empty)
                        + "/" + a.PrefixLength.ToString(CultureInfo.InvariantCulture);
                    var n = a.Counters;
                    sb.Append(NetstatFormat.InterfaceLine(
                        new InterfaceRow(ifp.Name, ifp.IsUp, null, network, a.Address.ToString(), n.InputPackets, null, null, n.InputBytes,
                            n.OutputPackets, null, n.OutputBytes, null), bytes));
                }
            }

            if (v4)
            {
                foreach (var a in ifp.IPv4Addresses)
                {
                    var network = $"{a.Address.Mask(a.PrefixLength)}/{a.PrefixLength}";
                    var n = a.Counters;
                    sb.Append(NetstatFormat.InterfaceLine(
                        new InterfaceRow(ifp.Name, ifp.IsUp, null, network, a.Address.ToString(), n.InputPackets, null, null, n.InputBytes,
                            n.OutputPackets, null, n.OutputBytes, null), bytes));
                }
            }
        }

        return sb.ToString();
    }

    private static int Statistics(ToolContext ctx, string? protocol, bool v4, bool v6, int level)
    {
        var zeros = level <= 1;
        var stack = ctx.Stack;
        switch (protocol)
        {
            case null:
                if (v4)
                {
                    ctx.Out.Write(ProtocolStatistics.Tcp(stack.Tcp.Statistics, StateCounts(stack), zeros));
                    ctx.Out.Write(ProtocolStatistics.Udp(stack.Udp, zeros));
                    ctx.Out.Write(ProtocolStatistics.Ip(stack.Ip, zeros));
                    ctx.Out.Write(ProtocolStatistics.Icmp(stack.Icmp, zeros));
                }

                if (v6)
                {
                    ctx.Out.Write(ProtocolStatistics.Ip6(stack.Ip6, zeros));
                    ctx.Out.Write(ProtocolStatistics.Icmp6(stack.Icmp6, zeros));
                }

                return 0;
            case "ip":
                ctx.Out.Write(ProtocolStatistics.Ip(stack.Ip, zeros));
                return 0;
            case "icmp":
                ctx.Out.Write(ProtocolStatistics.Icmp(stack.Icmp, zeros));
                return 0;
            case "udp":
                ctx.Out.Write(ProtocolStatistics.Udp(stack.Udp, zeros));
                return 0;
            case "ip6":
                ctx.Out.Write(ProtocolStatistics.Ip6(stack.Ip6, zeros));
                return 0;
            case "icmp6":
                ctx.Out.Write(ProtocolStatistics.Icmp6(stack.Icmp6, zeros));
                return 0;
            case "tcp":
                ctx.Out.Write(ProtocolStatistics.Tcp(stack.Tcp.Statistics, StateCounts(stack), zeros));
                return 0;
            case "sctp" or "igmp" or "arp" or "carp" or "pfsync" or "divert" or "pim" or "rip6" or "udplite":
                return 0;
            default:
                return ctx.Fail($"{protocol}: unknown protocol");
        }
    }

    /// <summary>net.inet.tcp.states: control blocks per state (listeners included).</summary>
    internal static long[] StateCounts(NetStack stack)
    {
        var counts = new long[11];
        foreach (var c in stack.Tcp.Connections())
        {
            counts[(int)c.State]++;
        }

        return counts;
    }
}
