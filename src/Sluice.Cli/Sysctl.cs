using Sluice.Stack.Sysctl;

namespace Sluice.Cli;

/// <summary>
/// sysctl(8): <c>sysctl [-adeNnqt] name[=value] ...</c> and <c>sysctl -a</c> against the current VNET's OID tree.
/// </summary>
/// <remarks>
/// Output per sbin/sysctl/sysctl.c [src/test]: <c>name: value</c>, <c>-e</c> <c>name=value</c>, <c>-n</c> value only,
/// <c>-d</c> description, <c>-t</c> type; a set prints <c>name: old -&gt; new</c> (<c>-n</c>: <c>old -&gt; new</c>).
/// The unknown-OID wording <c>sysctl: unknown oid 'x'</c> is unconfirmed for 14 (see the reference).
/// Every name is processed; the exit status is 1 when any failed.
/// </remarks>
internal sealed class Sysctl : ITool
{
    private const string UsageText = "usage: sysctl [-bdehiNnoqTtWx] [ -B <bufsize> ] [-f filename] name[=value] ...\n"
        + "       sysctl [-bdehNnoqTtWx] [ -B <bufsize> ] -a\n";

    private sealed class Flags
    {
        public bool All, Description, EqualsForm, NamesOnly, ValueOnly, Quiet, Type, IgnoreUnknown;
    }

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        var f = new Flags();
        var opt = new GetOpt(args, "AabB:def:hiNnoqTtWxX");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'a' or 'A' or 'X':
                    f.All = true;
                    break;
                case 'd':
                    f.Description = true;
                    break;
                case 'e':
                    f.EqualsForm = true;
                    break;
                case 'N':
                    f.NamesOnly = true;
                    break;
                case 'n':
                    f.ValueOnly = true;
                    break;
                case 'q':
                    f.Quiet = true;
                    break;
                case 't':
                    f.Type = true;
                    break;
                case 'i':
                    f.IgnoreUnknown = true;
                    break;
                case 'b' or 'B' or 'h' or 'o' or 'T' or 'W' or 'x':
                    break;
                case 'f':
                    return ctx.Fail($"{opt.OptionArgument}: No such file or directory");
                default:
                    ctx.Err.WriteLine(opt.Diagnostic("sysctl", c));
                    ctx.Err.Write(UsageText);
                    return 1;
            }
        }

        var names = args[opt.OperandIndex..];
        var tree = ctx.Stack.Sysctl;
        if (f.All)
        {
            if (names.Length > 0)
            {
                ctx.Err.Write(UsageText);
                return 1;
            }

            foreach (var node in tree.Enumerate())
            {
                Show(ctx, node, f);
            }

            return 0;
        }

        if (names.Length == 0)
        {
            ctx.Err.Write(UsageText);
            return 1;
        }

        var status = 0;
        foreach (var arg in names)
        {
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            status |= eq < 0 ? Read(ctx, tree, arg, f) : Write(ctx, tree, arg[..eq], arg[(eq + 1)..], f);
        }

        return status;
    }

    private static int Read(ToolContext ctx, SysctlTree tree, string name, Flags f)
    {
        var node = SysctlTree.IsValidName(name) ? tree.Find(name) : null;
        if (node is null)
        {
            if (f.IgnoreUnknown)
            {
                return 0;
            }

            ctx.Err.WriteLine($"sysctl: unknown oid '{name}'");
            return 1;
        }

        foreach (var leaf in tree.Enumerate(name))
        {
            Show(ctx, leaf, f);
        }

        return 0;
    }

    private static int Write(ToolContext ctx, SysctlTree tree, string name, string value, Flags f)
    {
        if (ctx.Jail is { Vnet: false } && tree.Find(name) is not null)
        {
            ctx.Err.WriteLine($"sysctl: {name}={value}: Operation not permitted");
            return 1;
        }

        var result = tree.TrySet(name, value);
        if (result.Succeeded)
        {
            if (!f.Quiet)
            {
                ctx.Out.WriteLine(f.ValueOnly ? $"{result.OldValue} -> {result.NewValue}" : result.Line);
            }

            return 0;
        }

        if (result.Status == SysctlSetStatus.UnknownOid && f.IgnoreUnknown)
        {
            return 0;
        }

        if (result.ShowsOldValue && !f.Quiet)
        {
            ctx.Out.WriteLine(f.ValueOnly ? result.OldValue : $"{name}: {result.OldValue}");
        }

        ctx.Err.WriteLine($"sysctl: {result.Message}");
        return 1;
    }

    private static void Show(ToolContext ctx, SysctlNode node, Flags f)
    {
        if (f.NamesOnly)
        {
            ctx.Out.WriteLine(node.Name);
            return;
        }

        string body;
        if (f.Description)
        {
            body = f.Type ? $"{node.TypeName}: {node.Description}" : node.Description;
        }
        else if (f.Type)
        {
            body = node.TypeName;
        }
        else
        {
            body = node.FormatValue();
        }

        if (f.ValueOnly)
        {
            ctx.Out.WriteLine(body);
        }
        else
        {
            ctx.Out.WriteLine(f.EqualsForm && !f.Description && !f.Type ? $"{node.Name}={body}" : $"{node.Name}: {body}");
        }
    }
}
