namespace Sluice.Cli.Packetdrill;

/// <summary><c>sluice packetdrill [--stack freebsd|rack] FILE.pkt</c>: runs one packetdrill script against a fresh stack.</summary>
/// <remarks>Exit 0 when the script passes, 1 at the first mismatch (printed as <c>FILE:LINE: message</c>), 64 on usage errors, 66 when the file cannot be read.</remarks>
internal static class PacketdrillCommand
{
    public const string UsageText = "usage: sluice packetdrill [--stack freebsd|rack] FILE.pkt\n";

    /// <summary>Runs the command line (the arguments after <c>packetdrill</c>).</summary>
    public static int Run(ReadOnlySpan<string> args, TextWriter stdout, TextWriter stderr)
    {
        string? stack = null;
        string? file = null;
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a is "--stack" or "-s" && i + 1 < args.Length)
            {
                stack = args[++i];
            }
            else if (a.StartsWith("--stack=", StringComparison.Ordinal))
            {
                stack = a["--stack=".Length..];
            }
            else if (a is "-h" or "--help")
            {
                stdout.Write(UsageText);
                return 0;
            }
            else if (a.StartsWith('-') || file is not null)
            {
                stderr.Write(UsageText);
                return Cli.ExitUsage;
            }
            else
            {
                file = a;
            }
        }

        if (file is null)
        {
            stderr.Write(UsageText);
            return Cli.ExitUsage;
        }

        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            stderr.WriteLine($"sluice packetdrill: {file}: {e.Message}");
            return Cli.ExitNoInput;
        }

        var failure = RunText(text, file, stack ?? "freebsd", stdout);
        if (failure is not null)
        {
            stderr.WriteLine(failure);
            return 1;
        }

        return 0;
    }

    /// <summary>Parses and runs <paramref name="text"/> under the TCP stack <paramref name="stack"/>; null on pass, else the failure.</summary>
    public static string? RunText(string text, string fileName, string stack, TextWriter log)
    {
        if (!PacketdrillParser.TryParse(text, fileName, out var script, out var error))
        {
            return error;
        }

        return new PacketdrillRunner(script, stack, log).Run();
    }
}
