using CsCheck;

namespace Sluice.Cli.Tests;

/// <summary>Random argument vectors into every tool: a status comes back, never an exception.</summary>
public sealed class HostileInputTests
{
    private static readonly string[] Vocabulary =
    [
        "-a", "-n", "-an", "-c", "-c3", "-i", "0.2", "-s", "-t", "-W", "-S", "-q", "-m", "-r", "-rn", "-i", "-b", "-s", "-4", "-6",
        "-f", "inet", "inet6", "link", "-d", "-e", "-N", "-j", "-l", "-g", "-p", "ip", "icmp", "udp", "--", "-", "-z", "-\u00e9",
        "create", "destroy", "up", "down", "mtu", "1500", "9", "99999999999999999999", "alias", "-alias", "delete", "netmask",
        "0xffffff00", "255.255.255.0", "prefixlen", "64", "129", "vnet", "-vnet", "description", "", " ", "\t", "=", "==",
        "epair", "epair0", "epair0a", "epair0b", "epair1", "epair32768", "lo0", "lo", "tap0", "j1", "j2",
        "192.0.2.1", "192.0.2.1/24", "192.0.2.2/33", "10.0.0.999", "0.0.0.0", "255.255.255.255", "127.0.0.1",
        "2001:db8::1", "2001:db8::1/64", "fe80::1%lo0", "::", ":::", "default", "add", "delete", "get", "change", "flush",
        "-net", "-host", "-inet6", "-netmask", "-prefixlen", "-blackhole", "name=j1", "name=j2", "vnet", "persist",
        "host.hostname=x", "path=/", "name=", "-c", "-r", "*", "jid", "name", "net.inet.ip.forwarding", "net.inet.ip.forwarding=1",
        "net.inet", "net", "kern.hostname=x", "=1", "net..inet", "02:00:00:00:00:01", "zz:zz", "pub", "temp", "1", "0", "-1", "3",
        "1e9", "nan", "inf", "0x", "\0", "\u2028", new string('x', 300),
    ];

    private static readonly string[] ToolNames = [.. Tools.Names];

    [Fact]
    public void RandomArgumentsNeverThrow()
    {
        var gen = Gen.Select(
            Gen.Int[0, ToolNames.Length - 1],
            Gen.Int[0, Vocabulary.Length - 1].Array[0, 7],
            Gen.String.Array[0, 2]);
        gen.Sample((tool, words, junk) =>
        {
            using var lab = new Lab(TextWriter.Null, TextWriter.Null);
            lab.Execute("jail -c name=j1 vnet persist");
            lab.Execute("ifconfig epair0 create");
            var argv = new List<string> { ToolNames[tool] };
            argv.AddRange(words.Select(i => Vocabulary[i]));
            argv.AddRange(junk);
            var status = lab.Execute(argv);
            Assert.InRange(status, 0, 255);
            var again = lab.Execute(["jexec", "j1", .. argv]);
            Assert.InRange(again, 0, 255);
            Assert.True(lab.InternalErrors == 0, string.Join(' ', argv));
        }, iter: 3000);
    }

    [Fact]
    public void RandomScriptsNeverThrow()
    {
        Gen.String.Array[0, 6].Sample(lines =>
        {
            using var lab = new Lab(TextWriter.Null, TextWriter.Null);
            var status = lab.RunScriptText(string.Join('\n', lines), "fuzz.lab");
            Assert.InRange(status, 0, 255);
            Assert.Equal(0, lab.InternalErrors);
        }, iter: 2000);
    }
}
