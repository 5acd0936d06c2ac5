using Sluice.Cli.Formatting;
using Sluice.Stack;
using Sluice.Wire;

namespace Sluice.Cli;

/// <summary>ndp(8): <c>-a [-n]</c> (table), <c>-c</c> (flush), <c>-d ADDR</c>, <c>ADDR</c>.</summary>
/// <remarks>
/// Layout from ndp.c [src]; the interface's own addresses appear as <c>permanent R</c> with empty flags (from memory of
/// FreeBSD output, unconfirmed). State letters per ndp_netlink.c: I, R, S, D, P.
/// </remarks>
internal sealed class Ndp : ITool
{
    private const string UsageText =
        "usage: ndp [-nt] hostname\n"
        + "       ndp [-nt] -a | -c | -p | -r | -H | -P | -R\n"
        + "       ndp [-nt] -A wait\n"
        + "       ndp [-nt] -d hostname\n"
        + "       ndp [-nt] -f filename\n"
        + "       ndp [-nt] -i interface [flags...]\n"
        + "       ndp [-nt] -I [interface|delete]\n"
        + "       ndp [-nt] -s nodename etheraddr [temp] [proxy]\n";

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        char mode = '\0';
        var opt = new GetOpt(args, "acd:f:Ii:nprstA:HPRxlj:");
        string? target = null;
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'a' or 'c':
                    mode = (char)c;
                    break;
                case 'd':
                    mode = 'd';
                    target = opt.OptionArgument;
                    break;
                case 'n' or 't' or 'l' or 'x':
                    break;
                case '?' or ':':
                    ctx.Err.WriteLine(opt.Diagnostic("ndp", c));
                    ctx.Err.Write(UsageText);
                    return 1;
                default:
                    return ctx.Fail($"-{(char)c}: not supported by sluice");
            }
        }

        var rest = args[opt.OperandIndex..];
        switch (mode)
        {
            case 'a':
                if (rest.Length != 0)
                {
                    break;
                }

                ctx.Out.Write(NeighborFormat.NdpHeader());
                foreach (var line in Lines(ctx.Stack))
                {
                    ctx.Out.Write(NeighborFormat.Ndp(line));
                }

                return 0;
            case 'c':
                foreach (var e in ctx.Stack.Ndp.Entries.ToArray())
                {
                    ctx.Stack.Ndp.Delete(e.Address);
                    ctx.Out.WriteLine($"{Name(ctx.Stack, e.Address, e.InterfaceIndex)} (ndp delete)"); // unconfirmed wording
                }

                return 0;
            case 'd':
                {
                    var text = target!;
                    if (!ScopedAddress.TryParse(text, ctx.Stack, out var a, out var zone, out _))
                    {
                        return ctx.Fail($"{text}: Unknown host"); // unconfirmed wording
                    }

                    if ((zone is not null && ctx.Stack.Ndp.Find(zone.Index, a) is null) || !ctx.Stack.Ndp.Delete(a))
                    {
                        return ctx.Fail($"delete: cannot locate {text}"); // unconfirmed wording
                    }

                    ctx.Out.WriteLine($"{text} ({a}) deleted");
                    return 0;
                }

            default:
                if (rest.Length == 1)
                {
                    if (!ScopedAddress.TryParse(rest[0], ctx.Stack, out var a, out var zone, out _))
                    {
                        return ctx.Fail($"{rest[0]}: Unknown host");
                    }

                    var match = Lines(ctx.Stack)
                        .Where(l => l.Address.Split('%')[0] == a.ToString() && (zone is null || l.Interface == zone.Name))
                        .ToList();
                    ctx.Out.Write(NeighborFormat.NdpHeader());
                    foreach (var l in match)
                    {
                        ctx.Out.Write(NeighborFormat.Ndp(l));
                    }

                    return 0;
                }

                break;
        }

        ctx.Err.Write(UsageText);
        return 1;
    }

    private static string Name(NetStack stack, IPv6Address a, int ifIndex) =>
        a.IsLinkLocal ? $"{a}%{stack.InterfaceByIndex(ifIndex)?.Name}" : a.ToString();

    internal static IEnumerable<NdpLine> Lines(NetStack stack)
    {
        var now = stack.Loop.Now;
        var rows = new List<(int If, IPv6Address Address, NdpLine Line)>();
        foreach (var ifp in stack.Interfaces)
        {
            if (ifp.IsLoopback)
            {
                continue;
            }

            foreach (var a in ifp.IPv6Addresses)
            {
                rows.Add((ifp.Index, a.Address, new NdpLine(Name(stack, a.Address, ifp.Index), ifp.HardwareAddress.ToString(), ifp.Name, true, null, 'R', string.Empty)));
            }
        }

        foreach (var e in stack.Ndp.Entries)
        {
            var ifp = stack.InterfaceByIndex(e.InterfaceIndex);
            if (ifp is null || rows.Any(r => r.If == e.InterfaceIndex && r.Address == e.Address))
            {
                continue;
            }

            var state = e.State switch
            {
                NeighborState.Incomplete => 'I',
                NeighborState.Reachable => 'R',
                NeighborState.Stale => 'S',
                NeighborState.Delay => 'D',
                NeighborState.Probe => 'P',
                _ => 'N',
            };
            long? expires = e.Permanent ? null : Math.Max(0, (e.ExpiresAt - now) / 1_000_000_000);
            rows.Add((e.InterfaceIndex, e.Address, new NdpLine(Name(stack, e.Address, e.InterfaceIndex), e.HardwareAddress?.ToString(), ifp.Name,
                e.Permanent, expires, state, e.IsRouter ? "R" : string.Empty)));
        }

        return rows.OrderBy(r => r.If).ThenBy(r => r.Address).Select(r => r.Line);
    }
}
