using System.Buffers.Binary;
using Sluice.Pf.Engine;
using Sluice.Stack.Pfil;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Testing;
using Sluice.Wire;

namespace Sluice.Pf.Tests.Engine;

/// <summary>The pf engine on virtual time: filtering, states, NAT, tables, anchors, overload, counters.</summary>
public sealed class PfEngineTests
{
    private static InetEndpoint Ep(string a, ushort port) =>
        new(a.Contains(':', StringComparison.Ordinal) ? PfNet.V6(a) : PfNet.V4(a), port);

    [Fact]
    public void DefaultBlockLetsRepliesThroughTheStateButNotNewInboundFlows()
    {
        var net = new PfNet();
        net.Load("block all\npass out on $ext_if keep state\npass in on $int_if keep state\n");
        using var lanSock = PfNet.Bound(net.Lan, 5000);
        using var wanSock = PfNet.Bound(net.Wan, 53);
        var (got, from) = net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53));
        Assert.True(got);
        Assert.Equal(Ep("10.0.0.2", 5000), from);

        // The reply matches the state although "block all" would drop it.
        var (back, _) = net.Udp(wanSock, lanSock, Ep("10.0.0.2", 5000));
        Assert.True(back);

        // A new flow from outside is blocked.
        using var other = PfNet.Bound(net.Lan, 6000);
        var (blocked, _) = net.Udp(wanSock, other, Ep("10.0.0.2", 6000));
        Assert.False(blocked);
        Assert.Contains("all udp 192.0.2.2:53 <- 10.0.0.2:5000       SINGLE:MULTIPLE\n", net.Pf.Engine.FormatStates(), StringComparison.Ordinal);
    }

    [Fact]
    public void QuickStopsEvaluationWhileOtherwiseTheLastMatchWins()
    {
        var net = new PfNet();
        using var lanSock = PfNet.Bound(net.Lan, 5000);
        using var wanSock = PfNet.Bound(net.Wan, 53);
        net.Load("pass all\nblock in on $int_if proto udp\n");
        Assert.False(net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53)).Got);

        net.Load("pass in quick on $int_if proto udp\nblock in on $int_if proto udp\n");
        Assert.True(net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53)).Got);
    }

    [Fact]
    public void ReturnIcmpReachesTheUdpSenderAsConnectionRefused()
    {
        var net = new PfNet();
        net.Load("pass all\nblock return-icmp in on $int_if proto udp to port 53\n");
        using var lanSock = PfNet.Bound(net.Lan, 5000);
        using var wanSock = PfNet.Bound(net.Wan, 53);
        lanSock.Connect(Ep("192.0.2.2", 53));
        Assert.False(net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53)).Got);
        Assert.Equal(Errno.ECONNREFUSED, lanSock.PendingError);
    }

    [Fact]
    public void ReturnRstRefusesATcpConnect()
    {
        var net = new PfNet();
        net.Load("pass all\nblock return-rst in on $int_if proto tcp to port 22\n");
        var listener = net.Wan.OpenTcp();
        Assert.Equal(Errno.None, listener.Bind(PfNet.V4("192.0.2.2"), 22));
        Assert.Equal(Errno.None, listener.Listen(4));
        var c = net.Lan.OpenTcp();
        Errno? closed = null;
        c.Closed = (_, e) => closed = e;
        Assert.Equal(Errno.EINPROGRESS, c.Connect(Ep("192.0.2.2", 22)));
        net.Loop.RunUntil(() => closed is not null, 10 * Nanos.PerSecond);
        Assert.Equal(Errno.ECONNREFUSED, closed);
        Assert.Equal(0, listener.PendingAccepts);
    }

    [Fact]
    public void NatShowsTheExternalAddressOutsideAndRestoresTheReply()
    {
        var net = new PfNet();
        var pf = net.Load("nat on $ext_if from 10.0.0.0/24 to any -> ($ext_if)\npass all\n");
        using var lanSock = PfNet.Bound(net.Lan, 5000);
        using var wanSock = PfNet.Bound(net.Wan, 53);
        var (got, from) = net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53));
        Assert.True(got);
        Assert.Equal(PfNet.V4("192.0.2.1"), from.Address.V4);
        Assert.InRange(from.Port, 50001, 65535);
        var (back, replyFrom) = net.Udp(wanSock, lanSock, from);
        Assert.True(back);
        Assert.Equal(Ep("192.0.2.2", 53), replyFrom);
        Assert.Contains($"all udp 192.0.2.1:{from.Port} (10.0.0.2:5000) -> 192.0.2.2:53       MULTIPLE:SINGLE\n", pf.Engine.FormatStates(), StringComparison.Ordinal);

        // Ping through NAT too (ICMP id translated and restored).
        var pinger = net.Lan.CreatePinger(new Sluice.Stack.Icmp.PingOptions { Destination = PfNet.V4("192.0.2.2"), Count = 2, IntervalNs = Nanos.PerSecond });
        pinger.Start();
        net.Loop.RunUntil(() => pinger.IsFinished, 10 * Nanos.PerSecond);
        Assert.Equal(2, pinger.Received);
    }

    [Fact]
    public void IcmpErrorThroughNatCarriesTheRewrittenQuotedHeaderWithValidChecksums()
    {
        var net = new PfNet();
        net.Load("nat on $ext_if from 10.0.0.0/24 to any -> ($ext_if)\npass all\n");
        var log = new FrameLog();
        net.LanIf.AddTap(log);
        using var lanSock = PfNet.Bound(net.Lan, 5000);
        lanSock.Connect(Ep("192.0.2.2", 9)); // nothing listens: wan answers port unreachable to the NAT address
        lanSock.Send("hello"u8);
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(Errno.ECONNREFUSED, lanSock.PendingError);

        var icmp = log.Frames.Where(f => !f.Outbound && f.Frame.Length > 14 + 20 && f.Frame[14 + 9] == 1).Select(f => f.Frame.AsSpan(14).ToArray()).Single();
        Assert.Equal(0, Checksum.Fold(Checksum.Add(icmp.AsSpan(0, 20))));
        Assert.Equal(PfNet.V4("10.0.0.2").Value, BinaryPrimitives.ReadUInt32BigEndian(icmp.AsSpan(16)));
        var m = icmp.AsSpan(20);
        Assert.Equal(0, Checksum.Fold(Checksum.Add(m)));
        var quoted = m[8..];
        Assert.Equal(0, Checksum.Fold(Checksum.Add(quoted[..20])));
        Assert.Equal(PfNet.V4("10.0.0.2").Value, BinaryPrimitives.ReadUInt32BigEndian(quoted[12..]));
        Assert.Equal(5000, BinaryPrimitives.ReadUInt16BigEndian(quoted[20..]));
    }

    [Fact]
    public void RdrSendsToTheInnerServerAndRepliesComeFromThePublicAddress()
    {
        var net = new PfNet();
        net.Load("rdr on $ext_if proto udp from any to ($ext_if) port 8053 -> 10.0.0.2 port 53\npass all\n");
        using var inner = PfNet.Bound(net.Lan, 53);
        using var client = PfNet.Bound(net.Wan, 7000);
        var (got, from) = net.Udp(client, inner, Ep("192.0.2.1", 8053));
        Assert.True(got);
        Assert.Equal(Ep("192.0.2.2", 7000), from);
        var (back, replyFrom) = net.Udp(inner, client, from);
        Assert.True(back);
        Assert.Equal(Ep("192.0.2.1", 8053), replyFrom);
    }

    [Fact]
    public void BinatMapsBothWays()
    {
        var net = new PfNet();
        net.Ext.AddAddress(PfNet.V4("192.0.2.10"), 32);
        net.Load("binat on $ext_if from 10.0.0.2 to any -> 192.0.2.10\npass all\n");
        using var lanSock = PfNet.Bound(net.Lan, 5000);
        using var wanSock = PfNet.Bound(net.Wan, 53);
        var (got, from) = net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53));
        Assert.True(got);
        Assert.Equal(Ep("192.0.2.10", 5000), from);

        // Inbound to the external address reaches the inner host without a prior state.
        using var lan2 = PfNet.Bound(net.Lan, 6000);
        var (inb, inFrom) = net.Udp(wanSock, lan2, Ep("192.0.2.10", 6000));
        Assert.True(inb);
        Assert.Equal(Ep("192.0.2.2", 53), inFrom);
    }

    [Fact]
    public void TableAddAndDeleteAtRunTimeChangeVerdicts()
    {
        var net = new PfNet();
        var pf = net.Load("table <bad> persist\npass all\nblock in quick on $int_if from <bad>\n");
        using var lanSock = PfNet.Bound(net.Lan, 5000);
        using var wanSock = PfNet.Bound(net.Wan, 53);
        Assert.True(net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53)).Got);
        pf.Engine.FlushStates();

        var entry = new Config.PfTableEntry(false, new Config.PfAddr(Config.PfAddrKind.AddrMask, new Config.PfIp(Config.PfFamily.Inet, 0x0A000000), 24));
        pf.Tables["bad"].Entries.Add(entry);
        pf.TablesChanged();
        Assert.False(net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53)).Got);

        // A more specific negated entry wins (longest prefix).
        pf.Tables["bad"].Entries.Add(new Config.PfTableEntry(true, new Config.PfAddr(Config.PfAddrKind.AddrMask, new Config.PfIp(Config.PfFamily.Inet, 0x0A000002), 32)));
        pf.TablesChanged();
        Assert.True(net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53)).Got);

        pf.Tables["bad"].Entries.Clear();
        pf.TablesChanged();
        pf.Engine.FlushStates();
        Assert.True(net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53)).Got);
    }

    [Fact]
    public void AnchorsAreEvaluatedInPlaceAndQuickInsideStops()
    {
        var net = new PfNet();
        using var lanSock = PfNet.Bound(net.Lan, 5000);
        using var wanSock = PfNet.Bound(net.Wan, 53);
        net.Load("pass all\nanchor \"lab\" in on $int_if {\n  block in quick proto udp to port 53\n}\npass in on $int_if proto udp to port 53\n");
        Assert.False(net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53)).Got);

        net.Load("pass all\nanchor \"lab\" in on $int_if {\n  block in proto udp to port 53\n}\npass in on $int_if proto udp to port 53\n");
        Assert.True(net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53)).Got);
    }

    [Fact]
    public void Ipv6IsFilteredByFamilyAndAddress()
    {
        var net = new PfNet();
        net.Load("pass all\nblock in quick on $int_if inet6 proto udp from 2001:db8:1::/64 to port 53\n");
        using var lanSock = PfNet.Bound(net.Lan, 5000, v6: true);
        using var wanSock = PfNet.Bound(net.Wan, 53, v6: true);
        using var lan4 = PfNet.Bound(net.Lan, 5001);
        using var wan4 = PfNet.Bound(net.Wan, 53);
        Assert.False(net.Udp(lanSock, wanSock, Ep("2001:db8:2::2", 53)).Got);
        Assert.True(net.Udp(lan4, wan4, Ep("192.0.2.2", 53)).Got);
        using var lan6b = PfNet.Bound(net.Lan, 5002, v6: true);
        using var wan6b = PfNet.Bound(net.Wan, 54, v6: true);
        Assert.True(net.Udp(lan6b, wan6b, Ep("2001:db8:2::2", 54)).Got);
    }

    [Fact]
    public void ASourceOpeningConnectionsTooFastLandsInTheOverloadTable()
    {
        var net = new PfNet();
        net.LanIf.AddAddress(PfNet.V4("10.0.0.3"), 24);
        var pf = net.Load(
            "table <brute_force> persist\n"
            + "block quick from <brute_force>\n"
            + "pass in on $int_if proto tcp to port 22 keep state (max-src-conn 5, max-src-conn-rate 3/10, overload <brute_force> flush global)\n"
            + "pass out all\n");
        var listener = net.Wan.OpenTcp();
        Assert.Equal(Errno.None, listener.Bind(PfNet.V4("192.0.2.2"), 22));
        Assert.Equal(Errno.None, listener.Listen(64));
        var clients = new List<TcpSocket>();
        bool Connect(string from)
        {
            var c = net.Lan.OpenTcp();
            Assert.Equal(Errno.None, c.Bind(PfNet.V4(from), 0));
            c.Connect(Ep("192.0.2.2", 22));
            clients.Add(c);
            net.Loop.RunFor(Nanos.PerSecond / 2);
            while (listener.TryAccept(out _) == Errno.None)
            {
            }

            return c.State == TcpState.Established;
        }

        for (var i = 0; i < 6; i++)
        {
            Connect("10.0.0.2");
        }

        Assert.Contains(pf.Tables["brute_force"].Entries, e => e.Address.Address.Bits == PfNet.V4("10.0.0.2").Value);
        Assert.False(Connect("10.0.0.2"));
        Assert.True(Connect("10.0.0.3"));
        Assert.DoesNotContain(pf.Tables["brute_force"].Entries, e => e.Address.Address.Bits == PfNet.V4("10.0.0.3").Value);
    }

    private static Stack.Buffers.Packet Tcp4(PfNet net, uint src, uint dst, ushort sport, ushort dport, byte flags, uint seq, uint ack, int payload = 0)
    {
        var p = net.Loop.Pool.Rent(40 + payload);
        var d = p.Data;
        d.Clear();
        new IPv4Header(new IPv4Address(src), new IPv4Address(dst), IPProtocol.Tcp, 20 + payload, 64, 0, 1, false).Emit(d);
        var t = d[20..];
        BinaryPrimitives.WriteUInt16BigEndian(t, sport);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], dport);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(t[8..], ack);
        t[12] = 0x50;
        t[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(t[14..], 65535);
        return p;
    }

    [Fact]
    public void HostilePacketsAreDroppedAndCounted()
    {
        var net = new PfNet();
        var pf = net.Load("scrub in all fragment reassemble\npass all\n");
        var e = pf.Engine;
        uint a = PfNet.V4("192.0.2.2").Value, b = PfNet.V4("10.0.0.2").Value;
        PfilVerdict Run(Stack.Buffers.Packet p, bool inbound = true)
        {
            var v = e.Filter(p, inbound ? net.Ext : net.Int, inbound ? PfilDirection.In : PfilDirection.Out, false);
            p.Release();
            return v;
        }

        // Handshake, then a segment far outside the window.
        Assert.Equal(PfilVerdict.Pass, Run(Tcp4(net, a, b, 4000, 22, 0x02, 1000, 0)));
        Assert.Equal(PfilVerdict.Pass, Run(Tcp4(net, b, a, 22, 4000, 0x12, 5000, 1001), inbound: true));
        Assert.Equal(PfilVerdict.Pass, Run(Tcp4(net, a, b, 4000, 22, 0x10, 1001, 5001)));
        Assert.Equal(PfilVerdict.Drop, Run(Tcp4(net, a, b, 4000, 22, 0x10, 1001 + 0x4000_0000, 5001, 10)));
        Assert.Equal(1UL, e.Counters[(int)PfReason.StateMismatch]);

        // A TCP fragment at offset 8 (RFC 1858 overlap) and a first fragment too short for the TCP header.
        var frag = Tcp4(net, a, b, 4001, 22, 0x02, 1, 0);
        var ip = IPv4Packet.CreateUnchecked(frag.Data);
        ip.SetFragment(false, false, 8);
        ip.FillChecksum();
        Assert.Equal(PfilVerdict.Drop, Run(frag));
        var tiny = net.Loop.Pool.Rent(28);
        tiny.Data.Clear();
        new IPv4Header(new IPv4Address(a), new IPv4Address(b), IPProtocol.Tcp, 8, 64, 0, 2, false) { MoreFragments = true }.Emit(tiny.Data);
        Assert.Equal(PfilVerdict.Drop, Run(tiny));
        Assert.Equal(2UL, e.Counters[(int)PfReason.Fragment]);

        // A truncated header is "short".
        var shortPkt = net.Loop.Pool.Rent(24);
        shortPkt.Data.Clear();
        new IPv4Header(new IPv4Address(a), new IPv4Address(b), IPProtocol.Tcp, 4, 64, 0, 3, false).Emit(shortPkt.Data);
        Assert.Equal(PfilVerdict.Drop, Run(shortPkt));
        Assert.Equal(1UL, e.Counters[(int)PfReason.Short]);
    }

    [Fact]
    public void AnEstablishedStateFiltersWithoutAllocating()
    {
        var net = new PfNet();
        var pf = net.Load("nat on $ext_if from 10.0.0.0/24 to any -> ($ext_if)\nblock all\npass out keep state\npass in on $int_if keep state\n");
        var e = pf.Engine;
        var p = net.Loop.Pool.Rent(28 + 32);
        var d = p.Data;
        d.Clear();
        new IPv4Header(PfNet.V4("10.0.0.2"), PfNet.V4("192.0.2.2"), IPProtocol.Udp, 8 + 32, 64, 0, 1, false).Emit(d);
        BinaryPrimitives.WriteUInt16BigEndian(d[20..], 5000);
        BinaryPrimitives.WriteUInt16BigEndian(d[22..], 53);
        BinaryPrimitives.WriteUInt16BigEndian(d[24..], 40);
        var copy = d.ToArray();
        var failures = 0;
        void Once()
        {
            copy.CopyTo(p.Data);
            failures += e.Filter(p, net.Int, PfilDirection.In, false) == PfilVerdict.Pass ? 0 : 1;
            copy.CopyTo(p.Data);
            failures += e.Filter(p, net.Ext, PfilDirection.Out, false) == PfilVerdict.Pass ? 0 : 1;
        }

        for (var i = 0; i < 100; i++)
        {
            Once();
        }

        Assert.Equal(2, e.StateCount);
        var windows = SteadyStateAllocation.Measure(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                Once();
            }
        });
        p.Release();
        Assert.Equal(0, failures);
        Assert.True(SteadyStateAllocation.AnyClean(windows), $"every window of 10,000 packets allocated ({SteadyStateAllocation.Describe(windows)})");
    }

    [Fact]
    public void LogRulesWritePflogRecordsThatTcpdumpDecodes()
    {
        var net = new PfNet();
        var pf = net.Load("pass all\nblock in log quick on $int_if proto udp to port 53\n");
        using var ms = new MemoryStream();
        using (var sink = new PflogPcapWriter(ms))
        {
            pf.Engine.LogSinks.Add(sink);
            using var lanSock = PfNet.Bound(net.Lan, 5000);
            using var wanSock = PfNet.Bound(net.Wan, 53);
            Assert.False(net.Udp(lanSock, wanSock, Ep("192.0.2.2", 53)).Got);
        }

        var bytes = ms.ToArray();
        Assert.Equal(117u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(20)));
        var rec = bytes.AsSpan(24 + 16);
        Assert.Equal(69, rec[0]);
        Assert.Equal(2, rec[1]);
        Assert.Equal(1, rec[2]); // drop
        Assert.Equal("epair0b", System.Text.Encoding.ASCII.GetString(rec.Slice(4, 7)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(rec[36..]));
        Assert.Equal(1, rec[60]);
        Assert.Equal(0x45, rec[72]);

        var tcpdump = new[] { "/usr/bin/tcpdump", "/usr/sbin/tcpdump" }.FirstOrDefault(File.Exists);
        if (tcpdump is null)
        {
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true", "tcpdump is required in CI");
            Console.WriteLine("tcpdump not installed: skipping the decode check");
            return;
        }

        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, bytes);
            var psi = new System.Diagnostics.ProcessStartInfo(tcpdump, ["-n", "-e", "-r", path]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var proc = System.Diagnostics.Process.Start(psi)!;
            var output = proc.StandardOutput.ReadToEnd();
            proc.WaitForExit();
            Assert.Contains("rule 1/0(match): block in on epair0b: 10.0.0.2.5000 > 192.0.2.2.53", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
