using System.Reflection;

namespace Sluice.Cli;

/// <summary>The top-level <c>sluice</c> verbs: <c>lab FILE</c>, <c>run FILE</c>, <c>TOOL args...</c>, <c>--help</c>, <c>--version</c>.</summary>
/// <remarks>
/// Hand-parsed: only five forms exist, and everything after the verb belongs to the FreeBSD tool's own getopt.
/// Exit codes follow sysexits(3) (64 usage, 66 no input).
/// </remarks>
public static class Cli
{
    /// <summary>Exit code for a usage error (EX_USAGE).</summary>
    public const int ExitUsage = 64;

    /// <summary>Exit code for an unreadable input file (EX_NOINPUT).</summary>
    public const int ExitNoInput = 66;

    /// <summary>Runs the command line <paramref name="args"/> and returns the exit status.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        try
        {
            if (args.Length == 0)
            {
                stderr.Write(Usage);
                return ExitUsage;
            }

            switch (args[0])
            {
                case "-h" or "--help" or "help":
                    stdout.Write(Usage);
                    return 0;
                case "-V" or "--version" or "version":
                    stdout.WriteLine("sluice " + Version);
                    return 0;
                case "lab":
                    return RunLab(args.AsSpan(1), stdout, stderr);
                case "run":
                    return RunCommand.Run(args.AsSpan(1), stdout, stderr);
                case "wan":
                    return WanCommand.Run(args.AsSpan(1), stdout, stderr);
                case "packetdrill":
                    return Packetdrill.PacketdrillCommand.Run(args.AsSpan(1), stdout, stderr);
                default:
                    if (args[0].StartsWith('-'))
                    {
                        stderr.WriteLine($"sluice: unknown option {args[0]}");
                        stderr.Write(Usage);
                        return ExitUsage;
                    }

                    using (var lab = new Lab(stdout, stderr) { Input = Console.In })
                    {
                        return lab.Execute(args);
                    }
            }
        }
        finally
        {
            stdout.Flush();
            stderr.Flush();
        }
    }

    private static int RunLab(ReadOnlySpan<string> args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length != 1 || args[0].StartsWith('-') && args[0] != "-")
        {
            stderr.WriteLine("usage: sluice lab FILE");
            return ExitUsage;
        }

        using var lab = new Lab(stdout, stderr);
        return lab.RunScript(args[0]);
    }

    /// <summary>The informational version of this build.</summary>
    public static string Version =>
        typeof(Cli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>The text printed by <c>sluice --help</c>.</summary>
    public static string Usage => $"""
        usage: sluice lab FILE         run a lab script (FreeBSD commands) on virtual time
               sluice run [-p linux-prefix] [-t seconds] FILE
                                       run a lab script on real time with Linux TAP devices
                                       (ifconfig tapN create), then keep it running until
                                       SIGINT/SIGTERM or the -t limit
               sluice packetdrill [--stack freebsd|rack] FILE.pkt
                                       run a packetdrill TCP script against a fresh stack
               sluice TOOL [args...]   run one tool against a fresh single-host stack
               sluice --help | --version

        Tools: {string.Join(' ', Tools.Names.Order(StringComparer.Ordinal))}
        A lab script has one command per line; '#' starts a comment, a trailing '\' continues the line,
        "! command" expects the command to fail, and the first command that fails stops the script
        (FILE:LINE: command: error, with the command's exit status).

        """;
}
