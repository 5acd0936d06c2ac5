using Sluice.Cli.Packetdrill;

namespace Sluice.Cli.Tests.Packetdrill;

/// <summary>Small scripts run against a fresh stack: passes, and each kind of mismatch reported with its line.</summary>
public sealed class PacketdrillRunnerTests
{
    private const string PassiveOpen = """
        --tolerance_usecs=10000
        0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
        +0 bind(3, ..., ...) = 0
        +0 listen(3, 1) = 0
        +0 %{ assert tcpi_state == TCPI_LISTEN }%
        +0.1 < S 0:0(0) win 32767 <mss 1460,sackOK,eol,eol>
        +0 > S. 0:0(0) ack 1 <...>
        +0.1 < . 1:1(0) ack 1 win 32767
        +0 accept(3, ..., ...) = 4
        +0 %{ assert tcpi_state == TCPI_ESTABLISHED }%
        +0 `sockstat -4 -P tcp -s | grep packetdril | grep -c ESTABLISHED | grep 1`
        +0 < P. 1:101(100) ack 1 win 32767
        +0 recv(4, ..., 1000, MSG_PEEK) = 100
        +0 read(4, ..., 1000) = 100
        +0 close(4) = 0
        +0 > F. 1:1(0) ack 101 <...>
        """;

    private const string UrgentReceive = """
        --ip_version=ipv4
        --tolerance_usecs=10000
         0.00 `sysctl -w net.inet.tcp.delacktime=40`
        +0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0.00 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
        +0.00 bind(3, ..., ...) = 0
        +0.00 listen(3, 1) = 0
        +0.00 < S   0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
        +0.00 > S.  0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>
        +0.01 <  .  1:1(0) ack 1 win 65535
        +0.00 accept(3, ..., ...) = 4
        +0.00 recv(4, ..., 1, MSG_OOB) = -1 EINVAL (Invalid argument)
        +0.00 <  .  1:11(10) ack 1 win 65535
        +0.00 < U.  11:21(10) ack 1 urg 5 win 65535
        +0.00 >  .  1:1(0) ack 21 win 65535
        +0.00 ioctl(4, SIOCATMARK, [0]) = 0
        +0.00 recv(4, ..., 100, 0) = 14
        +0.00 ioctl(4, SIOCATMARK, [1]) = 0
        +0.00 recv(4, ..., 1, MSG_OOB) = 1
        +0.00 recv(4, ..., 1, MSG_OOB) = -1 EINVAL (Invalid argument)
        +0.00 recv(4, ..., 100, 0) = 5
        +0.00 ioctl(4, SIOCATMARK, [0]) = 0
        // urgent pointer beyond this segment: the mark is known, the byte not yet
        +0.00 < U.  21:31(10) ack 1 urg 15 win 65535
        +0.00 recv(4, ..., 1, MSG_OOB) = -1 EAGAIN (Resource temporarily unavailable)
        +0.00 recv(4, ..., 100, 0) = 10
        +0.00 < U.  31:41(10) ack 1 urg 5 win 65535
        +0.00 >  .  1:1(0) ack 41 win 65535
        +0.00 recv(4, ..., 1, MSG_OOB) = 1
        +0.00 recv(4, ..., 100, 0) = 4
        +0.00 ioctl(4, SIOCATMARK, [1]) = 0
        +0.00 recv(4, ..., 100, 0) = 5
        +0.00 close(4) = 0
        +0.00 > F.  1:1(0) ack 41 win 65535
        +0.01 <  F. 41:41(0)  ack  2 win 65535
        +0.00 > . 2:2(0) ack 42 win 65535
        """;

    private const string UrgentSend = """
        --ip_version=ipv4
        --tolerance_usecs=10000
        +0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0.00 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
        +0.00 bind(3, ..., ...) = 0
        +0.00 listen(3, 1) = 0
        +0.00 < S   0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
        +0.00 > S.  0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>
        +0.01 <  .  1:1(0) ack 1 win 65535
        +0.00 accept(3, ..., ...) = 4
        +0.00 send(4, ..., 10, 0) = 10
        +0.00 > P. 1:11(10) ack 1 win 65535
        +0.01 < . 1:1(0) ack 11 win 65535
        +0.00 send(4, ..., 5, MSG_OOB) = 5
        +0.00 > UP. 11:16(5) ack 1 urg 5 win 65535
        +0.01 < . 1:1(0) ack 16 win 0
        // zero window: the urgent pointer still goes out on a one-byte forced segment
        +0.00 send(4, ..., 3, MSG_OOB) = 3
        +0.00 > U. 16:17(1) ack 1 urg 3 win 65535
        +0.01 < . 1:1(0) ack 17 win 65535
        +0.00 > UP. 17:19(2) ack 1 urg 2 win 65535
        +0.01 < . 1:1(0) ack 19 win 65535
        +0.00 close(4) = 0
        +0.00 > F. 19:19(0) ack 1 win 65535
        +0.01 < F. 1:1(0) ack 20 win 65535
        +0.00 > . 20:20(0) ack 2 win 65535
        """;

    private static string? Run(string text, string stack = "freebsd") => PacketdrillCommand.RunText(text, "t.pkt", stack, TextWriter.Null);

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void PassiveOpenPassesUnderBothStacks(string stack) => Assert.Null(Run(PassiveOpen, stack));

    /// <summary>recv(MSG_OOB), SIOCATMARK and the mark (soreceive_generic, tcp_usr_rcvoob) against segments with URG.</summary>
    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void UrgentDataIsReceivedAsFreeBsdDoes(string stack) => Assert.Null(Run(UrgentReceive, stack));

    /// <summary>send(MSG_OOB): URG and the pointer past the urgent data, also on a forced byte into a closed window.</summary>
    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void UrgentDataIsSentAsFreeBsdDoes(string stack) => Assert.Null(Run(UrgentSend, stack));

    [Fact]
    public void WrongUrgentPointerIsReported()
    {
        var failure = Run(UrgentSend.Replace("> UP. 11:16(5) ack 1 urg 5", "> UP. 11:16(5) ack 1 urg 4", StringComparison.Ordinal));
        Assert.Contains("live packet field tcp_urg_ptr: expected: 4 (0x4) vs actual: 5 (0x5)", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void OobInlineLeavesTheUrgentByteInTheStream()
    {
        var script = UrgentReceive
            .Replace("+0.00 accept(3, ..., ...) = 4", "+0.00 accept(3, ..., ...) = 4\n+0.00 setsockopt(4, SOL_SOCKET, SO_OOBINLINE, [1], 4) = 0", StringComparison.Ordinal);
        var cut = script.IndexOf("+0.00 recv(4, ..., 1, MSG_OOB) = 1", StringComparison.Ordinal);
        script = script[..cut] + "+0.00 recv(4, ..., 1, MSG_OOB) = -1 EINVAL (Invalid argument)\n+0.00 recv(4, ..., 100, 0) = 6\n";
        Assert.Null(Run(script));
    }

    [Fact]
    public void WrongAckIsReportedWithTheScriptLine()
    {
        var failure = Run(PassiveOpen.Replace("> S. 0:0(0) ack 1", "> S. 0:0(0) ack 2", StringComparison.Ordinal));
        Assert.NotNull(failure);
        Assert.StartsWith("t.pkt:8: error handling packet: live packet field tcp_ack_seq: expected: 2", failure, StringComparison.Ordinal);
        Assert.Contains("script packet:", failure, StringComparison.Ordinal);
        Assert.Contains("actual packet:", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void LatePacketIsATimingError()
    {
        var failure = Run(PassiveOpen.Replace("+0 > S. 0:0(0) ack 1", "+0.5 > S. 0:0(0) ack 1", StringComparison.Ordinal));
        Assert.StartsWith("t.pkt:8: error handling packet: timing error: expected outbound packet at 0.600000 sec but happened at 0.100000 sec", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingPacketTimesOut()
    {
        var failure = Run(PassiveOpen + "\n+0 > . 1:1(0) ack 9 win 1");
        Assert.Contains("t.pkt:18: error handling packet: Timed out waiting for packet", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void WrongOptionsAreShown()
    {
        var failure = Run(PassiveOpen.Replace("ack 1 <...>", "ack 1 <mss 1000>", StringComparison.Ordinal));
        Assert.Contains("t.pkt:8: error handling packet: bad outbound TCP options: expected: <mss 1000> vs actual: <mss 1460", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void SyscallResultAndErrnoAreChecked()
    {
        const string Head = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0\n";
        Assert.Equal("t.pkt:3: runtime error in connect call: Expected result 0 but got -1 with errno 36 (Operation now in progress)",
            Run(Head + "+0 connect(3, ..., ...) = 0"));
        Assert.Contains("Expected errno 61 (ECONNREFUSED) but got 36 (EINPROGRESS)", Run(Head + "+0 connect(3, ..., ...) = -1 ECONNREFUSED (x)"), StringComparison.Ordinal);
        Assert.Null(Run(Head + "+0 fcntl(3, F_GETFL) = 0x6 (flags O_RDWR|O_NONBLOCK)\n+0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65536], [4]) = 0"));
        Assert.Contains("bad getsockopt optval: expected: 1 actual: 65536", Run(Head + "+0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [1], [4]) = 0"), StringComparison.Ordinal);
        Assert.Null(Run("--non_fatal=syscall\n" + Head + "+0 connect(3, ..., ...) = 0"));
    }

    [Fact]
    public void BlockingConnectReturnsWhenTheHandshakeCompletes()
    {
        Assert.Null(Run("""
            0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0...0.1 connect(3, ..., ...) = 0
            +0 > S 0:0(0) <...>
            +0.1 < S. 0:0(0) ack 1 win 32767 <mss 1460>
            +0 > . 1:1(0) ack 1 <...>
            +0 %{ assert tcpi_state == TCPI_ESTABLISHED and tcpi_snd_mss > 0 }%
            """));
    }

    [Fact]
    public void ShellCommandsMapToSysctlSockstatAndTcpdrop()
    {
        Assert.Null(Run("0 `sysctl -w net.inet.tcp.sack.enable=0`\n+0 `sysctl net.inet.tcp.blackhole=0`\n+0 `sysctl -w net.inet.tcp.hostcache.purgenow=1`"));
        Assert.Contains("stack: sysctl net.inet.tcp.blackhole is not implemented", Run("0 `sysctl -w net.inet.tcp.blackhole=2`"), StringComparison.Ordinal);
        Assert.Contains("t.pkt:1: non-zero status 1 from shell command `sockstat -4 | grep -c TIME_WAIT | grep 1`", Run("0 `sockstat -4 | grep -c TIME_WAIT | grep 1`"), StringComparison.Ordinal);
        Assert.Null(Run("0 `tcpdrop -s TIME_WAIT`")); // nothing in TIME_WAIT: nothing to drop, status 0
        Assert.Contains("non-zero status 1 from shell command `tcpdrop 192.168.0.1 1 192.0.2.1 2`: tcpdrop: 192.168.0.1 1 192.0.2.1 2: No such process", Run("0 `tcpdrop 192.168.0.1 1 192.0.2.1 2`"), StringComparison.Ordinal);
        Assert.Null(Run("0 `setkey -F`")); // flushing an empty SAD succeeds
        Assert.Contains("interpreter: unsupported shell command 'ifconfig'", Run("0 `ifconfig tun0 create`"), StringComparison.Ordinal);
    }

    [Fact]
    public void FailedAssertionNamesTheField()
    {
        var failure = Run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 %{\nassert tcpi_state == TCPI_LISTEN\n}%");
        Assert.Equal("t.pkt:3: assertion failed: assert tcpi_state == TCPI_LISTEN (tcpi_state = 0)", failure);
    }

    [Fact]
    public void CommandLineExitStatus()
    {
        var dir = Directory.CreateTempSubdirectory("pd");
        try
        {
            var ok = Path.Combine(dir.FullName, "ok.pkt");
            var bad = Path.Combine(dir.FullName, "bad.pkt");
            File.WriteAllText(ok, PassiveOpen);
            File.WriteAllText(bad, "0 close(3) = 0");
            var err = new StringWriter();
            Assert.Equal(0, PacketdrillCommand.Run(["--stack", "rack", ok], TextWriter.Null, err));
            Assert.Equal(1, PacketdrillCommand.Run([bad], TextWriter.Null, err));
            Assert.Contains("bad.pkt:1: runtime error in close call: Expected result 0 but got -1 with errno 9", err.ToString(), StringComparison.Ordinal);
            Assert.Equal(1, PacketdrillCommand.Run(["--stack=nosuch", ok], TextWriter.Null, TextWriter.Null));
            Assert.Equal(Cli.ExitUsage, PacketdrillCommand.Run([], TextWriter.Null, TextWriter.Null));
            Assert.Equal(Cli.ExitNoInput, PacketdrillCommand.Run([Path.Combine(dir.FullName, "missing.pkt")], TextWriter.Null, TextWriter.Null));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
