using System.Globalization;
using Sluice.Stack.Time;

namespace Sluice.Cli.Builtins;

/// <summary>hostname(1): prints or sets the (jail's) host name.</summary>
internal sealed class Hostname : ITool
{
    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        var shortName = false;
        var opt = new GetOpt(args, "fs");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'f':
                    shortName = false;
                    break;
                case 's':
                    shortName = true;
                    break;
                default:
                    ctx.Err.WriteLine(opt.Diagnostic("hostname", c));
                    ctx.Err.WriteLine("usage: hostname [-f | -s | -d] [name-of-host]");
                    return 1;
            }
        }

        var rest = args[opt.OperandIndex..];
        if (rest.Length > 1)
        {
            ctx.Err.WriteLine("usage: hostname [-f | -s | -d] [name-of-host]");
            return 1;
        }

        if (rest.Length == 1)
        {
            if (rest[0].Length > 255)
            {
                return ctx.Fail("sethostname: Invalid argument");
            }

            // A jail's name is its own (a VNET jail's setter also updates its stack's kern.hostname).
            if (ctx.Jail is not null)
            {
                ctx.Jail.Hostname = rest[0];
            }
            else
            {
                ctx.Stack.Hostname = rest[0];
            }

            return 0;
        }

        var name = ctx.Jail?.Hostname ?? ctx.Stack.Hostname;
        if (shortName && name.IndexOf('.', StringComparison.Ordinal) is var dot and > 0)
        {
            name = name[..dot];
        }

        ctx.Out.WriteLine(name);
        return 0;
    }
}

/// <summary>echo(1): <c>-n</c> as the first argument suppresses the newline.</summary>
internal sealed class Echo : ITool
{
    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        var newline = true;
        if (args.Length > 0 && args[0] == "-n")
        {
            newline = false;
            args = args[1..];
        }

        ctx.Out.Write(string.Join(' ', args.ToArray()));
        if (newline)
        {
            ctx.Out.Write('\n');
        }

        return 0;
    }
}

/// <summary>sleep(1): advances virtual time; FreeBSD 14 accepts fractions, several operands and s/m/h/d units.</summary>
internal sealed class Sleep : ITool
{
    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        if (args.Length > 0 && args[0] == "--")
        {
            args = args[1..];
        }

        if (args.Length == 0)
        {
            return Usage(ctx);
        }

        double total = 0;
        foreach (var a in args)
        {
            if (!TryParse(a, out var seconds))
            {
                return Usage(ctx);
            }

            total += seconds;
        }

        if (total > 0)
        {
            // Virtual time jumps; a real-time lab keeps forwarding and answering meanwhile, and a stop ends it early.
            var lab = ctx.Lab;
            lab.Loop.RunUntil(() => lab.Stopping.IsCancellationRequested, Nanos.FromSeconds(Math.Min(total, 1e9)), lab.Stopping);
        }

        return 0;
    }

    private static int Usage(ToolContext ctx)
    {
        ctx.Err.WriteLine("usage: sleep number[unit] [...]");
        return 1;
    }

    private static bool TryParse(string text, out double seconds)
    {
        seconds = 0;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        var multiplier = text[^1] switch { 's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400, _ => 0 };
        var number = multiplier == 0 ? text : text[..^1];
        if (multiplier == 0)
        {
            multiplier = 1;
        }

        if (number.Length == 0 || !(char.IsAsciiDigit(number[0]) || number[0] == '.')
            || !double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value)
            || double.IsInfinity(value))
        {
            return false;
        }

        seconds = value * multiplier;
        return true;
    }
}

/// <summary>true(1).</summary>
internal sealed class True : ITool
{
    public int Run(ToolContext ctx, ReadOnlySpan<string> args) => 0;
}

/// <summary>false(1).</summary>
internal sealed class False : ITool
{
    public int Run(ToolContext ctx, ReadOnlySpan<string> args) => 1;
}
