using Sluice.Cli;

namespace Sluice.Pf.Tests.Engine;

/// <summary>The pf example labs in examples/, run as they are from the repository root.</summary>
public sealed class PfExampleLabTests
{
    private static string RepositoryRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "examples", "pf-brute-force.lab")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        Assert.NotNull(dir);
        return dir!;
    }

    [Fact]
    public void BruteForceExampleNatsTheLanAndShowsTheOverloadTable()
    {
        // The lab names its pf.conf relative to the repository root, as a user running it from there would.
        var root = RepositoryRoot();
        Environment.CurrentDirectory = root;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Lab(stdout, stderr);
        var status = lab.RunScript(Path.Combine(root, "examples", "pf-brute-force.lab"));
        var output = stdout.ToString();
        Assert.True(status == 0, stderr.ToString() + output);
        Assert.Equal("pf enabled\n", stderr.ToString());
        Assert.Contains("nat on epair1a inet from 192.168.1.0/24 to any -> (epair1a) round-robin\n", output, StringComparison.Ordinal);
        Assert.Contains("scrub in all fragment reassemble\n", output, StringComparison.Ordinal);
        Assert.Contains("pass in on epair1a proto tcp from any to (epair1a) port = ssh flags S/SA keep state (source-track rule, max-src-conn 5, max-src-conn-rate 3/10, overload <brute_force> flush global)\n", output, StringComparison.Ordinal);
        Assert.Contains("2 packets transmitted, 2 packets received, 0.0% packet loss\n", output, StringComparison.Ordinal);
        Assert.Matches(@"all icmp 198\.51\.100\.1:\d+ \(192\.168\.1\.10:\d+\) -> 198\.51\.100\.2:\d+", output);
        Assert.EndsWith("brute_force\n", output, StringComparison.Ordinal);

        // The seed rule set has no block rule: the table is there, empty, for a block rule to use.
        var fw = lab.Jail("fw")!.Stack;
        Assert.Empty(PfInstance.Of(fw).Tables["brute_force"].Entries);
        Assert.True(PfInstance.Of(fw).Engine.StateCount >= 1);
    }
    [Fact]
    public void TcpdumpOnPflog0WritesThePacketsLogRulesRecord()
    {
        var file = Path.GetTempFileName();
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            using var lab = new Lab(stdout, stderr);
            var conf = Path.GetTempFileName();
            File.WriteAllText(conf, "block log quick proto icmp\npass all\n");
            var status = lab.RunScriptText(string.Join('\n',
                "jail -c name=a vnet persist", "jail -c name=b vnet persist", "ifconfig epair0 create",
                "ifconfig epair0a vnet a", "ifconfig epair0b vnet b",
                "jexec a ifconfig epair0a inet 192.0.2.1/24 up", "jexec b ifconfig epair0b inet 192.0.2.2/24 up",
                $"jexec b pfctl -f {conf}", "jexec b pfctl -e", $"jexec b tcpdump -i pflog0 -w {file}",
                "! jexec a ping -c 1 192.0.2.2", ""), "pflog.lab");
            File.Delete(conf);
            Assert.True(status == 0, stderr.ToString());
            Assert.Contains("tcpdump: listening on pflog0, link-type PFLOG (OpenBSD pflog file)", stderr.ToString(), StringComparison.Ordinal);
            var bytes = File.ReadAllBytes(file);
            Assert.Equal(117u, BitConverter.ToUInt32(bytes, 20)); // DLT_PFLOG
            Assert.True(bytes.Length > 24 + 16 + 72 + 28, $"{bytes.Length} bytes");
            Assert.Equal(69, bytes[24 + 16]); // pfloghdr length of the first record
        }
        finally
        {
            File.Delete(file);
        }
    }
}
