using Sluice.Cli;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Pf.Tests.Engine;

/// <summary>The seed article's pf.conf (only ext_if renamed) in a lab: NAT for the LAN, overload for a fast source.</summary>
public sealed class PfBruteForceLabTests
{
    private const string SeedConf =
        "# Macros\n"
        + "ext_if = \"epair1a\"\n"
        + "tcp_services = \"{ 22, 80, 443 }\"\n"
        + "# Normalize and reassemble\n"
        + "scrub in all fragment reassemble\n"
        + "# NAT outbound\n"
        + "nat on $ext_if from 192.168.1.0/24 to any -> ($ext_if)\n"
        + "# Stateful pass with connection rate limiting\n"
        + "pass in on $ext_if proto tcp to ($ext_if) port 22 \\\n"
        + "keep state (max-src-conn 5, max-src-conn-rate 3/10, \\\n"
        + "overload <brute_force> flush global)\n"
        + "block quick from <brute_force>\n";

    [Fact]
    public void AFastSourceLandsInBruteForceWhileOthersKeepWorking()
    {
        var dir = Directory.CreateTempSubdirectory("pf-lab");
        try
        {
            var conf = Path.Combine(dir.FullName, "pf.conf");
            File.WriteAllText(conf, SeedConf);
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            using var lab = new Lab(stdout, stderr);
            var script = string.Join('\n',
                "jail -c name=fw vnet persist", "jail -c name=lan vnet persist", "jail -c name=attacker vnet persist", "jail -c name=client vnet persist",
                "ifconfig epair0 create", "ifconfig epair1 create",
                "ifconfig epair0a vnet lan", "ifconfig epair0b vnet fw",
                "ifconfig epair1a vnet fw", "ifconfig epair1b vnet attacker",
                "jexec lan ifconfig epair0a inet 192.168.1.10/24 up", "jexec fw ifconfig epair0b inet 192.168.1.1/24 up",
                "jexec fw ifconfig epair1a inet 198.51.100.1/24 up", "jexec attacker ifconfig epair1b inet 198.51.100.66/24 up",
                "jexec attacker ifconfig epair1b inet 198.51.100.7/32 alias",
                "jexec lan route add default 192.168.1.1",
                "jexec fw sysctl net.inet.ip.forwarding=1",
                $"jexec fw pfctl -f {conf}", "jexec fw pfctl -e",
                "jexec lan ping -c 2 198.51.100.66", "");
            var status = lab.RunScriptText(script, "brute.lab");
            Assert.True(status == 0, stderr.ToString() + stdout);

            // The LAN host reached the outside through NAT: the state shows the translation.
            var fw = lab.Jail("fw")!.Stack;
            Assert.Contains("(192.168.1.10:", PfInstance.Of(fw).Engine.FormatStates(), StringComparison.Ordinal);

            var listener = fw.OpenTcp();
            Assert.Equal(Errno.None, listener.Bind(IPv4Address.Any, 22));
            Assert.Equal(Errno.None, listener.Listen(64));
            var attacker = lab.Jail("attacker")!.Stack;
            bool Connect(string from)
            {
                var c = attacker.OpenTcp();
                IPv4Address.TryParse(from, out var src);
                c.Bind(src, 0);
                c.Connect(new InetEndpoint(new IPv4Address(198, 51, 100, 1), 22));
                lab.Loop.RunFor(Nanos.PerSecond / 2);
                while (listener.TryAccept(out _) == Errno.None)
                {
                }

                return c.State == TcpState.Established;
            }

            for (var i = 0; i < 5; i++)
            {
                Connect("198.51.100.66");
            }

            stdout.GetStringBuilder().Clear();
            Assert.True(lab.Execute("jexec fw pfctl -t brute_force -T show") == 0, PfInstance.Of(fw).Engine.FormatStates(1));
            Assert.Equal("   198.51.100.66\n", stdout.ToString());
            Assert.False(Connect("198.51.100.66"));
            Assert.True(Connect("198.51.100.7"));
            // NAT keeps working for the LAN toward a source that is not blocked.
            Assert.Equal(0, lab.Execute("jexec lan ping -c 1 198.51.100.7"));
        }
        finally
        {
            dir.Delete(true);
        }
    }
}
