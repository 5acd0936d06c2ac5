using System.Globalization;
using Sluice.Cli.Formatting;

namespace Sluice.Cli;

/// <summary>jls(8): the table, or with parameters (<c>jls -j N jid</c>) their values separated by spaces.</summary>
internal sealed class Jls : ITool
{
    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        string? only = null;
        bool nameOnly = false, quiet = false, all = false;
        var opt = new GetOpt(args, "adhj:Nnqsv");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'j':
                    only = opt.OptionArgument;
                    break;
                case 'N':
                    nameOnly = true;
                    break;
                case 'q':
                    quiet = true;
                    break;
                case 'n':
                    all = true;
                    break;
                case 'a' or 'd' or 'h' or 's' or 'v':
                    break;
                default:
                    ctx.Err.WriteLine(opt.Diagnostic("jls", c));
                    ctx.Err.WriteLine("usage: jls [-dhNnqv] [-j jail] [param ...]");
                    return 1;
            }
        }

        IEnumerable<LabJail> jails = ctx.Lab.Jails;
        if (only is not null)
        {
            var j = ctx.Lab.Jail(only);
            if (j is null)
            {
                return ctx.Fail($"jail \"{only}\" not found");
            }

            jails = [j];
        }

        var parameters = args[opt.OperandIndex..].ToArray();
        foreach (var p in parameters)
        {
            if (Value(null, p) is null)
            {
                return ctx.Fail($"unknown parameter: {p}");
            }
        }

        if (all && parameters.Length == 0)
        {
            parameters = ["jid", "name", "host.hostname", "path", "vnet"];
        }

        if (parameters.Length > 0)
        {
            foreach (var j in jails)
            {
                var values = parameters.Select(p => all ? $"{p}={Quote(Value(j, p)!)}" : Value(j, p)!);
                ctx.Out.WriteLine(string.Join(' ', values));
            }

            return 0;
        }

        if (!quiet)
        {
            ctx.Out.Write(NeighborFormat.JlsHeader());
        }

        foreach (var j in jails)
        {
            var row = NeighborFormat.JlsRow(j.Jid, string.Empty, j.Hostname, j.Path);
            // -N: the name in place of the jid (man page); same column width assumed (unconfirmed).
            ctx.Out.Write(nameOnly ? j.Name.PadLeft(6) + row[6..] : row);
        }

        return 0;
    }

    private static string Quote(string v) => v.Length == 0 || v.Any(char.IsWhiteSpace) ? $"\"{v}\"" : v;

    private static string? Value(LabJail? j, string parameter) => parameter switch
    {
        "jid" => j?.Jid.ToString(CultureInfo.InvariantCulture) ?? string.Empty,
        "name" => j?.Name ?? string.Empty,
        "host.hostname" => j?.Hostname ?? string.Empty,
        "path" => j?.Path ?? string.Empty,
        "vnet" => j is null ? string.Empty : j.Vnet ? "new" : "inherit",
        "persist" => "true",
        "parent" => "0",
        _ => null,
    };
}
