using Sluice.Stack;

namespace Sluice.Cli;

/// <summary>What a tool runs against: the lab, the jail (null for the host), its stack, and its stdout/stderr.</summary>
internal sealed record ToolContext(Lab Lab, LabJail? Jail, NetStack Stack, TextWriter Out, TextWriter Err, string Program)
{
    /// <summary>Prints <c>program: message</c> to stderr and returns <paramref name="status"/>.</summary>
    public int Fail(string message, int status = 1)
    {
        Err.WriteLine($"{Program}: {message}");
        return status;
    }
}

/// <summary>A FreeBSD command: parses its arguments like FreeBSD and acts on <see cref="ToolContext.Stack"/>.</summary>
internal interface ITool
{
    /// <summary>Runs with <paramref name="args"/> (argv without argv[0]); returns the exit status. Never throws for bad input.</summary>
    int Run(ToolContext ctx, ReadOnlySpan<string> args);
}

/// <summary>The tools by name.</summary>
internal static class Tools
{
    private static readonly Dictionary<string, ITool> ByName = new(StringComparer.Ordinal)
    {
        ["ifconfig"] = new Ifconfig(),
        ["route"] = new Route(),
        ["netstat"] = new Netstat(),
        ["tcpdrop"] = new Tcpdrop(),
        ["arp"] = new Arp(),
        ["ndp"] = new Ndp(),
        ["sysctl"] = new Sysctl(),
        ["pfctl"] = new Pfctl(),
        ["ipfw"] = new Ipfw(),
        ["dnctl"] = new Dnctl(),
        ["ping"] = new Ping(),
        ["dmesg"] = new Dmesg(),
        ["ping6"] = new Ping(),
        ["tcpdump"] = new Tcpdump(),
        ["jail"] = new Jail(),
        ["jls"] = new Jls(),
        ["jexec"] = new Jexec(),
        ["hostname"] = new Builtins.Hostname(),
        ["echo"] = new Builtins.Echo(),
        ["sleep"] = new Builtins.Sleep(),
        ["true"] = new Builtins.True(),
        ["false"] = new Builtins.False(),
        ["fetch"] = new Fetch(),
        ["httpd"] = new Httpd(),
        ["setkey"] = new Setkey(),
    };

    public static IEnumerable<string> Names => ByName.Keys;

    public static bool TryGet(string name, out ITool tool) => ByName.TryGetValue(name, out tool!);
}
