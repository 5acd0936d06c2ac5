using Sluice.Cli.Formatting;

namespace Sluice.Cli.Tests;

/// <summary>Formatters checked against the samples in shared/reference/freebsd-output-formats.md.</summary>
public sealed class FormatTests
{
    [Fact]
    public void IfconfigMatchesTheVnetEpairSample()
    {
        var status = new InterfaceStatus(
            "epair6b", 0x1008843, 1500, "jail:jammy:bridge0", 0x8, "02:55:ef:72:1f:0b",
            [new Inet4Line("192.168.1.12", 0xffffff00, "192.168.1.255")], [], ["epair"],
            "Ethernet 10Gbase-T (10Gbase-T <full-duplex>)", "active", 0x29);
        const string Expected =
            "epair6b: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500\n"
            + "\tdescription: jail:jammy:bridge0\n"
            + "\toptions=8<VLAN_MTU>\n"
            + "\tether 02:55:ef:72:1f:0b\n"
            + "\tinet 192.168.1.12 netmask 0xffffff00 broadcast 192.168.1.255\n"
            + "\tgroups: epair\n"
            + "\tmedia: Ethernet 10Gbase-T (10Gbase-T <full-duplex>)\n"
            + "\tstatus: active\n"
            + "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n";
        Assert.Equal(Expected, IfconfigFormat.Status(status));
    }

    [Fact]
    public void IfconfigLoopbackLinesMatchTheHandbook()
    {
        var status = new InterfaceStatus(
            "lo0", 0x8049, 16384, null, 0x680003, null,
            [new Inet4Line("127.0.0.1", 0xff000000, null)],
            [new Inet6Line("::1", 128, 0, 0), new Inet6Line("fe80::1%lo0", 64, 0, 2)],
            ["lo"], null, null, 0x21);
        var text = IfconfigFormat.Status(status);
        Assert.StartsWith("lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 0 mtu 16384\n", text, StringComparison.Ordinal);
        Assert.Contains("\toptions=680003<RXCSUM,TXCSUM,LINKSTATE,RXCSUM_IPV6,TXCSUM_IPV6>\n", text, StringComparison.Ordinal);
        Assert.Contains("\tinet6 ::1 prefixlen 128\n", text, StringComparison.Ordinal);
        Assert.Contains("\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x2\n", text, StringComparison.Ordinal);
        Assert.Contains("\tinet 127.0.0.1 netmask 0xff000000\n", text, StringComparison.Ordinal);
        Assert.EndsWith("\tgroups: lo\n\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void UnnamedFlagBitsCountInTheHexButHaveNoName() =>
        Assert.Equal("8863<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>", CFormat.Bits(0x8863, IfconfigFormat.InterfaceFlagNames));

    [Fact]
    public void Inet6FlagsAndTentative() =>
        Assert.Equal("\tinet6 2001:db8::1 prefixlen 64 tentative\n", IfconfigFormat.Inet6(new Inet6Line("2001:db8::1", 64, 0x2, 0)));

    [Fact]
    public void NetstatRoutesMatchTheSampleLayout()
    {
        RouteRow[] rows =
        [
            new("default", "10.16.0.1", "UGS", "vtnet0", 0),
            new("10.16.0.0/24", "link#1", "U", "vtnet0", 0),
            new("10.16.0.101", "link#1", "UHS", "lo0", 0),
            new("127.0.0.1", "link#2", "UH", "lo0", 0),
            new("192.168.69.0/24", "link#4", "U", "epair0a", 0),
            new("192.168.69.1", "link#4", "UHS", "lo0", 0),
        ];
        const string Expected =
            "\nInternet:\n"
            + "Destination        Gateway            Flags     Netif Expire\n"
            + "default            10.16.0.1          UGS      vtnet0\n"
            + "10.16.0.0/24       link#1             U        vtnet0\n"
            + "10.16.0.101        link#1             UHS         lo0\n"
            + "127.0.0.1          link#2             UH          lo0\n"
            + "192.168.69.0/24    link#4             U       epair0a\n"
            + "192.168.69.1       link#4             UHS         lo0\n";
        Assert.Equal(Expected, NetstatFormat.RouteSection(inet6: false, numeric: true, rows));
    }

    [Fact]
    public void NetstatRoutesIPv6HeaderAndProtrusion()
    {
        var text = NetstatFormat.RouteSection(inet6: true, numeric: true,
        [
            new("2001:db8:1234:5678:9abc:def0:1234:5678/128", "link#2", "UHS", "lo0", 0),
            new("::1", "link#1", "UH", "lo0", 30),
        ]);
        var lines = text.Split('\n');
        Assert.Equal("Destination                       Gateway                       Flags     Netif Expire", lines[2]);
        // The 42-character destination sticks out of its 33 columns; the gateway column gives the 9 back.
        Assert.Equal("2001:db8:1234:5678:9abc:def0:1234:5678/128 link#2" + new string(' ', 15) + "UHS         lo0", lines[3]);
        Assert.Equal(lines[2].IndexOf("Flags", StringComparison.Ordinal), lines[3].IndexOf("UHS", StringComparison.Ordinal));
        Assert.Equal("::1                               link#1                        UH          lo0     30", lines[4]);
    }

    [Fact]
    public void NetstatInterfacesMatchTheSample()
    {
        Assert.Equal("Name    Mtu Network       Address              Ipkts Ierrs Idrop    Opkts Oerrs  Coll\n", NetstatFormat.InterfaceHeader(bytes: false));
        Assert.Equal("vtnet  1500 <Link#1>      52:54:00:9d:0e:67    10017     0     0     8174     0     0\n",
            NetstatFormat.InterfaceLine(new InterfaceRow("vtnet0", true, 1500, "<Link#1>", "52:54:00:9d:0e:67", 10017, 0, 0, 0, 8174, 0, 0, 0), false));
        Assert.Equal("vtnet     - fe80::%vtnet0 fe80::5054:ff:fe9        0     -     -        4     -     -\n",
            NetstatFormat.InterfaceLine(new InterfaceRow("vtnet0", true, null, "fe80::%vtnet0/64", "fe80::5054:ff:fe9d:e67", 0, null, null, 0, 4, null, 0, null), false));
        Assert.Equal("lo0   16384 <Link#2>      lo0                 260148     0     0   260148     0     0\n",
            NetstatFormat.InterfaceLine(new InterfaceRow("lo0", true, 16384, "<Link#2>", "lo0", 260148, 0, 0, 0, 260148, 0, 0, 0), false));
        Assert.StartsWith("igb1*  1500 <Link#3>", NetstatFormat.InterfaceLine(new InterfaceRow("igb1", false, 1500, "<Link#3>", "x", 0, 0, 0, 0, 0, 0, 0, 0), false), StringComparison.Ordinal);
    }

    [Fact]
    public void PingSummaryMatchesTheHandbook()
    {
        var tally = new PingTally { Transmitted = 2 };
        tally.AddReply(55.173, false);
        tally.AddReply(53.093, false);
        Assert.Equal(
            "\n--- web.geo.FreeBSD.org ping statistics ---\n"
            + "2 packets transmitted, 2 packets received, 0.0% packet loss\n"
            + "round-trip min/avg/max/stddev = 53.093/54.133/55.173/1.040 ms\n",
            PingFormat.Summary("web.geo.FreeBSD.org", tally));
        Assert.Equal("64 bytes from 147.28.184.45: icmp_seq=0 ttl=51 time=55.173 ms", PingFormat.Reply4(64, "147.28.184.45", 0, 51, 55.173, false));
        Assert.Equal("PING web.geo.FreeBSD.org (147.28.184.45): 56 data bytes", PingFormat.Banner4("web.geo.FreeBSD.org", "147.28.184.45", null, 56));
    }

    [Fact]
    public void PingSummaryWithLossAndNoReplies()
    {
        var some = new PingTally { Transmitted = 3 };
        some.AddReply(1, false);
        some.AddReply(2, false);
        Assert.Contains("3 packets transmitted, 2 packets received, 33.3% packet loss\n", PingFormat.Summary("h", some), StringComparison.Ordinal);

        var none = new PingTally { Transmitted = 1 };
        Assert.Equal("\n--- 2001:db8::2 ping statistics ---\n1 packets transmitted, 0 packets received, 100.0% packet loss\n",
            PingFormat.Summary("2001:db8::2", none));
    }

    [Fact]
    public void PingDuplicatesAndIPv6Lines()
    {
        var t = new PingTally { Transmitted = 1 };
        t.AddReply(1, false);
        t.AddReply(3, true);
        var summary = PingFormat.Summary("x", t);
        Assert.Contains("1 packets transmitted, 1 packets received, +1 duplicates, 0.0% packet loss\n", summary, StringComparison.Ordinal);
        Assert.Contains("= 1.000/2.000/3.000/1.000 ms", summary, StringComparison.Ordinal);
        Assert.Equal("PING(56=40+8+8 bytes) 2001:db8::1 --> 2001:db8::2", PingFormat.Banner6("2001:db8::1", "2001:db8::2", 8));
        Assert.Equal("64 bytes from 2001:db8::2, icmp_seq=1 hlim=64 time=0.084 ms", PingFormat.Reply6(64, "2001:db8::2", 1, 64, 0.084, false));
        Assert.Equal("64 bytes from 192.0.2.2: icmp_seq=1 ttl=64 time=1.000 ms (DUP!)", PingFormat.Reply4(64, "192.0.2.2", 1, 64, 1, true));
    }

    [Fact]
    public void PingQuotedHeaderMatchesTheUnreachableSample()
    {
        byte[] ip = [0x45, 0x00, 0x00, 0x54, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0xf6, 0xa4, 192, 0, 2, 1, 192, 0, 2, 2];
        Assert.Equal(
            "Vr HL TOS  Len   ID Flg  off TTL Pro  cks       Src       Dst\n"
            + " 4  5  00 0054 0001   0 0000  40  01 f6a4 192.0.2.1 192.0.2.2",
            PingFormat.QuotedHeader4(ip));
        Assert.Equal("Destination Host Unreachable", PingFormat.Icmp4Error(3, 1, 0));
    }

    [Theory]
    [InlineData(0.25, 1, "0.2")]
    [InlineData(0.35, 1, "0.3")] // 0.35 is 0.34999... in binary
    [InlineData(33.333333333, 1, "33.3")]
    [InlineData(2.5, 0, "2")]
    [InlineData(3.5, 0, "4")]
    [InlineData(99.96, 1, "100.0")]
    [InlineData(0.0005, 3, "0.001")] // 0.0005 is 0.000500000000000000010... in binary
    [InlineData(-0.0001, 3, "-0.000")]
    public void FixedRoundsLikeCPrintf(double value, int decimals, string expected) =>
        Assert.Equal(expected, CFormat.Fixed(value, decimals));

    [Fact]
    public void JlsMatchesTheSamples()
    {
        Assert.Equal("   JID  IP Address      Hostname                      Path\n", NeighborFormat.JlsHeader());
        Assert.Equal("     3  192.168.3.17    ns.example.org                /home/j/ns\n", NeighborFormat.JlsRow(3, "192.168.3.17", "ns.example.org", "/home/j/ns"));
        Assert.Equal("     1                  webserver                     /jail/webserver\n", NeighborFormat.JlsRow(1, string.Empty, "webserver", "/jail/webserver"));
    }

    [Fact]
    public void ArpAndNdpLines()
    {
        Assert.Equal("? (192.168.1.1) at 00:1f:16:0f:27:5a on em0 expires in 1186 seconds [ethernet]\n",
            NeighborFormat.Arp(new ArpLine("192.168.1.1", "00:1f:16:0f:27:5a", "em0", false, 1186)));
        Assert.Equal("? (192.168.1.19) at 00:1f:16:0f:27:5b on em0 permanent [ethernet]\n",
            NeighborFormat.Arp(new ArpLine("192.168.1.19", "00:1f:16:0f:27:5b", "em0", true, null)));
        Assert.Equal("? (192.168.1.7) at (incomplete) on em0 expired [ethernet]\n",
            NeighborFormat.Arp(new ArpLine("192.168.1.7", null, "em0", false, 0)));
        Assert.Equal("Neighbor                             Linklayer Address  Netif Expire    S Flags\n", NeighborFormat.NdpHeader());
        Assert.Equal("fe80::1%em0                          00:1f:16:0f:27:5a    em0 23h59m58s S R\n",
            NeighborFormat.Ndp(new NdpLine("fe80::1%em0", "00:1f:16:0f:27:5a", "em0", false, 86398, 'S', "R")));
        Assert.Equal("1d0h0m5s", NeighborFormat.SecondsToString(86405));
        Assert.Equal("30s", NeighborFormat.SecondsToString(30));
    }

    [Fact]
    public void UdpStatisticsUseNetstatWording()
    {
        var udp = new Sluice.Stack.UdpStatistics { Received = 5, NoPort = 1, Sent = 1 };
        Assert.Equal(
            "udp:\n\t5 datagrams received\n\t0 with incomplete header\n\t0 with bad data length field\n\t0 with bad checksum\n"
            + "\t0 with no checksum\n\t1 dropped due to no socket\n\t0 broadcast/multicast datagrams undelivered\n"
            + "\t0 dropped due to full socket buffers\n\t4 delivered\n\t1 datagram output\n",
            ProtocolStatistics.Udp(udp, zeros: true));
        Assert.Equal("udp:\n\t5 datagrams received\n\t1 dropped due to no socket\n\t4 delivered\n\t1 datagram output\n",
            ProtocolStatistics.Udp(udp, zeros: false));
    }
}
