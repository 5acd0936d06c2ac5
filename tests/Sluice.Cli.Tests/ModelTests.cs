using System.Text.RegularExpressions;
using CsCheck;

namespace Sluice.Cli.Tests;

/// <summary>Random command sequences checked against a model of what they should leave behind.</summary>
public sealed partial class ModelTests
{
    [GeneratedRegex(@"^\tinet (\S+) ", RegexOptions.Multiline)]
    private static partial Regex InetLine();

    [GeneratedRegex(@"^(10\.\d+\.0\.0/16) +192\.0\.2\.254 +UGS +epair0a$", RegexOptions.Multiline)]
    private static partial Regex StaticRoute();

    [Fact]
    public void AliasesAndDeletesMatchAModel()
    {
        Gen.Select(Gen.Int[0, 2], Gen.Int[1, 6]).Array[1, 25].Sample(ops =>
        {
            var stdout = new StringWriter();
            using var lab = new Lab(stdout, TextWriter.Null);
            lab.Execute("ifconfig epair0 create");
            var model = new HashSet<string>();
            foreach (var (op, x) in ops)
            {
                var address = $"192.0.2.{x}";
                switch (op)
                {
                    case 0:
                        Assert.Equal(0, lab.Execute($"ifconfig epair0a inet {address}/24 alias"));
                        model.Add(address);
                        break;
                    case 1:
                        Assert.Equal(model.Remove(address) ? 0 : 1, lab.Execute($"ifconfig epair0a inet {address} -alias"));
                        break;
                    default:
                        // Without "alias" the first address is replaced (clearaddr).
                        var addresses = lab.Host.FindInterface("epair0a")!.IPv4Addresses;
                        var first = addresses.Count > 0 ? addresses[0] : null;
                        Assert.Equal(0, lab.Execute($"ifconfig epair0a inet {address}/24"));
                        if (first is not null)
                        {
                            model.Remove(first.Address.ToString());
                        }

                        model.Add(address);
                        break;
                }
            }

            stdout.GetStringBuilder().Clear();
            lab.Execute("ifconfig epair0a inet");
            var shown = InetLine().Matches(stdout.ToString()).Select(m => m.Groups[1].Value).ToHashSet();
            Assert.True(model.SetEquals(shown), $"model {string.Join(',', model)} shown {string.Join(',', shown)}");
        }, iter: 300);
    }

    [Fact]
    public void RouteAddsAndDeletesMatchAModel()
    {
        Gen.Select(Gen.Bool, Gen.Int[1, 8]).Array[1, 30].Sample(ops =>
        {
            var stdout = new StringWriter();
            using var lab = new Lab(stdout, TextWriter.Null);
            lab.Execute("ifconfig epair0 create");
            lab.Execute("ifconfig epair0a inet 192.0.2.1/24 up");
            var model = new HashSet<string>();
            foreach (var (add, x) in ops)
            {
                var net = $"10.{x}.0.0/16";
                var expected = add ? model.Add(net) : model.Remove(net);
                var status = lab.Execute(add ? $"route add -net {net} 192.0.2.254" : $"route delete -net {net}");
                Assert.Equal(expected ? 0 : 1, status);
            }

            stdout.GetStringBuilder().Clear();
            lab.Execute("netstat -rn -f inet");
            var shown = StaticRoute().Matches(stdout.ToString()).Select(m => m.Groups[1].Value).ToHashSet();
            Assert.True(model.SetEquals(shown), stdout.ToString());
        }, iter: 300);
    }
}
