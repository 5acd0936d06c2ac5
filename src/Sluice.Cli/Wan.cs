using System.Globalization;
using System.Runtime.InteropServices;
using Sluice.Dummynet;
using Sluice.Stack;
using Sluice.Stack.Links;
using Sluice.Stack.Time;

namespace Sluice.Cli;

/// <summary>
/// <c>sluice wan</c>: a real-time WAN emulator bridging two Linux interfaces through two dummynet pipes, one per
/// direction, configured with the dnctl pipe grammar.
/// </summary>
public static class WanCommand
{
    /// <summary>The usage text.</summary>
    public const string UsageText = """
        usage: sluice wan [-t seconds] [--ab 'PIPE CONFIG'] [--ba 'PIPE CONFIG'] IF_A IF_B
          Bridges IF_A and IF_B in real time: frames from A go through pipe 1 (--ab) to B, frames from B through
          pipe 2 (--ba) to A. PIPE CONFIG is what follows "dnctl pipe N config", e.g.
            --ab 'bw 10Mbit/s delay 20ms plr 0.001' --ba 'bw 10Mbit/s delay 20ms queue 50'
          A missing direction is a pipe without limits. IF is tap:NAME (create a Linux TAP device NAME, removed on
          exit) or the name of an existing Linux interface (AF_PACKET, promiscuous; turn off checksum and
          segmentation offloads of the hosts sending on it). IPv4/IPv6 frames are shaped by their IP length.
          Runs until SIGINT/SIGTERM or -t seconds, then prints the pipes (dnctl pipe show) and the frame counts.

        """;

    /// <summary>Runs <c>sluice wan</c> with <paramref name="args"/> (after the verb).</summary>
    public static int Run(ReadOnlySpan<string> args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        string? ab = null, ba = null;
        double? seconds = null;
        var operands = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            switch (a)
            {
                case "-h" or "--help":
                    stdout.Write(UsageText);
                    return 0;
                case "--ab" or "--ba" or "-t" when i + 1 >= args.Length:
                    stderr.WriteLine($"sluice wan: option requires an argument -- {a.TrimStart('-')}");
                    stderr.Write(UsageText);
                    return Cli.ExitUsage;
                case "--ab":
                    ab = args[++i];
                    break;
                case "--ba":
                    ba = args[++i];
                    break;
                case "-t":
                    if (!double.TryParse(args[++i], NumberStyles.Float, CultureInfo.InvariantCulture, out var s) || s <= 0)
                    {
                        stderr.WriteLine($"sluice wan: invalid time limit {args[i]}");
                        return Cli.ExitUsage;
                    }

                    seconds = s;
                    break;
                default:
                    if (a.StartsWith('-'))
                    {
                        stderr.WriteLine($"sluice wan: unknown option {a}");
                        stderr.Write(UsageText);
                        return Cli.ExitUsage;
                    }

                    operands.Add(a);
                    break;
            }
        }

        if (operands.Count != 2 || operands[0] == operands[1])
        {
            stderr.Write(UsageText);
            return Cli.ExitUsage;
        }

        var loop = new EventLoop(new RealClock());
        var stack = new NetStack(loop, new NetStackOptions { Name = "wan" });
        ILink? linkA = null, linkB = null;
        try
        {
            linkA = OpenLink(operands[0], loop);
            linkB = OpenLink(operands[1], loop);
        }
        catch (IOException e)
        {
            linkA?.Dispose();
            stderr.WriteLine($"sluice wan: {e.Message}");
            return 71;
        }

        using (linkA)
        using (linkB)
        {
            var bridge = new DummynetBridge(stack, linkA, linkB);
            foreach (var (pipe, text, name) in new[] { (1, ab, "--ab"), (2, ba, "--ba") })
            {
                var words = (text ?? string.Empty).Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                if (!bridge.TryConfigure(pipe, words, out var error))
                {
                    stderr.WriteLine($"sluice wan: {name}: {error!.Message.TrimEnd('\n')}");
                    return Cli.ExitUsage;
                }
            }

            using var stop = new CancellationTokenSource();
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            if (seconds is double limit)
            {
                stop.CancelAfter(TimeSpan.FromSeconds(limit));
            }

            stderr.WriteLine($"sluice wan: {operands[0]} <-> {operands[1]}: running{(seconds is double t ? $" for at most {t.ToString(CultureInfo.InvariantCulture)} s" : string.Empty)}; SIGINT or SIGTERM stops");
            stderr.Flush();
            loop.Run(stop.Token);

            stdout.Write(bridge.Dummynet.Show(DnObjectKind.Pipe));
            stdout.WriteLine($"{operands[0]} -> {operands[1]}: {bridge.FromA} frames in, {bridge.ToB} out");
            stdout.WriteLine($"{operands[1]} -> {operands[0]}: {bridge.FromBCount} frames in, {bridge.ToA} out");
            return 0;

            void Stop(PosixSignalContext context)
            {
                context.Cancel = true;
                stop.Cancel();
            }
        }
    }

    private static ILink OpenLink(string spec, EventLoop loop) =>
        spec.StartsWith("tap:", StringComparison.Ordinal) ? TapLink.Open(spec[4..], loop) : AfPacketLink.Open(spec, loop);
}
