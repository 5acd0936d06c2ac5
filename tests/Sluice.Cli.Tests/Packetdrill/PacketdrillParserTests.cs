using Sluice.Cli.Packetdrill;

namespace Sluice.Cli.Tests.Packetdrill;

/// <summary>Each construct of the packetdrill dialect the FreeBSD suite uses, parsed into the script model.</summary>
public sealed class PacketdrillParserTests
{
    private static PacketdrillScript Parse(string text)
    {
        Assert.True(PacketdrillParser.TryParse(text, "t.pkt", out var script, out var error), error);
        return script;
    }

    private static string ParseError(string text)
    {
        Assert.False(PacketdrillParser.TryParse(text, "t.pkt", out _, out var error));
        return error!;
    }

    private static T Single<T>(string text) where T : ScriptEvent => Assert.IsType<T>(Assert.Single(Parse(text).Events));

    [Fact]
    public void HeaderOptionsAndCommentsAreRead()
    {
        var s = Parse("""
            // license
            /* block
               comment */
            --ip_version=ipv6
            --tolerance_usecs=75000
            --udp_encapsulation=tcp
            --non_fatal=syscall
            --mtu=1280
            --tcp_md5_secret=secret
            0 close(3) = 0 // trailing
            """);
        Assert.Equal("ipv6", s.Options["ip_version"]);
        Assert.Equal("75000", s.Options["tolerance_usecs"]);
        Assert.Equal("tcp", s.Options["udp_encapsulation"]);
        Assert.Equal("syscall", s.Options["non_fatal"]);
        Assert.Equal("1280", s.Options["mtu"]);
        Assert.Equal("secret", s.Options["tcp_md5_secret"]);
        Assert.Single(s.Events);
    }

    [Theory]
    [InlineData("0.00 close(3) = 0", "Absolute", 0)]
    [InlineData("1.5 close(3) = 0", "Absolute", 1_500_000)]
    [InlineData("+.1 close(3) = 0", "Relative", 100_000)]
    [InlineData("+ 0.00 close(3) = 0", "Relative", 0)]
    [InlineData("* > S 0:0(0) win 65535 <...>", "Any", 0)]
    [InlineData("close(3) = 0", "Relative", 0)]
    public void TimesAreAbsoluteRelativeOrAny(string line, string kind, long micros)
    {
        var ev = Assert.Single(Parse(line).Events);
        Assert.Equal(new ScriptTime(Enum.Parse<TimeKind>(kind), micros), ev.Time.Start);
    }

    [Fact]
    public void RangesAndBlockingWindowsAreRead()
    {
        var range = Single<TcpPacketEvent>("+.1~+.105 > . 1:1(0) ack 1");
        Assert.Equal(new ScriptTime(TimeKind.Relative, 100_000), range.Time.Start);
        Assert.Equal(new ScriptTime(TimeKind.Relative, 105_000), range.Time.RangeEnd);
        var block = Single<SyscallEvent>("+0...0.200 accept(3, ..., ...) = 4");
        Assert.Equal(new ScriptTime(TimeKind.Absolute, 200_000), block.Time.BlockEnd);
        var abs = Single<SyscallEvent>(" 1.00...6.00 connect(3, ..., ...) = -1 ETIMEDOUT (Operation timed out)");
        Assert.Equal(new ScriptTime(TimeKind.Absolute, 1_000_000), abs.Time.Start);
        Assert.Equal(new ScriptTime(TimeKind.Absolute, 6_000_000), abs.Time.BlockEnd);
        Assert.Equal("ETIMEDOUT", abs.Errno);
        Assert.Equal(-1, abs.Result);
    }

    [Theory]
    [InlineData("S")]
    [InlineData("S.")]
    [InlineData(".")]
    [InlineData("P.")]
    [InlineData("F.")]
    [InlineData("R")]
    [InlineData("R.")]
    [InlineData("SEW")]
    [InlineData("SE.")]
    [InlineData("W.")]
    [InlineData("FP.")]
    [InlineData("SF")]
    public void PacketFlagsAreRead(string flags)
    {
        var p = Single<TcpPacketEvent>($"+0 < {flags} 0:0(0) win 100");
        Assert.Equal(flags, p.Segment.Flags);
    }

    [Fact]
    public void SegmentFieldsAreRead()
    {
        var p = Single<TcpPacketEvent>("+0.00 > P. 1:1001(1000) ack 7 win 65535 urg 3");
        var s = p.Segment;
        Assert.False(s.Inbound);
        Assert.Equal(1u, s.Start);
        Assert.Equal(1001u, s.End);
        Assert.Equal(1000, s.Length);
        Assert.Equal(7u, s.Ack);
        Assert.Equal(65535u, s.Window);
        Assert.Equal(3u, s.Urgent);
        Assert.Null(s.Options);
        Assert.False(s.AnyOptions);
        Assert.False(s.AbsoluteSeq);
    }

    [Fact]
    public void AbsoluteAndUncheckedSequenceNumbers()
    {
        Assert.True(Single<TcpPacketEvent>("+0 > R. 0:0(0)! ack 1 win 0").Segment.AbsoluteSeq);
        var any = Single<TcpPacketEvent>("+0 > S. ...(0) ack 65537 win 65535").Segment;
        Assert.Null(any.Start);
        Assert.Equal(0, any.Length);
    }

    [Fact]
    public void OptionListIsRead()
    {
        var s = Single<TcpPacketEvent>("+0 < S 0:0(0) win 1 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0,eol,sack 1:2 3:4, md5 valid,FO 0102030405060708>").Segment;
        var o = s.Options!;
        Assert.Equal(["mss", "nop", "wscale", "sackOK", "TS", "eol", "sack", "md5", "FO"], o.Select(x => x.Kind));
        Assert.Equal(1460, o[0].A);
        Assert.Equal(6, o[2].A);
        Assert.Equal((100, 0), (o[4].A, o[4].B));
        Assert.Equal([(1u, 2u), (3u, 4u)], o[6].Blocks!);
        Assert.Equal(8, o[8].Bytes!.Length);
        Assert.True(Single<TcpPacketEvent>("* > S 0:0(0) win 65535 <...>").Segment.AnyOptions);
        Assert.Empty(Single<TcpPacketEvent>("+0 > F. 0:0(0) <>").Segment.Options!);
        Assert.Empty(Single<TcpPacketEvent>("+0 > S 0:0(0) win 65535 <mss 1460,FO,eol,eol>").Segment.Options![1].Bytes!);
    }

    [Fact]
    public void IpDecorationsAndEncapsulationAreRead()
    {
        var a = Single<TcpPacketEvent>("+0 > (tos 0xe0) . 1:1(0) ack 1 win 65535").Segment;
        Assert.Equal(0xe0, a.Ip.Tos);
        Assert.Equal(4, Single<TcpPacketEvent>("+0 < (ttl 4) . 1:1(0) ack 1 win 1").Segment.Ip.Ttl);
        Assert.Equal(7, Single<TcpPacketEvent>("+0 < (hlim 7) . 1:1(0) ack 1 win 1").Segment.Ip.Ttl);
        Assert.Equal(0x20, Single<TcpPacketEvent>("+0 < (class 0x20) . 1:1(0) ack 1 win 1").Segment.Ip.Tos);
        Assert.Equal(EcnSpec.NoEcn, Single<TcpPacketEvent>("+0 <[noecn] . 1:1(0) ack 1 win 1").Segment.Ip.Ecn);
        Assert.Equal(EcnSpec.Ect0, Single<TcpPacketEvent>("+0 >[ect0] P. 1:11(10) ack 1").Segment.Ip.Ecn);
        var u = Single<TcpPacketEvent>("+0 > S. 0:0(0) ack 1 <mss 1452,sackOK,eol,eol>/udp(9811 > 1)").Segment;
        Assert.Equal(((ushort)9811, (ushort)1), u.Udp);
        Assert.Null(u.Window);
    }

    [Fact]
    public void IcmpLinesAreRead()
    {
        var i = Single<IcmpPacketEvent>("+0 < icmp unreachable frag_needed mtu 1300 [1:1(0)]").Icmp;
        Assert.Equal(("unreachable", "frag_needed", 1300), (i.Type, i.Code, i.Mtu));
        var q = Single<IcmpPacketEvent>("+0.00 <icmp packet_too_big mtu 1300 [1433:2865(1432)/udp(9811 > 1)]").Icmp;
        Assert.Equal(("packet_too_big", null, 1300, 1432), (q.Type, q.Code, q.Mtu, q.Length));
        Assert.Equal(((ushort)9811, (ushort)1), q.Udp);
        Assert.Equal(4294967295u, Single<IcmpPacketEvent>("+0 < icmp time_exceeded ttl_exceeded_in_transit [4294967295:4294967295(0)]").Icmp.Start);
        Assert.Equal("code_2", Single<IcmpPacketEvent>("+0 < icmp parameter_problem code_2 [0:0(0)]").Icmp.Code);
        Assert.Null(Single<IcmpPacketEvent>("+0 < icmp source_quench [0:0(0)]").Icmp.Code);
    }

    [Fact]
    public void SystemCallsWithStructsListsAndErrnos()
    {
        var s = Single<SyscallEvent>("+0 setsockopt(4, IPPROTO_TCP, TCP_FUNCTION_BLK, {function_set_name=\"rack\", pcbcnt=0}, 36) = 0");
        var st = Assert.IsType<StructExpr>(s.Arguments[3]);
        Assert.Equal("function_set_name", st.Fields[0].Name);
        Assert.Equal("rack", Assert.IsType<StringExpr>(st.Fields[0].Value).Value);
        var g = Single<SyscallEvent>("+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0");
        Assert.Equal("ECONNRESET", Assert.IsType<NameExpr>(Assert.IsType<ListExpr>(g.Arguments[3]).Items[0]).Name);
        var f = Single<SyscallEvent>("+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)");
        Assert.Equal(2, f.Result);
        var o = Single<SyscallEvent>("+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0");
        Assert.Equal(2, Assert.IsType<OrExpr>(o.Arguments[2]).Terms.Count);
        var e = Single<SyscallEvent>("+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)");
        Assert.IsType<EllipsisExpr>(e.Arguments[1]);
        Assert.Equal("EINPROGRESS", e.Errno);
        Assert.Equal("write", Single<SyscallEvent>("+0 write (3, ..., 10) = 10").Name);
    }

    [Fact]
    public void ShellAndCodeBlocksAreRead()
    {
        Assert.Equal("sysctl -w net.inet.tcp.rfc1323=1", Single<ShellEvent>(" 0.00 `sysctl -w net.inet.tcp.rfc1323=1`").Command);
        var multi = Single<ShellEvent>("      `echo 'a ;\n   b' | setkey -c`");
        Assert.Contains("setkey", multi.Command, StringComparison.Ordinal);
        var code = Single<CodeEvent>("+0.00 %{ assert tcpi_state == TCPI_LISTEN }%");
        Assert.Contains("tcpi_state", code.Code, StringComparison.Ordinal);
        var s = Parse("+0 %{\nassert tcpi_state == 1\nassert tcpi_options == 0\n}%\n+0 close(3) = 0");
        Assert.Equal(2, s.Events.Count);
        Assert.Equal(5, s.Events[1].Line);
    }

    [Fact]
    public void IfdefKeepsTheFreeBsdBranch()
    {
        var s = Parse("#ifdef STANDARD\n+0 close(3) = 0\n#endif\n#ifdef FreeBSD\n+0 close(4) = 0\n#else\n+0 close(5) = 0\n#endif\n");
        var ev = Assert.IsType<SyscallEvent>(Assert.Single(s.Events));
        Assert.Equal(4, Assert.IsType<IntExpr>(ev.Arguments[0]).Value);
        Assert.Equal(5, ev.Line);
    }

    [Theory]
    [InlineData("+0 < S 0:0(1) win 1", "t.pkt:1: inconsistent")]
    [InlineData("\n\n+0 < Q 0:0(0)", "t.pkt:3: bad TCP flags")]
    [InlineData("+0 < S 0:0(0) <mss 1460,bogus 3>", "t.pkt:1: unknown TCP option 'bogus'")]
    [InlineData("+0 close(3 = 0", "t.pkt:1:")]
    [InlineData("+0 `sysctl", "t.pkt:1: unterminated backtick")]
    [InlineData("+0 %{ assert 1", "t.pkt:1: unterminated %{")]
    [InlineData("/* never closed", "t.pkt:1: unterminated /*")]
    [InlineData("#ifdef FreeBSD\n+0 close(3) = 0", "missing #endif")]
    [InlineData("#endif", "t.pkt:1: #endif without #ifdef")]
    [InlineData("+0 connect(3, ..., ...) = -1", "needs an errno")]
    [InlineData("+0 close(3) = 0\n--mtu=9000", "t.pkt:2: option --mtu=9000 after the first event")]
    [InlineData("+0 < icmp unreachable port_unreachable [1:5(3)]", "inconsistent quoted segment")]
    [InlineData("+0 < [bogus] . 1:1(0)", "unknown ECN codepoint")]
    [InlineData("+0 < (ttl 300) . 1:1(0)", "out of range")]
    public void BadScriptsReportFileAndLine(string text, string expected)
    {
        Assert.Contains(expected, ParseError(text), StringComparison.Ordinal);
    }
}
