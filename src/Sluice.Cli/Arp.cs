using Sluice.Cli.Formatting;
using Sluice.Stack;
using Sluice.Stack.Interfaces;
using Sluice.Wire;

namespace Sluice.Cli;

/// <summary>arp(8): <c>-a [-n] [-i if]</c>, <c>HOST</c>, <c>-d HOST</c>, <c>-d -a</c>, <c>-s HOST MAC [temp] [pub]</c>.</summary>
/// <remarks>
/// Line format from arp.c print_entry [src]. The interface's own addresses are listed as permanent entries, as FreeBSD's
/// lltable holds them. <c>-- no entry</c>, <c>deleted</c> and <c>delete: cannot locate</c> wordings are from memory (unconfirmed).
/// </remarks>
internal sealed class Arp : ITool
{
    private const string UsageText =
        "usage: arp [-n] [-i interface] hostname\n"
        + "       arp [-n] [-i interface] -a\n"
        + "       arp -d hostname [pub]\n"
        + "       arp -d [-i interface] -a\n"
        + "       arp -s hostname ether_addr [temp] [reject | blackhole] [pub [only]]\n"
        + "       arp -S hostname ether_addr [temp] [reject | blackhole] [pub [only]]\n"
        + "       arp -f filename\n";

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        char mode = '\0';
        var all = false;
        string? only = null;
        var opt = new GetOpt(args, "andfsSi:");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'a':
                    all = true;
                    break;
                case 'n':
                    break;
                case 'd' or 's' or 'S' or 'f':
                    if (mode != '\0')
                    {
                        return Usage(ctx);
                    }

                    mode = (char)c;
                    break;
                case 'i':
                    only = opt.OptionArgument;
                    break;
                default:
                    ctx.Err.WriteLine(opt.Diagnostic("arp", c));
                    return Usage(ctx);
            }
        }

        var rest = args[opt.OperandIndex..];
        if (only is not null && ctx.Stack.FindInterface(only) is null)
        {
            return ctx.Fail($"interface {only} does not exist");
        }

        switch (mode)
        {
            case '\0':
                if (all && rest.Length == 0)
                {
                    foreach (var line in Lines(ctx.Stack, only))
                    {
                        ctx.Out.Write(NeighborFormat.Arp(line));
                    }

                    return 0;
                }

                if (!all && rest.Length == 1)
                {
                    return Show(ctx, rest[0]);
                }

                return Usage(ctx);
            case 'd':
                if (all && rest.Length == 0)
                {
                    foreach (var e in ctx.Stack.Arp.Entries.ToArray())
                    {
                        if (only is null || e.InterfaceIndex == ctx.Stack.FindInterface(only)!.Index)
                        {
                            ctx.Stack.Arp.Delete(e.Address);
                            ctx.Out.WriteLine($"{e.Address} ({e.Address}) deleted");
                        }
                    }

                    return 0;
                }

                if (rest.Length is 1 or 2 && !all)
                {
                    if (!IPv4Address.TryParse(rest[0], out var a))
                    {
                        return ctx.Fail($"{rest[0]}: Unknown host"); // unconfirmed wording
                    }

                    if (!ctx.Stack.Arp.Delete(a))
                    {
                        return ctx.Fail($"delete: cannot locate {rest[0]}");
                    }

                    ctx.Out.WriteLine($"{rest[0]} ({a}) deleted");
                    return 0;
                }

                return Usage(ctx);
            case 's' or 'S':
                return Set(ctx, rest, replace: mode == 'S');
            default:
                return ctx.Fail("-f: files are not supported by sluice");
        }
    }

    private static int Show(ToolContext ctx, string host)
    {
        if (!IPv4Address.TryParse(host, out var a))
        {
            return ctx.Fail($"{host}: Unknown host");
        }

        var lines = Lines(ctx.Stack, null).Where(l => l.Address == a.ToString()).ToList();
        if (lines.Count == 0)
        {
            ctx.Out.WriteLine($"{host} ({a}) -- no entry");
            return 1;
        }

        foreach (var l in lines)
        {
            ctx.Out.Write(NeighborFormat.Arp(l));
        }

        return 0;
    }

    private static int Set(ToolContext ctx, ReadOnlySpan<string> rest, bool replace)
    {
        if (rest.Length < 2)
        {
            return Usage(ctx);
        }

        var publish = false;
        foreach (var w in rest[2..])
        {
            switch (w)
            {
                case "pub" or "only":
                    publish = true;
                    break;
                case "temp" or "reject" or "blackhole":
                    break;
                default:
                    return Usage(ctx);
            }
        }

        if (!IPv4Address.TryParse(rest[0], out var a))
        {
            return ctx.Fail($"{rest[0]}: Unknown host");
        }

        if (!MacAddress.TryParse(rest[1], out var mac))
        {
            return ctx.Fail($"invalid Ethernet address '{rest[1]}'"); // unconfirmed wording
        }

        NetworkInterface? target = null;
        foreach (var ifp in ctx.Stack.Interfaces)
        {
            if (!ifp.IsLoopback && ifp.IPv4Addresses.Any(x => x.Contains(a)))
            {
                target = ifp;
                break;
            }
        }

        if (target is null)
        {
            return ctx.Fail($"cannot intuit interface index and type for {rest[0]}");
        }

        if (replace)
        {
            ctx.Stack.Arp.Delete(a);
        }

        ctx.Stack.Arp.AddStatic(target, a, mac, publish);
        return 0;
    }

    /// <summary>The entries arp -a prints: the cache plus the interfaces' own addresses, by interface then address.</summary>
    internal static IEnumerable<ArpLine> Lines(NetStack stack, string? only)
    {
        var now = stack.Loop.Now;
        var rows = new List<(int If, IPv4Address Address, ArpLine Line)>();
        foreach (var ifp in stack.Interfaces)
        {
            if (ifp.IsLoopback || (only is not null && ifp.Name != only))
            {
                continue;
            }

            foreach (var a in ifp.IPv4Addresses)
            {
                rows.Add((ifp.Index, a.Address, new ArpLine(a.Address.ToString(), ifp.HardwareAddress.ToString(), ifp.Name, true, null)));
            }
        }

        foreach (var e in stack.Arp.Entries)
        {
            var ifp = stack.InterfaceByIndex(e.InterfaceIndex);
            if (ifp is null || (only is not null && ifp.Name != only) || rows.Any(r => r.If == e.InterfaceIndex && r.Address == e.Address))
            {
                continue;
            }

            long? expires = e.Permanent ? null : Math.Max(0, (e.ExpiresAt - now) / 1_000_000_000);
            rows.Add((e.InterfaceIndex, e.Address, new ArpLine(e.Address.ToString(), e.HardwareAddress?.ToString(), ifp.Name, e.Permanent, expires)));
        }

        return rows.OrderBy(r => r.If).ThenBy(r => r.Address).Select(r => r.Line);
    }

    private static int Usage(ToolContext ctx)
    {
        ctx.Err.Write(UsageText);
        return 1;
    }
}
