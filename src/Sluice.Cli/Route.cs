using System.Globalization;
using Sluice.Stack;
using Sluice.Stack.Routing;
using Sluice.Wire;

namespace Sluice.Cli;

/// <summary>
/// route(8): <c>add</c>, <c>delete</c>, <c>change</c>, <c>get</c>/<c>show</c> and <c>flush</c> with <c>-net</c>, <c>-host</c>,
/// <c>-inet</c>, <c>-inet6</c>, <c>-4</c>, <c>-6</c>, <c>-netmask</c>, <c>-prefixlen</c>, <c>-blackhole</c>, <c>-reject</c>.
/// </summary>
/// <remarks>
/// Messages per sbin/route/route.c newroute (from memory of the source): <c>add net D: gateway G</c>, where D is what the
/// user typed with any <c>/len</c> cut off (getaddr writes a NUL over the slash), so <c>route add -net 10.0.0.0/24 G</c>
/// prints <c>add net 10.0.0.0: gateway G</c>; on failure <c>route: writing to routing socket: E</c> on stderr and
/// <c>... : reason</c> on stdout, exit 1. With a single FIB no <c>fib N</c> is printed. A destination without
/// <c>/len</c> or <c>-net</c> is a host route (FreeBSD's classful guess for addresses with a zero host part is not copied).
/// </remarks>
internal sealed class Route : ITool
{
    private const string UsageText = "usage: route [-46dnqtv] command [[modifiers] args]\n";

    private sealed class Request
    {
        public string Command = string.Empty;
        public bool ForceNet, ForceHost, Inet6, Blackhole, Reject, IsInterface;
        public string? Destination, Gateway, Netmask, PrefixLength;
    }

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        var quiet = false;
        var inet6 = false;
        var opt = new GetOpt(args, "46dnqtvF:");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case '6':
                    inet6 = true;
                    break;
                case 'q':
                    quiet = true;
                    break;
                case '4' or 'd' or 'n' or 't' or 'v' or 'F':
                    break;
                default:
                    ctx.Err.WriteLine(opt.Diagnostic("route", c));
                    ctx.Err.Write(UsageText);
                    return 64;
            }
        }

        var rest = args[opt.OperandIndex..];
        if (rest.Length == 0)
        {
            ctx.Err.Write(UsageText);
            return 64;
        }

        var req = new Request { Command = rest[0], Inet6 = inet6 };
        if (req.Command is not ("add" or "delete" or "change" or "get" or "show" or "flush"))
        {
            ctx.Err.WriteLine($"route: {req.Command}: invalid command"); // unconfirmed wording
            ctx.Err.Write(UsageText);
            return 64;
        }

        for (var i = 1; i < rest.Length; i++)
        {
            var w = rest[i];
            if (w.StartsWith('-') && w.Length > 1)
            {
                switch (w[1..])
                {
                    case "net":
                        req.ForceNet = true;
                        break;
                    case "host":
                        req.ForceHost = true;
                        break;
                    case "inet" or "4":
                        req.Inet6 = false;
                        break;
                    case "inet6" or "6":
                        req.Inet6 = true;
                        break;
                    case "blackhole":
                        req.Blackhole = true;
                        break;
                    case "reject":
                        req.Reject = true;
                        break;
                    case "interface" or "iface":
                        req.IsInterface = true;
                        break;
                    case "static" or "nostatic" or "proto1" or "proto2" or "llinfo" or "xresolve" or "cloning":
                        break;
                    case "netmask" or "prefixlen" or "mtu" or "fib" or "weight" or "expire" or "hopcount" or "rtt" or "rttvar"
                        or "recvpipe" or "sendpipe" or "ssthresh" or "ifp" or "ifa":
                        if (i + 1 >= rest.Length)
                        {
                            ctx.Err.WriteLine($"route: {w}: missing argument"); // unconfirmed wording
                            return 64;
                        }

                        if (w == "-netmask")
                        {
                            req.Netmask = rest[++i];
                        }
                        else if (w == "-prefixlen")
                        {
                            req.PrefixLength = rest[++i];
                        }
                        else
                        {
                            i++;
                        }

                        break;
                    default:
                        ctx.Err.WriteLine($"route: {w}: invalid modifier"); // unconfirmed wording
                        ctx.Err.Write(UsageText);
                        return 64;
                }

                continue;
            }

            if (req.Destination is null)
            {
                req.Destination = w;
            }
            else if (req.Gateway is null)
            {
                req.Gateway = w;
            }
            else if (req.Netmask is null && !req.Inet6)
            {
                req.Netmask = w;
            }
            else
            {
                ctx.Err.Write(UsageText);
                return 64;
            }
        }

        if (req.Destination is not null && !req.Inet6 && req.Destination.Contains(':', StringComparison.Ordinal) && req.Destination != "default")
        {
            req.Inet6 = true;
        }

        return req.Command switch
        {
            "flush" => Flush(ctx, req, quiet),
            "get" or "show" => Get(ctx, req),
            _ => Change(ctx, req, quiet),
        };
    }

    private static bool TryDestination(Request req, out string shown, out IPv4Address v4, out IPv6Address v6, out int prefix, out string? error)
    {
        shown = req.Destination!;
        v4 = default;
        v6 = default;
        prefix = -1;
        error = null;
        var text = req.Destination!;
        if (text == "default")
        {
            prefix = 0;
            return true;
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            shown = text[..slash];
        }

        bool ok;
        if (req.Inet6)
        {
            ok = Ifconfig.TryParseInet6(text, out v6, out prefix);
            if (ok && req.PrefixLength is not null)
            {
                ok = int.TryParse(req.PrefixLength, NumberStyles.None, CultureInfo.InvariantCulture, out prefix) && prefix <= 128;
            }

            if (prefix < 0)
            {
                prefix = req.ForceNet ? 64 : 128;
            }

            v6 = v6.Mask(prefix);
        }
        else
        {
            ok = Ifconfig.TryParseInet(text, out v4, out prefix);
            if (ok && req.Netmask is not null)
            {
                ok = Ifconfig.TryParseNetmask(req.Netmask, out prefix);
            }

            if (prefix < 0)
            {
                prefix = req.ForceNet ? Classful(v4) : 32;
            }

            v4 = v4.Mask(prefix);
        }

        if (!ok)
        {
            error = $"bad address: {req.Destination}";
            return false;
        }

        if (req.ForceHost)
        {
            prefix = req.Inet6 ? 128 : 32;
        }

        return true;
    }

    private static int Classful(IPv4Address a) => (a.Value >> 24) switch
    {
        < 128 => 8,
        < 192 => 16,
        _ => 24,
    };

    private static int Change(ToolContext ctx, Request req, bool quiet)
    {
        if (req.Destination is null || (req.Command == "add" && req.Gateway is null && !req.Blackhole && !req.Reject))
        {
            ctx.Err.Write(UsageText);
            return 64;
        }

        if (!TryDestination(req, out var shown, out var d4, out var d6, out var prefix, out var error))
        {
            return ctx.Fail(error!, 68);
        }

        // A scoped destination keeps its zone (route add -inet6 fe80::%epair0a/64 ...): the table embeds it.
        var zone = 0;
        if (req.Inet6 && req.Destination.Contains('%', StringComparison.Ordinal))
        {
            var literal = req.Destination.Split('/')[0];
            if (!ScopedAddress.TryParse(literal, ctx.Stack, out _, out var scope, out _))
            {
                return ctx.Fail($"bad address: {req.Destination}", 68);
            }

            zone = IPv6RouteTable.IsScoped(d6) && scope is not null ? scope.Index : 0;
        }

        var isHost = prefix == (req.Inet6 ? 128 : 32);
        var head = $"{req.Command} {(isHost ? "host" : "net")} {shown}";
        if (req.Gateway is not null)
        {
            head += $": gateway {req.Gateway}";
        }

        var stack = ctx.Stack;
        var flags = RouteFlags.Up | RouteFlags.Static | (isHost ? RouteFlags.Host : RouteFlags.None)
                    | (req.Blackhole ? RouteFlags.Blackhole : RouteFlags.None) | (req.Reject ? RouteFlags.Reject : RouteFlags.None);
        string? failure = null;
        string? socketError = null;
        if (req.Command == "delete")
        {
            var removed = req.Inet6 ? stack.Routes6.TryDelete(d6, prefix, out _, zone) : stack.Routes4.TryDelete(d4, prefix, out _);
            if (!removed)
            {
                failure = RouteErrors.NotInTable;
                socketError = RouteErrors.WritingNoSuchProcess;
            }
        }
        else
        {
            var resolved = ResolveGateway(stack, req, out var gw4, out var gw6, out var ifIndex, out var gatewayError);
            if (!resolved)
            {
                if (gatewayError is null)
                {
                    return ctx.Fail($"bad address: {req.Gateway}", 68);
                }

                failure = gatewayError;
                socketError = "writing to routing socket: " + gatewayError;
            }
            else
            {
                if (gw4 is not null || gw6 is not null)
                {
                    flags |= RouteFlags.Gateway;
                }

                if ((flags & (RouteFlags.Reject | RouteFlags.Blackhole)) != 0)
                {
                    // nhop_set_blackhole (sys/net/route/nhop.c): a reject or blackhole nexthop drops RTF_GATEWAY and
                    // points at lo0 and the loopback address, so netstat shows "::/96 ::1 URS lo0".
                    flags &= ~RouteFlags.Gateway;
                    gw4 = req.Inet6 ? null : IPv4Address.Loopback;
                    gw6 = req.Inet6 ? IPv6Address.Loopback : null;
                    ifIndex = stack.Loopback.Index;
                }

                if (req.Command == "change")
                {
                    var existed = req.Inet6 ? stack.Routes6.TryDelete(d6, prefix, out _, zone) : stack.Routes4.TryDelete(d4, prefix, out _);
                    if (!existed)
                    {
                        failure = RouteErrors.NotInTable;
                        socketError = RouteErrors.WritingNoSuchProcess;
                    }
                }

                if (failure is null)
                {
                    var added = req.Inet6
                        ? stack.Routes6.TryAdd(new Route<IPv6Address>(d6, prefix, gw6, ifIndex, flags) { Zone = zone }, out failure)
                        : stack.Routes4.TryAdd(new Route<IPv4Address>(d4, prefix, gw4, ifIndex, flags), out failure);
                    if (!added)
                    {
                        socketError = failure == RouteErrors.AlreadyInTable ? RouteErrors.WritingExists : "writing to routing socket: " + failure;
                    }
                }
            }
        }

        if (failure is not null)
        {
            ctx.Err.WriteLine($"route: {socketError}");
            ctx.Out.WriteLine($"{head}: {failure}");
            return 1;
        }

        if (!quiet)
        {
            ctx.Out.WriteLine(head);
        }

        return 0;
    }

    // The kernel needs the gateway on a connected network (or an interface name with -interface).
    private static bool ResolveGateway(NetStack stack, Request req, out IPv4Address? gw4, out IPv6Address? gw6, out int ifIndex, out string? error)
    {
        gw4 = null;
        gw6 = null;
        ifIndex = stack.Loopback.Index;
        error = null;
        if (req.Gateway is null)
        {
            return true;
        }

        var byName = stack.FindInterface(req.Gateway);
        if (req.IsInterface || byName is not null)
        {
            if (byName is null)
            {
                error = "Network is unreachable";
                return false;
            }

            ifIndex = byName.Index;
            return true;
        }

        if (req.Inet6)
        {
            // getaddrinfo: fe80::1%epair0a (or %2) names the gateway's zone, which becomes the route's interface.
            if (!ScopedAddress.TryParse(req.Gateway, stack, out var g, out var zone, out _))
            {
                return false;
            }

            gw6 = g;
            if (zone is not null)
            {
                ifIndex = zone.Index;
                return true;
            }

            foreach (var ifp in stack.Interfaces)
            {
                if (ifp.IPv6Addresses.Any(a => !a.Address.IsLinkLocal && a.Contains(g)))
                {
                    ifIndex = ifp.Index;
                    return true;
                }
            }

            error = "Network is unreachable";
            return false;
        }
        else
        {
            if (!IPv4Address.TryParse(req.Gateway, out var g))
            {
                return false;
            }

            gw4 = g;
            foreach (var ifp in stack.Interfaces)
            {
                if (ifp.IPv4Addresses.Any(a => a.Contains(g)))
                {
                    ifIndex = ifp.Index;
                    return true;
                }
            }

            error = "Network is unreachable";
            return false;
        }
    }

    private static int Flush(ToolContext ctx, Request req, bool quiet)
    {
        var stack = ctx.Stack;
        var any = req.Destination is null;
        if (!req.Inet6 || any)
        {
            foreach (var r in stack.Routes4.Entries.Where(r => (r.Flags & RouteFlags.Gateway) != 0).ToArray())
            {
                stack.Routes4.TryDelete(r.Destination, r.PrefixLength, out _);
                if (!quiet)
                {
                    ctx.Out.WriteLine(FlushLine(Netstat.Destination4(r), r.Gateway.ToString()!));
                }
            }
        }

        if (req.Inet6 || any)
        {
            foreach (var r in stack.Routes6.Entries.Where(r => (r.Flags & RouteFlags.Gateway) != 0).ToArray())
            {
                stack.Routes6.TryDelete(r.Destination, r.PrefixLength, out _);
                if (!quiet)
                {
                    ctx.Out.WriteLine(FlushLine(Netstat.Destination6(stack, r), r.Gateway.ToString()!));
                }
            }
        }

        return 0;
    }

    // route.c flushroutes: "%-20.20s " destination, "%-20.20s " gateway, "done" (from memory, unconfirmed).
    private static string FlushLine(string destination, string gateway) =>
        Formatting.CFormat.LeftTrunc(destination, 20) + " " + Formatting.CFormat.LeftTrunc(gateway, 20) + " done";

    private static readonly (RouteFlags Flag, string Name)[] FlagNames =
    [
        (RouteFlags.Up, "UP"), (RouteFlags.Gateway, "GATEWAY"), (RouteFlags.Host, "HOST"), (RouteFlags.Reject, "REJECT"),
        (RouteFlags.Dynamic, "DYNAMIC"), (RouteFlags.Modified, "MODIFIED"), (RouteFlags.Done, "DONE"), (RouteFlags.XResolve, "XRESOLVE"),
        (RouteFlags.LLInfo, "LLINFO"), (RouteFlags.Static, "STATIC"), (RouteFlags.Blackhole, "BLACKHOLE"), (RouteFlags.Proto2, "PROTO2"),
        (RouteFlags.Proto1, "PROTO1"), (RouteFlags.Proto3, "PROTO3"), (RouteFlags.FixedMtu, "FIXEDMTU"), (RouteFlags.Pinned, "PINNED"),
        (RouteFlags.Local, "LOCAL"), (RouteFlags.Broadcast, "BROADCAST"), (RouteFlags.Multicast, "MULTICAST"),
    ];

    // route get layout (route.c print_getmsg), from memory: unconfirmed.
    private static int Get(ToolContext ctx, Request req)
    {
        if (req.Destination is null)
        {
            ctx.Err.Write(UsageText);
            return 64;
        }

        var stack = ctx.Stack;
        string destination, mask, gateway;
        int ifIndex, mtu;
        RouteFlags flags;
        bool hasGateway, isHost;
        if (req.Inet6 || req.Destination.Contains(':', StringComparison.Ordinal))
        {
            // getaddrinfo reads fe80::1%epair0a (or %2); the kernel looks the address up in that zone (sa6_embedscope).
            if (!ScopedAddress.TryParse(req.Destination == "default" ? "::" : req.Destination, stack, out var a, out var zone, out _))
            {
                return ctx.Fail($"bad address: {req.Destination}", 68);
            }

            var r = stack.Routes6.Lookup(a, zone?.Index ?? 0);
            if (r is null)
            {
                return ctx.Fail("route has not been found");
            }

            // routename(): scoped addresses in the reply print with their zone by name (fe80::%epair0a).
            destination = r.IsDefault ? "default" : ScopedAddress.Format(r.Destination, r.Zone != 0 ? stack.InterfaceByIndex(r.Zone) : null);
            mask = r.IsDefault ? "default" : IPv6Address.MaskFromPrefix(r.PrefixLength).ToString();
            gateway = r.Gateway is { } g ? ScopedAddress.Format(g, stack.InterfaceByIndex(r.InterfaceIndex)) : string.Empty;
            (ifIndex, mtu, flags, hasGateway, isHost) = (r.InterfaceIndex, r.Mtu, r.Flags, r.Gateway is not null, r.PrefixLength == 128);
        }
        else
        {
            if (!Ifconfig.TryParseInet(req.Destination == "default" ? "0.0.0.0" : req.Destination, out var a, out _))
            {
                return ctx.Fail($"bad address: {req.Destination}", 68);
            }

            var r = stack.Routes4.Lookup(a);
            if (r is null)
            {
                return ctx.Fail("route has not been found");
            }

            destination = r.IsDefault ? "default" : r.Destination.ToString();
            mask = r.IsDefault ? "default" : IPv4Address.MaskFromPrefix(r.PrefixLength).ToString();
            gateway = r.Gateway?.ToString() ?? string.Empty;
            (ifIndex, mtu, flags, hasGateway, isHost) = (r.InterfaceIndex, r.Mtu, r.Flags, r.Gateway is not null, r.PrefixLength == 32);
        }

        var ifp = stack.InterfaceByIndex(ifIndex);
        ctx.Out.WriteLine($"   route to: {req.Destination}");
        ctx.Out.WriteLine($"destination: {destination}");
        if (!isHost)
        {
            ctx.Out.WriteLine($"       mask: {mask}");
        }

        if (hasGateway)
        {
            ctx.Out.WriteLine($"    gateway: {gateway}");
        }

        ctx.Out.WriteLine("        fib: 0");
        if (ifp is not null)
        {
            ctx.Out.WriteLine($"  interface: {ifp.Name}");
        }

        var names = FlagNames.Where(f => ((flags | RouteFlags.Done) & f.Flag) != 0).Select(f => f.Name);
        ctx.Out.WriteLine($"      flags: <{string.Join(',', names)}>");
        ctx.Out.WriteLine(" recvpipe  sendpipe  ssthresh  rtt,msec    mtu        weight    expire");
        var m = mtu != 0 ? mtu : ifp?.Mtu ?? 1500;
        ctx.Out.WriteLine($"{0,8} {0,9} {0,9} {0,9} {m,9} {1,9} {0,9} ");
        return 0;
    }
}
