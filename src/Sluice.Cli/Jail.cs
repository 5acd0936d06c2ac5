using System.Globalization;

namespace Sluice.Cli;

/// <summary>
/// jail(8): <c>jail [-iqv] -c name=N [vnet] [persist] [host.hostname=H] [path=P] ...</c> and <c>jail -r N|*</c>.
/// </summary>
/// <remarks>
/// Command-line creation prints nothing (only the config-file form prints <c>N: created</c> [test]); removal prints
/// <c>N: removed</c> [test, -f form; assumed the same without a config file]. Removing a VNET jail returns its
/// interfaces to the host, like FreeBSD's if_vmove on VNET teardown.
/// </remarks>
internal sealed class Jail : ITool
{
    private const string UsageText = "usage: jail [-dhilqv] [-J jid_file] [-u username] [-U username]\n"
        + "            -[cmr] param=value ... [command=command ...]\n"
        + "       jail [-dqv] [-f file] -[cmr] [jail]\n"
        + "       jail [-qv] [-f file] -[rR] ['*' | jail ...]\n";

    // Parameters jail(8) accepts that make no difference to a lab; their values are not checked.
    private static readonly HashSet<string> Ignored = new(StringComparer.Ordinal)
    {
        "persist", "nopersist", "ip4", "ip6", "ip4.addr", "ip6.addr", "children.max", "enforce_statfs", "devfs_ruleset",
        "securelevel", "mount.devfs", "nomount.devfs", "mount.procfs", "exec.clean", "exec.start", "exec.stop",
        "exec.prestart", "exec.poststop", "exec.consolelog", "osrelease", "osreldate", "host.domainname", "host.hostuuid",
        "host.hostid", "allow.raw_sockets", "allow.mount", "allow.set_hostname", "allow.sysvipc", "allow.chflags",
        "allow.socket_af", "command", "interface", "vnet.interface",
    };

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        char mode = '\0';
        bool printJid = false, quiet = false;
        var opt = new GetOpt(args, "cdf:hiJ:lmn:p:qrRs:u:U:v");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'c' or 'm' or 'r' or 'R':
                    if (mode != '\0' && mode != (char)c && !(mode == 'c' && c == 'm') && !(mode == 'm' && c == 'c'))
                    {
                        return Usage(ctx);
                    }

                    mode = (char)c;
                    break;
                case 'i':
                    printJid = true;
                    break;
                case 'q':
                    quiet = true;
                    break;
                case 'd' or 'h' or 'l' or 'v' or 'J' or 'u' or 'U' or 'n' or 'p' or 's':
                    break;
                case 'f':
                    return ctx.Fail($"{opt.OptionArgument}: configuration files are not supported by sluice");
                default:
                    ctx.Err.WriteLine(opt.Diagnostic("jail", c));
                    return Usage(ctx);
            }
        }

        var rest = args[opt.OperandIndex..];
        return mode switch
        {
            'c' or 'm' => Create(ctx, rest, printJid, quiet),
            'r' or 'R' => Remove(ctx, rest, quiet),
            _ => Usage(ctx),
        };
    }

    private static int Create(ToolContext ctx, ReadOnlySpan<string> args, bool printJid, bool quiet)
    {
        string? name = null, hostname = null, path = "/";
        var vnet = false;
        if (args.Length == 0)
        {
            return Usage(ctx);
        }

        foreach (var a in args)
        {
            var eq = a.IndexOf('=', StringComparison.Ordinal);
            var key = eq < 0 ? a : a[..eq];
            var value = eq < 0 ? null : a[(eq + 1)..];
            switch (key)
            {
                case "name":
                    name = value;
                    break;
                case "host.hostname":
                    hostname = value;
                    break;
                case "path":
                    path = value;
                    break;
                case "vnet":
                    if (value is not (null or "new"))
                    {
                        return ctx.Fail($"vnet: unknown value \"{value}\"", 1);
                    }

                    vnet = true;
                    break;
                case "novnet":
                    vnet = false;
                    break;
                default:
                    if (!Ignored.Contains(key) && !key.StartsWith("allow.", StringComparison.Ordinal)
                        && !key.StartsWith("exec.", StringComparison.Ordinal))
                    {
                        return ctx.Fail($"unknown parameter: {key}");
                    }

                    break;
            }
        }

        if (string.IsNullOrEmpty(name))
        {
            return ctx.Fail("jail_set: name: missing value"); // unconfirmed wording
        }

        if (name.Contains('.', StringComparison.Ordinal) || name.Any(char.IsWhiteSpace) || name == "*")
        {
            return ctx.Fail($"name: invalid jail name \"{name}\""); // unconfirmed wording
        }

        if (ctx.Lab.Jail(name) is not null)
        {
            return ctx.Fail($"{name}: already exists"); // unconfirmed wording
        }

        if (string.IsNullOrEmpty(path))
        {
            return ctx.Fail("path: missing value");
        }

        var jail = ctx.Lab.CreateJail(name, hostname, path, vnet);
        if (printJid)
        {
            ctx.Out.WriteLine(jail.Jid.ToString(CultureInfo.InvariantCulture));
        }

        _ = quiet;
        return 0;
    }

    private static int Remove(ToolContext ctx, ReadOnlySpan<string> args, bool quiet)
    {
        if (args.Length == 0)
        {
            return Usage(ctx);
        }

        var targets = new List<LabJail>();
        foreach (var a in args)
        {
            if (a == "*")
            {
                targets.AddRange(ctx.Lab.Jails);
                continue;
            }

            var jail = ctx.Lab.Jail(a);
            if (jail is null)
            {
                return ctx.Fail($"\"{a}\" not found"); // libjail's "jail \"%s\" not found" shortened; unconfirmed
            }

            targets.Add(jail);
        }

        foreach (var jail in targets.Distinct())
        {
            if (jail.Vnet)
            {
                foreach (var ifp in jail.Stack.Interfaces.ToArray())
                {
                    if (ifp != jail.Stack.Loopback)
                    {
                        VnetMove.Move(ifp, jail.Stack, ctx.Lab.Host);
                    }
                }
            }

            ctx.Lab.RemoveJail(jail);
            if (!quiet)
            {
                ctx.Out.WriteLine($"{jail.Name}: removed");
            }
        }

        return 0;
    }

    private static int Usage(ToolContext ctx)
    {
        ctx.Err.Write(UsageText);
        return 1;
    }
}
