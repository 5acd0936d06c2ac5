using Sluice.Cli;

namespace Sluice.Ipfw.Tests;

/// <summary>The seed topology: h1 (192.0.2.2) — r — h2 (203.0.113.5), on virtual time.</summary>
internal static class LabFixture
{
    public const string Topology = """
        jail -c name=h1 vnet persist
        jail -c name=h2 vnet persist
        jail -c name=r vnet persist
        ifconfig epair0 create
        ifconfig epair1 create
        ifconfig epair0a vnet h1
        ifconfig epair0b vnet r
        ifconfig epair1a vnet r
        ifconfig epair1b vnet h2
        jexec h1 ifconfig epair0a inet 192.0.2.2/24 up
        jexec r  ifconfig epair0b inet 192.0.2.1/24 up
        jexec r  ifconfig epair1a inet 203.0.113.1/24 up
        jexec h2 ifconfig epair1b inet 203.0.113.5/24 up
        jexec h1 route add default 192.0.2.1
        jexec h2 route add default 203.0.113.1
        jexec r sysctl net.inet.ip.forwarding=1

        """;

    public static (Lab Lab, StringWriter Out, StringWriter Err) Create(string script)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var lab = new Lab(stdout, stderr);
        var status = lab.RunScriptText(Topology + script, "test.lab");
        Assert.True(status == 0, stderr.ToString());
        return (lab, stdout, stderr);
    }

    public static (int Sent, int Received) PingStats(string output)
    {
        var m = System.Text.RegularExpressions.Regex.Match(output, @"(\d+) packets transmitted, (\d+) packets received");
        Assert.True(m.Success, output);
        return (int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The 99.9% two-sided interval of a binomial count (normal approximation, z = 3.2905).</summary>
    public static (double Low, double High) Binomial999(int n, double p)
    {
        var mean = n * p;
        var sd = Math.Sqrt(n * p * (1 - p));
        return (mean - (3.2905 * sd), mean + (3.2905 * sd));
    }
}
