namespace Sluice.Cli;

/// <summary>jexec(8): <c>jexec [-l] [-u user] [-U user] jail command ...</c> runs a tool inside the jail's stack.</summary>
internal sealed class Jexec : ITool
{
    private const string UsageText = "usage: jexec [-l] [-u username | -U username] jail [command ...]";

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        var opt = new GetOpt(args, "lnu:U:");
        int c;
        while ((c = opt.Next()) != -1)
        {
            if (c is '?' or ':')
            {
                ctx.Err.WriteLine(opt.Diagnostic("jexec", c));
                ctx.Err.WriteLine(UsageText);
                return 1;
            }
        }

        var rest = args[opt.OperandIndex..];
        if (rest.Length < 2)
        {
            // FreeBSD 14 starts a shell when no command is given; a lab has no shell.
            ctx.Err.WriteLine(UsageText);
            return 1;
        }

        var jail = ctx.Lab.Jail(rest[0]);
        if (jail is null)
        {
            return ctx.Fail($"jail \"{rest[0]}\" not found");
        }

        var command = rest[1..];
        if (!Tools.TryGet(command[0], out _))
        {
            return ctx.Fail($"execvp: {command[0]}: No such file or directory");
        }

        return ctx.Lab.Run(command, jail, ctx.Out, ctx.Err);
    }
}
