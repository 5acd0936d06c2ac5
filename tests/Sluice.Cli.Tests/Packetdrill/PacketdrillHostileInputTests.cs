using CsCheck;
using Sluice.Cli.Packetdrill;

namespace Sluice.Cli.Tests.Packetdrill;

/// <summary>Random token soup and mutated scripts: the parser and the runner return an error, never throw.</summary>
public sealed class PacketdrillHostileInputTests
{
    private static readonly string[] Tokens =
    [
        "0", "+0", "+.1", "*", "~", "...", "1.00", "+0.00", "-1", "4294967295", "4294967296", "99999999999999999999", "0x", "0xffffffff",
        "<", ">", "<[noecn]", ">[ect0]", "[ce]", "(tos 0x20)", "(ttl 4)", "(hlim 300)", "(class", ")", "(", "[", "]", "{", "}", ",", ":", "!",
        "S", "S.", ".", "P.", "F.", "R", "R.", "SEW", "SE.", "W.", "FP.", "SF", "Q", "0:0(0)", "1:1(0)", "1:101(100)", "5:1(3)", "...(0)",
        "ack", "win", "urg", "1", "65535", "<mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0,eol>", "<...>", "<sack 1:2 3:4>", "<md5 valid>",
        "<FO 0102>", "<FO>", "<", "/udp(1 > 9811)", "/udp(", "icmp", "unreachable", "port_unreachable", "frag_needed", "mtu", "1300",
        "packet_too_big", "time_exceeded", "parameter_problem", "code_1", "[0:0(0)]", "socket(..., SOCK_STREAM, IPPROTO_TCP)", "= 3", "= 0",
        "= -1 EINPROGRESS (Operation now in progress)", "connect(3, ..., ...)", "bind(3, ..., ...)", "listen(3, 1)", "accept(3, ..., ...)",
        "close(3)", "shutdown(3, SHUT_WR)", "read(3, ..., 10)", "write(3, ..., 10)", "send(3, ..., 10, 0)", "recv(3, ..., 10, MSG_PEEK)",
        "sendto(3, ..., 10, 0, ..., ...)", "fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK)", "fcntl(3, F_GETFL)", "ioctl(3, FIONREAD, [0])",
        "getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4])", "setsockopt(3, IPPROTO_TCP, TCP_FUNCTION_BLK, {function_set_name=\"rack\", pcbcnt=0}, 36)",
        "setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8)", "`sysctl -w net.inet.tcp.sack.enable=0`", "`sysctl -w x=`", "`",
        "`sockstat -4 | grep -c TIME_WAIT | grep 1`", "`tcpdrop -s TIME_WAIT`", "%{ assert tcpi_state == TCPI_LISTEN }%", "%{", "}%",
        "%{ assert (1 // 0) }%", "%{ assert ((((((1 }%", "//", "/*", "*/", "#ifdef FreeBSD", "#ifdef STANDARD", "#else", "#endif", "#bogus",
        "--ip_version=ipv6", "--mtu=72", "--mtu=0", "--tolerance_usecs=1", "--bogus=1", "\n", "\n", "\n", " ", "\t", "\"", "\u00e9", "\0",
    ];

    private const string Sample = """
        --ip_version=ipv4
        --tolerance_usecs=10000
        0 `sysctl -w net.inet.tcp.sack.enable=1`
        +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
        +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
        +0 > S 0:0(0) win 65535 <...>
        +0.1 < S. 0:0(0) ack 1 win 32767 <mss 1460,sackOK,TS val 7 ecr 100,eol,eol>
        +0 > . 1:1(0) ack 1 <...>
        +0 < icmp unreachable frag_needed mtu 1300 [1:1(0)]
        +0 write(3, ..., 2000) = 2000
        * > . 1:1241(1240) ack 1 <...>
        +.1~+.3 < . 1:1(0) ack 1241 win 32767 <sack 1:2, nop, nop>
        +0 %{ assert tcpi_state == TCPI_ESTABLISHED }%
        +0 `sockstat -4 -P tcp -s | grep -c ESTABLISHED | grep 1`
        +0...0.2 read(3, ..., 10) = -1 EAGAIN (x)
        +0 close(3) = 0
        """;

    private static void NeverThrows(string text)
    {
        var ok = PacketdrillParser.TryParse(text, "h.pkt", out var script, out var error);
        Assert.True(ok || error!.StartsWith("h.pkt", StringComparison.Ordinal), error);
        if (ok)
        {
            foreach (var stack in new[] { "freebsd", "rack" })
            {
                var failure = new PacketdrillRunner(script, stack, TextWriter.Null).Run();
                Assert.True(failure is null || failure.StartsWith("h.pkt", StringComparison.Ordinal), failure);
            }
        }
    }

    [Fact]
    public void RandomTokenSoupNeverThrows()
    {
        Gen.Int[0, Tokens.Length - 1].Array[0, 24].Select(ix => string.Join(" ", ix.Select(i => Tokens[i])))
            .Sample(NeverThrows, iter: 10_000);
    }

    [Fact]
    public void MutatedScriptsNeverThrow()
    {
        var mutation = Gen.Select(Gen.Int[0, 3], Gen.Int[0, Sample.Length - 1], Gen.Int[1, 40], Gen.Int[0, Tokens.Length - 1]);
        mutation.Array[1, 4].Select(ms =>
        {
            var s = Sample;
            foreach (var (kind, at, len, token) in ms)
            {
                var pos = Math.Min(at, s.Length);
                var n = Math.Min(len, s.Length - pos);
                s = kind switch
                {
                    0 => s.Remove(pos, n),
                    1 => s.Insert(pos, Tokens[token]),
                    2 => s.Insert(pos, s.Substring(pos, n)),
                    _ => s.Remove(pos, n).Insert(pos, new string('9', n)),
                };
            }

            return s;
        }).Sample(NeverThrows, iter: 10_000);
    }
}
