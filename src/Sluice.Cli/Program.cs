namespace Sluice.Cli;

/// <summary>The <c>sluice</c> executable.</summary>
internal static class Program
{
    private static int Main(string[] args) => Cli.Run(args, Console.Out, Console.Error);
}
