namespace Sluice.Cli;

/// <summary>The <c>sluice</c> executable.</summary>
internal static class Program
{
    private static int Main(string[] args) => args is ["packetdrill", ..]
        ? Packetdrill.PacketdrillCommand.Run(args.AsSpan(1), Console.Out, Console.Error)
        : Cli.Run(args, Console.Out, Console.Error);
}
