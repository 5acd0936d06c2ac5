using Sluice.Stack;

namespace Sluice.Cli;

/// <summary>
/// dmesg(8): prints the VNET's kernel message buffer. <c>-a</c> shows every line, including those of other syslog
/// facilities than the kernel's (ipfw's and pf's LOG_SECURITY lines); <c>-c</c> clears the buffer after printing.
/// </summary>
/// <remarks>Reading a saved core (<c>-M</c>, <c>-N</c>) has no meaning here and is refused as an illegal option.</remarks>
internal sealed class Dmesg : ITool
{
    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        var all = false;
        var clear = false;
        var opt = new GetOpt(args, "ac");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'a':
                    all = true;
                    break;
                case 'c':
                    clear = true;
                    break;
                default:
                    ctx.Err.WriteLine(opt.Diagnostic("dmesg", c));
                    ctx.Err.WriteLine("usage: dmesg [-ac]");
                    return 1;
            }
        }

        if (opt.OperandIndex < args.Length)
        {
            ctx.Err.WriteLine("usage: dmesg [-ac]");
            return 1;
        }

        ctx.Out.Write(ctx.Stack.Messages.Read(all));
        if (clear)
        {
            ctx.Stack.Messages.Clear();
        }

        return 0;
    }
}
