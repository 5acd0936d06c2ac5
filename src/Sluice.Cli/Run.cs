using System.Globalization;
using System.Runtime.InteropServices;
using Sluice.Stack.Time;

namespace Sluice.Cli;

/// <summary>
/// <c>sluice run [-p prefix] [-t seconds] FILE</c>: runs a lab script on real time, then keeps the appliance running
/// (forwarding, answering pings, capturing) until SIGINT or SIGTERM, or until <c>-t</c> seconds have passed since the
/// start; then ends the captures and removes the TAP devices.
/// </summary>
/// <remarks>
/// Everything (script commands and the loop) runs on the calling thread; the signal handlers only ask the lab to stop.
/// <c>-p</c> prefixes the Linux names of the TAP devices the script creates (with <c>-p sl1</c>, <c>tap0</c> is
/// <c>sl1tap0</c> on Linux). Exit status: the script's when it fails (the devices are removed all the same), 130 when
/// a signal interrupted the script, 0 otherwise.
/// </remarks>
internal static class RunCommand
{
    public const string UsageText = "usage: sluice run [-p linux-prefix] [-t seconds] FILE\n";

    public static int Run(ReadOnlySpan<string> args, TextWriter stdout, TextWriter stderr)
    {
        var prefix = string.Empty;
        double? seconds = null;
        var opt = new GetOpt(args, "hp:t:");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'p':
                    prefix = opt.OptionArgument!;
                    if (prefix.Length > 10 || prefix.Any(ch => !char.IsAsciiLetterOrDigit(ch) && ch is not ('-' or '_' or '.')))
                    {
                        stderr.WriteLine($"sluice run: invalid Linux interface prefix: `{prefix}'");
                        return Cli.ExitUsage;
                    }

                    break;
                case 't':
                    if (!double.TryParse(opt.OptionArgument, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var t)
                        || t <= 0 || t > 365 * 86400.0)
                    {
                        stderr.WriteLine($"sluice run: invalid time limit: `{opt.OptionArgument}'");
                        return Cli.ExitUsage;
                    }

                    seconds = t;
                    break;
                case 'h':
                    stdout.Write(UsageText);
                    return 0;
                default:
                    stderr.WriteLine(opt.Diagnostic("sluice run", c));
                    stderr.Write(UsageText);
                    return Cli.ExitUsage;
            }
        }

        var operands = args[opt.OperandIndex..];
        if (operands.Length != 1)
        {
            stderr.Write(UsageText);
            return Cli.ExitUsage;
        }

        var file = operands[0];
        using var lab = Lab.CreateRealTime(stdout, stderr, prefix);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        if (seconds is double limit)
        {
            lab.StopAfter(TimeSpan.FromSeconds(limit));
        }

        var status = lab.RunScript(file);
        if (status != 0)
        {
            return status;
        }

        stdout.Flush();
        stderr.WriteLine($"sluice run: {file}: running{(seconds is double s ? $" for at most {s.ToString(CultureInfo.InvariantCulture)} s" : string.Empty)}; SIGINT or SIGTERM stops");
        stderr.Flush();
        lab.RunUntilStopped();
        return 0;

        void Stop(PosixSignalContext context)
        {
            // Keep the process alive: the main thread stops the loop, ends the captures and removes the devices.
            context.Cancel = true;
            lab.Stop();
        }
    }
}
