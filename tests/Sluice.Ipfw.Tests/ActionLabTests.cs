using System.Text;
using Sluice.Cli;
using Sluice.Stack;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Ipfw.Tests;

/// <summary>reset, unreach6, log and nat in a lab on virtual time.</summary>
public sealed class ActionLabTests
{
    // h2 has no route back to 192.0.2.0/24: only a translated packet (source 203.0.113.1) gets an answer.
    private static readonly string NatTopology = LabFixture.Topology.Replace("jexec h2 route add default 203.0.113.1\n", string.Empty, StringComparison.Ordinal);

    private const string NatRules = """
        jexec r ipfw -q add 100 nat 1 ip from 192.0.2.0/24 to any out via epair1a
        jexec r ipfw -q add 200 nat 1 ip from any to 203.0.113.1 in via epair1a
        jexec r ipfw -q add 300 allow ip from any to any

        """;

    private static (Lab Lab, string Output) Run(string topology, string script)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var lab = new Lab(stdout, stderr);
        var status = lab.RunScriptText(topology + script, "actions.lab");
        Assert.True(status == 0, stderr.ToString() + stdout);
        return (lab, stdout.ToString());
    }

    private static NetStack Stack(Lab lab, string jail) => lab.Jail(jail)!.Stack;

    /// <summary>Runs one command and returns what it printed on the lab's stdout.</summary>
    private static string Capture(Lab lab, string commandLine)
    {
        var output = ((StringWriter)lab.Out).GetStringBuilder();
        var start = output.Length;
        Assert.Equal(0, lab.Execute(commandLine));
        return output.ToString(start, output.Length - start);
    }

    [Fact]
    public void NatGivesTheLanHostTheAliasAddressAndTranslatesTheRepliesBack()
    {
        var (lab, output) = Run(NatTopology, """
            jexec r ipfw nat 1 config ip 203.0.113.1 same_ports
            """ + "\n" + NatRules + """
            jexec h1 ping -c 3 203.0.113.5
            jexec r ipfw nat show config
            jexec r ipfw show

            """);
        using (lab)
        {
            Assert.Contains("3 packets transmitted, 3 packets received", output, StringComparison.Ordinal);
            Assert.Contains("ipfw nat 1 config ip 203.0.113.1 same_ports\n", output, StringComparison.Ordinal);
            Assert.Matches(@"00100 +3 +252 nat 1 ip from 192\.0\.2\.0/24 to any out via epair1a\n", output);
            Assert.Matches(@"00200 +3 +252 nat 1 ip from any to 203\.0\.113\.1 in via epair1a\n", output);
        }
    }

    [Fact]
    public void WithoutNatTheLanHostGetsNoAnswer()
    {
        var (lab, output) = Run(NatTopology, "! jexec h1 ping -c 2 -t 3 203.0.113.5\n");
        using (lab)
        {
            Assert.Contains("2 packets transmitted, 0 packets received", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TcpThroughNatUsesAnAliasPortAndKeepsChecksumsValid()
    {
        var (lab, _) = Run(NatTopology, "jexec r ipfw nat 1 config if epair1a\n" + NatRules);
        using (lab)
        {
            var h1 = Stack(lab, "h1");
            var h2 = Stack(lab, "h2");
            var (client, server) = Connect(lab, h1, h2, new IPv4Address(203, 0, 113, 5), 80, 80);
            var remote = server.RemoteEndpoint!.Value;
            Assert.Equal("203.0.113.1", remote.Address.ToString());
            Assert.InRange(remote.Port, 0x8000, 0xffff);
            Exchange(lab, client, server);
            Assert.Equal(1, IpfwInstance.Of(Stack(lab, "r")).Nat[1].LinkCount);
        }
    }

    [Fact]
    public void RedirectPortPublishesAnInnerServer()
    {
        var (lab, output) = Run(NatTopology, "jexec r ipfw nat 1 config ip 203.0.113.1 redirect_port tcp 192.0.2.2:80 8080\n" + NatRules
            + "jexec r ipfw nat 1 show config\n");
        using (lab)
        {
            Assert.Contains("ipfw nat 1 config ip 203.0.113.1 redirect_port tcp 192.0.2.2:80 8080\n", output, StringComparison.Ordinal);
            var h1 = Stack(lab, "h1");
            var h2 = Stack(lab, "h2");
            // h2 connects to the public address and port; h1's server sees h2's real address.
            var (client, server) = Connect(lab, h2, h1, new IPv4Address(203, 0, 113, 1), 8080, 80);
            Assert.Equal("203.0.113.5", server.RemoteEndpoint!.Value.Address.ToString());
            Assert.Equal("203.0.113.1", client.RemoteEndpoint!.Value.Address.ToString());
            Exchange(lab, client, server);
        }
    }

    [Fact]
    public void DenyInDropsUnsolicitedPacketsToTheAlias()
    {
        var (lab, output) = Run(LabFixture.Topology, "jexec r ipfw nat 1 config ip 203.0.113.1 deny_in\n" + NatRules
            + "! jexec h2 ping -c 2 -t 3 203.0.113.1\njexec h1 ping -c 1 203.0.113.5\n");
        using (lab)
        {
            Assert.Contains("2 packets transmitted, 0 packets received", output, StringComparison.Ordinal);
            Assert.Contains("1 packets transmitted, 1 packets received", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ResetAnswersATcpSynWithARst()
    {
        var (lab, output) = Run(LabFixture.Topology, """
            jexec r ipfw -q add 100 reset tcp from any to 192.0.2.2 80
            jexec r ipfw -q add 200 allow ip from any to any
            jexec r ipfw show 100

            """);
        using (lab)
        {
            Assert.Matches(@"00100 +0 +0 reset tcp from any to 192\.0\.2\.2 80\n", output);
            var h2 = Stack(lab, "h2");
            var client = h2.OpenTcp();
            Errno? closed = null;
            client.Closed = (_, e) => closed = e;
            Assert.Equal(Errno.EINPROGRESS, client.Connect(new InetEndpoint(new IPv4Address(192, 0, 2, 2), 80)));
            lab.Loop.RunFor(Nanos.PerSecond);
            Assert.Equal(Errno.ECONNREFUSED, closed);
        }
    }

    [Fact]
    public void Unreach6SendsAnIcmp6DestinationUnreachable()
    {
        var (lab, output) = Run(LabFixture.Topology, """
            jexec h1 ifconfig epair0a inet6 2001:db8:1::2/64
            jexec r ifconfig epair0b inet6 2001:db8:1::1/64
            jexec r ipfw -q add 100 unreach6 admin-prohib ipv6-icmp from any to 2001:db8:1::1
            jexec r ipfw -q add 200 allow ip from any to any
            ! jexec h1 ping6 -c 1 2001:db8:1::1
            jexec r ipfw show 100

            """);
        using (lab)
        {
            Assert.Contains("unreach6 admin-prohib ipv6-icmp from any to 2001:db8:1::1", output, StringComparison.Ordinal);
            Assert.Equal(1, Stack(lab, "r").Icmp6.OutHistogram[(byte)IcmpV6Type.DestinationUnreachable]);
            Assert.Equal(1, Stack(lab, "h1").Icmp6.InHistogram[(byte)IcmpV6Type.DestinationUnreachable]);
        }
    }

    [Fact]
    public void LogWritesEachMatchToIpfw0WithAFakeEthernetHeader()
    {
        var (lab, output) = Run(LabFixture.Topology, """
            jexec r ipfw -q add 100 count log icmp from any to any in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any

            """);
        using (lab)
        {
            var fw = IpfwInstance.Of(Stack(lab, "r"));
            var tap = new Recorder();
            fw.LogInterface.AddTap(tap);
            Assert.Equal(0, lab.Execute("jexec h1 ping -c 2 203.0.113.5"));
            Assert.Equal(2, fw.LoggedPackets);
            Assert.Equal(2, tap.Frames.Count);
            Assert.All(tap.Frames, f =>
            {
                Assert.Equal("DDDDDDSSSSSS", Encoding.ASCII.GetString(f, 0, 12));
                Assert.Equal(0x08, f[12]);
                Assert.Equal(0x00, f[13]);
                Assert.Equal(0x45, f[14]);
                Assert.Equal(84, f.Length - 14);
            });
            Assert.NotNull(Stack(lab, "r").FindInterface("ipfw0"));
        }
    }

    [Fact]
    public void VerboseLogWritesIpfwLogLinesToTheMessageBufferUpToTheLogLimit()
    {
        // ip_fw_log.c with verbose=1: "ipfw: %d %s %s %s via %s%s" at LOG_SECURITY|LOG_INFO; the protocol part is
        // "ICMP:%u.%u SRC DST" or "TCP SRC:PORT DST:PORT"; after max_log lines, "ipfw: limit %d reached on entry %d".
        var (lab, _) = Run(LabFixture.Topology, """
            jexec r ipfw -q flush
            jexec r sysctl net.inet.ip.fw.verbose=1
            jexec r sysctl net.inet.ip.fw.verbose_limit=3
            jexec r ipfw -q add 100 count log icmp from any to any in via epair0b
            jexec r ipfw -q add 150 deny log logamount 1 tcp from any to any 81 in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any

            """);
        using (lab)
        {
            var stack = Stack(lab, "r");
            var listing = Capture(lab, "jexec r ipfw list");
            Assert.Contains("00100 count log logamount 3 icmp from any to any in via epair0b", listing, StringComparison.Ordinal);
            Assert.Equal(0, lab.Execute("jexec h1 ping -c 5 203.0.113.5"));
            Assert.NotEqual(0, lab.Execute("jexec h1 fetch -T 3 -o /dev/null http://203.0.113.5:81/"));

            var all = Capture(lab, "jexec r dmesg -a").Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(3, all.Count(l => l == "ipfw: 100 Count ICMP:8.0 192.0.2.2 203.0.113.5 in via epair0b"));
            Assert.Single(all, l => l == "ipfw: limit 3 reached on entry 100");
            Assert.Single(all, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^ipfw: 150 Deny TCP 192\.0\.2\.2:\d+ 203\.0\.113\.5:81 in via epair0b$"));
            Assert.Single(all, l => l == "ipfw: limit 1 reached on entry 150");
            Assert.Equal(6, all.Count(l => l.StartsWith("ipfw: ", StringComparison.Ordinal)));

            // Plain dmesg shows kernel-facility lines only; ipfw logs at LOG_SECURITY.
            Assert.DoesNotContain("ipfw:", Capture(lab, "jexec r dmesg"), StringComparison.Ordinal);

            // resetlog lets the rule log again.
            Assert.Equal(0, lab.Execute("jexec r ipfw resetlog 100"));
            Assert.Equal(0, lab.Execute("jexec r dmesg -c -a"));
            Assert.Equal(0, lab.Execute("jexec h1 ping -c 1 203.0.113.5"));
            Assert.Equal("ipfw: 100 Count ICMP:8.0 192.0.2.2 203.0.113.5 in via epair0b\n", stack.Messages.Read(all: true));
        }
    }

    private sealed class Recorder : IFrameTap
    {
        public List<byte[]> Frames { get; } = [];

        public void OnFrame(NetworkInterface ifp, ReadOnlySpan<byte> frame, bool outbound) => Frames.Add(frame.ToArray());
    }

    private static (TcpSocket Client, TcpSocket Server) Connect(Lab lab, NetStack from, NetStack to, IPv4Address address, ushort port, ushort listenPort)
    {
        var listener = to.OpenTcp();
        Assert.Equal(Errno.None, listener.Bind(new IPv4Address(0, 0, 0, 0), listenPort));
        Assert.Equal(Errno.None, listener.Listen(4));
        var client = from.OpenTcp();
        Assert.Equal(Errno.EINPROGRESS, client.Connect(new InetEndpoint(address, port)));
        TcpSocket? server = null;
        Assert.True(lab.Loop.RunUntil(() => listener.TryAccept(out server) == Errno.None, 5 * Nanos.PerSecond), "no connection");
        lab.Loop.RunFor(10 * Nanos.PerMillisecond);
        Assert.Equal(TcpState.Established, client.State);
        return (client, server!);
    }

    private static void Exchange(Lab lab, TcpSocket client, TcpSocket server)
    {
        var data = new byte[20_000];
        new Random(1).NextBytes(data);
        var sent = 0;
        var received = new List<byte>();
        var buffer = new byte[4096];
        Assert.True(lab.Loop.RunUntil(() =>
        {
            if (sent < data.Length)
            {
                sent += client.Send(data.AsSpan(sent));
            }

            while (server.Receive(buffer) is var n and > 0)
            {
                received.AddRange(buffer.AsSpan(0, n));
            }

            return received.Count == data.Length;
        }, 10 * Nanos.PerSecond), $"{received.Count} of {data.Length} bytes");
        Assert.Equal(data, received.ToArray());
    }
}

/// <summary>fwd in a lab: a destination r has no route for reaches h2 because a rule forwards it there.</summary>
public sealed class ForwardLabTests
{
    [Fact]
    public void FwdSendsThePacketToTheNextHopInsteadOfItsRoute()
    {
        const string Script = """
            jexec h2 ifconfig epair1b inet 198.51.100.7/32 alias
            jexec r ipfw -q add 100 fwd 203.0.113.5 ip from any to 198.51.100.7 in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any
            jexec h1 ping -c 2 198.51.100.7
            jexec r ipfw show 100

            """;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Sluice.Cli.Lab(stdout, stderr);
        Assert.True(lab.RunScriptText(LabFixture.Topology + Script, "fwd.lab") == 0, stderr.ToString() + stdout);
        var output = stdout.ToString();
        Assert.Contains("2 packets transmitted, 2 packets received", output, StringComparison.Ordinal);
        Assert.Matches(@"00100 +2 +168 fwd 203\.0\.113\.5 ip from any to 198\.51\.100\.7 in via epair0b\n", output);
        // The echo replies came back with TTL 63: r decremented the forwarded requests' TTL as ip_forward does.
        Assert.Contains("ttl=63", output, StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutFwdTheDestinationIsUnreachable()
    {
        var stdout = new StringWriter();
        using var lab = new Sluice.Cli.Lab(stdout, TextWriter.Null);
        Assert.Equal(0, lab.RunScriptText(LabFixture.Topology + "jexec h2 ifconfig epair1b inet 198.51.100.7/32 alias\n! jexec h1 ping -c 1 -t 3 198.51.100.7\n", "nofwd.lab"));
        Assert.DoesNotContain("1 packets received", stdout.ToString(), StringComparison.Ordinal);
    }
}
