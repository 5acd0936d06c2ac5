using Sluice.Dummynet;

namespace Sluice.Cli;

/// <summary>
/// dnctl(8) (FreeBSD 14): <c>dnctl pipe|queue|sched N config ...</c>, <c>show</c>, <c>list</c>, <c>delete</c>,
/// <c>flush</c> against the VNET's dummynet, with the grammar and output of <c>ipfw pipe</c>.
/// </summary>
internal sealed class Dnctl : ITool
{
    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        var i = 0;
        var quiet = false;
        while (i < args.Length && args[i].StartsWith('-') && args[i].Length > 1)
        {
            foreach (var c in args[i][1..])
            {
                if (c == 'q')
                {
                    quiet = true;
                }
                else if (c is not ('f' or 'a' or 'v' or 's' or 'n'))
                {
                    ctx.Err.WriteLine($"dnctl: illegal option -- {c}");
                    return 64;
                }
            }

            i++;
        }

        if (i >= args.Length)
        {
            ctx.Err.Write("usage: dnctl [options]\ndo \"dnctl -h\" or \"man dnctl\" for details\n");
            return 64;
        }

        return DummynetCommand.Run(ctx, args[i..], quiet, allowFlushAll: true);
    }
}

/// <summary>The <c>pipe|queue|sched ...</c> commands shared by ipfw and dnctl (ipfw2.c ipfw_main's do_pipe path).</summary>
internal static class DummynetCommand
{
    /// <summary>Runs <paramref name="args"/> starting with <c>pipe</c>, <c>queue</c> or <c>sched</c>.</summary>
    public static int Run(ToolContext ctx, ReadOnlySpan<string> args, bool quiet, bool allowFlushAll = false)
    {
        var dn = DummynetInstance.Of(ctx.Stack);
        DnObjectKind kind;
        switch (args[0])
        {
            case "pipe":
                kind = DnObjectKind.Pipe;
                break;
            case "queue":
                kind = DnObjectKind.Queue;
                break;
            case "sched":
                kind = DnObjectKind.Sched;
                break;
            case "flush" when allowFlushAll:
                dn.Flush();
                return 0;
            default:
                return ctx.Fail($"bad command `{args[0]}'", 64);
        }

        var rest = args[1..].ToArray();
        if (rest.Length == 0)
        {
            return ctx.Fail("missing command", 64);
        }

        // "pipe 1 config" and "pipe config 1" are the same (ipfw_main swaps a leading number with the command).
        if (rest.Length >= 2 && rest[0].Length > 0 && char.IsAsciiDigit(rest[0][0]) && rest[1] is "config" or "delete" or "show" or "list")
        {
            (rest[0], rest[1]) = (rest[1], rest[0]);
        }

        var cmd = rest[0];
        var operands = rest.AsSpan(1);
        switch (cmd)
        {
            case "config":
                {
                    var warnings = new List<string>();
                    var ok = dn.TryConfigure(kind, operands, out var error, warnings);
                    foreach (var w in warnings)
                    {
                        ctx.Err.WriteLine($"{ctx.Program}: {w}");
                    }

                    return ok ? 0 : ctx.Fail(error!.Message, error.Status);
                }

            case "delete":
                {
                    if (operands.Length == 0)
                    {
                        return ctx.Fail("rule number required", 64);
                    }

                    var status = 0;
                    foreach (var o in operands)
                    {
                        var n = DummynetParser.AtoI(o);
                        if (n <= 0 || !dn.Delete(kind, n))
                        {
                            status = 1;
                            if (!quiet)
                            {
                                ctx.Err.WriteLine($"{ctx.Program}: rule 1: setsockopt(IP_DUMMYNET_DEL): Invalid argument");
                            }
                        }
                    }

                    return status;
                }

            case "flush":
                dn.Flush();
                return 0;
            case "show" or "list":
                {
                    var numbers = new List<int>();
                    foreach (var o in operands)
                    {
                        foreach (var part in o.Split(','))
                        {
                            var dash = part.IndexOf('-', StringComparison.Ordinal);
                            if (dash > 0)
                            {
                                var lo = DummynetParser.AtoI(part[..dash]);
                                var hi = Math.Min(DummynetParser.AtoI(part[(dash + 1)..]), lo + 65536);
                                for (var n = lo; n <= hi; n++)
                                {
                                    numbers.Add(n);
                                }
                            }
                            else
                            {
                                numbers.Add(DummynetParser.AtoI(part));
                            }
                        }
                    }

                    ctx.Out.Write(dn.Show(kind, numbers));
                    return 0;
                }

            default:
                return ctx.Fail($"bad command `{cmd}'", 64);
        }
    }
}
