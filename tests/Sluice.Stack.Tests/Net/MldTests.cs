using System.Buffers.Binary;
using System.Diagnostics;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Time;
using Sluice.Wire;
using Sluice.Stack.Buffers;
using Xunit.Abstractions;
using static Sluice.Stack.Tests.Net.TestNet;

namespace Sluice.Stack.Tests.Net;

/// <summary>
/// MLD listener behaviour (RFC 3810 MLDv2, RFC 2710 MLDv1, FreeBSD mld6.c): the reports an address brings, the
/// answers to queries, compatibility mode, leaves; every field checked against the RFCs, not against our own output.
/// </summary>
public sealed class MldTests(ITestOutputHelper output)
{
    private static readonly IPv6Address AllMldv2Routers = V6("ff02::16");
    private static readonly IPv6Address Global = V6("2001:db8::1");

    private sealed record Sent(long At, byte[] Frame)
    {
        public IPv6Address Source => IPv6Address.Read(Frame.AsSpan(14 + 8));

        public IPv6Address Destination => IPv6Address.Read(Frame.AsSpan(14 + 24));

        public byte HopLimit => Frame[14 + 7];

        public Span<byte> Message => Frame.AsSpan(14 + 40 + 8);

        public IcmpV6Type Type => (IcmpV6Type)Message[0];

        public List<(MldRecordType Type, IPv6Address Group)> Records()
        {
            Assert.True(MldV2Report.TryCreate(Message, out var report));
            var list = new List<(MldRecordType, IPv6Address)>();
            for (var i = 0; i < report.RecordCount; i++)
            {
                var r = report.Record(i);
                Assert.Equal(0, r.SourceCount);
                list.Add((r.Type, r.MulticastAddress));
            }

            return list;
        }
    }

    private sealed class Recorder(EventLoop loop) : IFrameTap
    {
        public List<Sent> Frames { get; } = [];

        public List<Sent> Mld => [.. Frames.Where(f => f.Frame.Length > 14 + 48 && f.Frame[14 + 6] == 0 && f.Message[0] is 130 or 131 or 132 or 143)];

        public void OnFrame(NetworkInterface ifp, ReadOnlySpan<byte> frame, bool outbound)
        {
            if (outbound && frame.Length >= 14 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == 0x86dd)
            {
                Frames.Add(new Sent(loop.Now, frame.ToArray()));
            }
        }
    }

    private static (TestNet Net, NetStack A, NetworkInterface Ia, Recorder Tap) Host()
    {
        var net = new TestNet();
        var a = net.Stack("a");
        var b = net.Stack("b");
        var (ia, _) = net.Connect(a, b);
        var tap = new Recorder(net.Loop);
        ia.AddTap(tap);
        return (net, a, ia, tap);
    }

    private static IPv6Address SolicitedNode(IPv6Address a) => IPv6Address.SolicitedNodeMulticast(a);

    /// <summary>Checks what every MLD message must carry (RFC 3810 §5, RFC 2710 §3) and its checksum.</summary>
    private static void AssertWellFormed(Sent s)
    {
        Assert.Equal(0x33, s.Frame[0]); // 33:33 + low 32 bits of the destination (RFC 2464 §7)
        Assert.Equal(0x33, s.Frame[1]);
        Assert.Equal(s.Frame.AsSpan(2, 4).ToArray(), s.Frame.AsSpan(14 + 24 + 12, 4).ToArray());
        Assert.Equal(1, s.HopLimit);
        Assert.Equal(0, s.Frame[14 + 6]); // next header: hop-by-hop
        Assert.Equal(new byte[] { 58, 0, 1, 0, 5, 2, 0, 0 }, s.Frame.AsSpan(14 + 40, 8).ToArray()); // PadN, Router Alert 0 (MLD)
        Assert.Equal(s.Frame.Length - 14 - 40, BinaryPrimitives.ReadUInt16BigEndian(s.Frame.AsSpan(14 + 4)));
        Assert.True(s.Source.IsUnspecified || s.Source.IsLinkLocal, $"MLD source {s.Source}");
        Assert.True(IcmpV6Packet.TryCreate(s.Message, out var icmp));
        Assert.True(icmp.VerifyChecksum(s.Source, s.Destination));
    }

    private static Packet Query(NetStack into, byte[] message, IPv6Address source, IPv6Address destination, MacAddress from)
    {
        var packet = into.Pool.Rent(14 + 40 + 8 + message.Length);
        var span = packet.Data;
        new EthernetHeader(MacAddress.FromIPv6Multicast(destination), from, EtherType.IPv6).Emit(span);
        new IPv6Header(source, destination, IPProtocol.HopByHop, 8 + message.Length, 1).Emit(span[14..]);
        MldRouterAlert.Emit(span[54..], IPProtocol.IcmpV6);
        message.CopyTo(span[62..]);
        IcmpV6Packet.CreateUnchecked(span[62..]).FillChecksum(source, destination);
        return packet;
    }

    private static byte[] V2Query(IPv6Address group, ushort maxResponseMs)
    {
        var m = new byte[MldMessage.V2QueryLength];
        new MldV2QueryRepr(maxResponseMs, group).Emit(m);
        return m;
    }

    private static byte[] V1Query(IPv6Address group, ushort maxDelayMs)
    {
        var m = new byte[MldMessage.Length];
        new MldRepr(IcmpV6Type.MulticastListenerQuery, maxDelayMs, group).Emit(m);
        return m;
    }

    private static readonly IPv6Address Router = V6("fe80::99");

    [Fact]
    public void NewAddressesAreReportedTwiceAsToExcludeToAllMldv2Routers()
    {
        var (net, a, ia, tap) = Host();
        ia.AddAddress(Global, 64);
        var ll = ia.LinkLocal!.Address;
        var start = net.Loop.Now;
        net.Loop.RunFor(10 * Nanos.PerSecond);

        var reports = tap.Mld;
        Assert.NotEmpty(reports);
        foreach (var r in reports)
        {
            AssertWellFormed(r);
            Assert.Equal(IcmpV6Type.MulticastListenerReportV2, r.Type);
            Assert.Equal(AllMldv2Routers, r.Destination);
        }

        var records = reports.SelectMany(r => r.Records()).ToList();

        // Robustness variable 2: each solicited-node group exactly twice, as CHANGE_TO_EXCLUDE_MODE with no sources;
        // ff02::1 and ff01::1 are never reported (RFC 3810 §6, mld_is_addr_reported).
        Assert.Equal(2, records.Count(x => x == (MldRecordType.ChangeToExcludeMode, SolicitedNode(ll))));
        Assert.Equal(2, records.Count(x => x == (MldRecordType.ChangeToExcludeMode, SolicitedNode(Global))));
        Assert.Equal(4, records.Count);

        // The first report goes at the next fast timeout (200 ms) while the addresses are still tentative: from ::
        // (RFC 3810 §5.2.13); the retransmission goes within the 3 s unsolicited report interval.
        Assert.Equal(start + (200 * Nanos.PerMillisecond), reports[0].At);
        Assert.True(reports[0].Source.IsUnspecified);
        Assert.True(reports[^1].At - reports[0].At <= 3 * Nanos.PerSecond);
        if (reports[^1].At - start > 1 * Nanos.PerSecond)
        {
            Assert.Equal(ll, reports[^1].Source); // after DAD: the link-local address
        }

        Assert.Equal(reports.Count, a.Icmp6.OutHistogram[143]);
        Assert.Contains(SolicitedNode(Global), a.MulticastGroups(ia));
        Assert.Contains(IPv6Address.AllNodesMulticast, a.MulticastGroups(ia));
    }

    [Fact]
    public void GeneralQueryIsAnsweredWithCurrentStateRecordsWithinTheMaximumResponseDelay()
    {
        var (net, a, ia, tap) = Host();
        ia.AddAddress(Global, 64);
        var ll = ia.LinkLocal!.Address;
        net.Loop.RunFor(10 * Nanos.PerSecond);
        tap.Frames.Clear();

        for (var round = 0; round < 5; round++)
        {
            var queriedAt = net.Loop.Now;
            ia.Deliver(Query(a, V2Query(IPv6Address.Any, 1000), Router, IPv6Address.AllNodesMulticast, MacAddress.FromIPv6Multicast(Router)));
            net.Loop.RunFor(2 * Nanos.PerSecond);
            var reports = tap.Mld;
            var report = Assert.Single(reports);
            AssertWellFormed(report);
            Assert.Equal(ll, report.Source);
            Assert.InRange(report.At - queriedAt, 1, 1000 * Nanos.PerMillisecond);

            // MODE_IS_EXCLUDE with no sources for every reported group (RFC 3810 §6.3), nothing for ff02::1.
            var records = report.Records().OrderBy(r => r.Group).ToList();
            Assert.Equal(
                new[] { (MldRecordType.ModeIsExclude, SolicitedNode(ll)), (MldRecordType.ModeIsExclude, SolicitedNode(Global)) }.OrderBy(r => r.Item2),
                records);
            tap.Frames.Clear();
        }

        Assert.Equal(5, a.Icmp6.InHistogram[130]);
    }

    [Fact]
    public void GroupSpecificQueryIsAnsweredForThatGroupOnly()
    {
        var (net, a, ia, tap) = Host();
        ia.AddAddress(Global, 64);
        net.Loop.RunFor(10 * Nanos.PerSecond);
        tap.Frames.Clear();

        var group = SolicitedNode(Global);
        ia.Deliver(Query(a, V2Query(group, 500), Router, group, MacAddress.FromIPv6Multicast(Router)));
        ia.Deliver(Query(a, V2Query(V6("ff05::1:3"), 500), Router, V6("ff05::1:3"), MacAddress.FromIPv6Multicast(Router))); // not joined
        net.Loop.RunFor(2 * Nanos.PerSecond);
        var report = Assert.Single(tap.Mld);
        AssertWellFormed(report);
        Assert.Equal([(MldRecordType.ModeIsExclude, group)], report.Records());
    }

    [Fact]
    public void QueriesFromNonLinkLocalSourcesAndV2QueriesWithV2DisabledAreIgnored()
    {
        var (net, a, ia, tap) = Host();
        ia.AddAddress(Global, 64);
        net.Loop.RunFor(10 * Nanos.PerSecond);
        tap.Frames.Clear();

        ia.Deliver(Query(a, V2Query(IPv6Address.Any, 1000), V6("2001:db8::99"), IPv6Address.AllNodesMulticast, MacAddress.FromIPv6Multicast(Router)));
        net.Loop.RunFor(2 * Nanos.PerSecond);
        Assert.Empty(tap.Mld);

        Assert.True(a.Sysctl.TrySet("net.inet6.mld.v2enable", "0").Succeeded);
        ia.Deliver(Query(a, V2Query(IPv6Address.Any, 1000), Router, IPv6Address.AllNodesMulticast, MacAddress.FromIPv6Multicast(Router)));
        net.Loop.RunFor(2 * Nanos.PerSecond);
        Assert.Empty(tap.Mld);
        Assert.Equal(2, a.Icmp6.InHistogram[130]);
    }

    [Fact]
    public void RemovingAnAddressSendsToIncludeTwiceAndLeavesTheGroup()
    {
        var (net, a, ia, tap) = Host();
        ia.AddAddress(Global, 64);
        net.Loop.RunFor(10 * Nanos.PerSecond);
        tap.Frames.Clear();

        Assert.True(ia.RemoveAddress(Global));
        net.Loop.RunFor(10 * Nanos.PerSecond);
        var reports = tap.Mld;
        Assert.All(reports, AssertWellFormed);
        var records = reports.SelectMany(r => r.Records()).ToList();
        Assert.Equal(Enumerable.Repeat((MldRecordType.ChangeToIncludeMode, SolicitedNode(Global)), 2), records);
        Assert.DoesNotContain(SolicitedNode(Global), a.MulticastGroups(ia));
        Assert.Contains(SolicitedNode(ia.LinkLocal!.Address), a.MulticastGroups(ia));
    }

    [Fact]
    public void MldV1QuerySwitchesToCompatibilityModeWithReportsToTheGroupAndDoneOnLeave()
    {
        var (net, a, ia, tap) = Host();
        ia.AddAddress(Global, 64);
        var ll = ia.LinkLocal!.Address;
        net.Loop.RunFor(10 * Nanos.PerSecond);
        tap.Frames.Clear();

        var queriedAt = net.Loop.Now;
        ia.Deliver(Query(a, V1Query(IPv6Address.Any, 2000), Router, IPv6Address.AllNodesMulticast, MacAddress.FromIPv6Multicast(Router)));
        net.Loop.RunFor(3 * Nanos.PerSecond);
        Assert.Equal(1, a.MldVersion(ia));
        var reports = tap.Mld;
        Assert.Equal(2, reports.Count);
        foreach (var r in reports)
        {
            // RFC 2710 §3: a 24-byte report sent to the group it names, within the maximum response delay.
            AssertWellFormed(r);
            Assert.Equal(IcmpV6Type.MulticastListenerReport, r.Type);
            Assert.Equal(24, r.Message.Length);
            Assert.Equal(r.Destination, IPv6Address.Read(r.Message[8..]));
            Assert.Equal(ll, r.Source);
            Assert.InRange(r.At - queriedAt, 1, 2000 * Nanos.PerMillisecond);
        }

        Assert.Equal(new[] { SolicitedNode(ll), SolicitedNode(Global) }.OrderBy(x => x), reports.Select(r => r.Destination).OrderBy(x => x));

        // A v2 query is ignored while the v1 querier is present (RFC 3810 §8.2.1).
        tap.Frames.Clear();
        ia.Deliver(Query(a, V2Query(IPv6Address.Any, 1000), Router, IPv6Address.AllNodesMulticast, MacAddress.FromIPv6Multicast(Router)));
        net.Loop.RunFor(2 * Nanos.PerSecond);
        Assert.Empty(tap.Mld);

        // Leaving as the last reporter: one Done to ff02::2 at once (RFC 2710 §4).
        Assert.True(ia.RemoveAddress(Global));
        var done = Assert.Single(tap.Mld);
        AssertWellFormed(done);
        Assert.Equal(IcmpV6Type.MulticastListenerDone, done.Type);
        Assert.Equal(IPv6Address.AllRoutersMulticast, done.Destination);
        Assert.Equal(SolicitedNode(Global), IPv6Address.Read(done.Message[8..]));
        Assert.Equal(1, a.Icmp6.OutHistogram[132]);

        // The Older Version Querier Present Timeout (2 × 125 s + 10 s) ends compatibility mode.
        net.Loop.RunFor(261 * Nanos.PerSecond);
        Assert.Equal(2, a.MldVersion(ia));
    }

    [Fact]
    public void AnotherListenersV1ReportSuppressesOursAndItsDone()
    {
        var (net, a, ia, tap) = Host();
        ia.AddAddress(Global, 64);
        net.Loop.RunFor(10 * Nanos.PerSecond);
        var group = SolicitedNode(Global);
        ia.Deliver(Query(a, V1Query(group, 5000), Router, group, MacAddress.FromIPv6Multicast(Router)));
        var report = new byte[24];
        new MldRepr(IcmpV6Type.MulticastListenerReport, 0, group).Emit(report);
        ia.Deliver(Query(a, report, V6("fe80::77"), group, MacAddress.FromIPv6Multicast(V6("fe80::77"))));
        tap.Frames.Clear();
        net.Loop.RunFor(6 * Nanos.PerSecond);
        Assert.Empty(tap.Mld);
        Assert.True(ia.RemoveAddress(Global));
        Assert.Empty(tap.Mld);
    }

    [Fact]
    public void TsharkDecodesTheReportsAsMldv2WithNothingMalformed()
    {
        var tshark = FindOnPath("tshark");
        if (tshark is null)
        {
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true", "tshark is required when CI=true");
            output.WriteLine("tshark not installed; skipping the cross-check.");
            return;
        }

        var (net, a, ia, tap) = Host();
        ia.AddAddress(Global, 64);
        net.Loop.RunFor(10 * Nanos.PerSecond);
        ia.Deliver(Query(a, V2Query(IPv6Address.Any, 1000), Router, IPv6Address.AllNodesMulticast, MacAddress.FromIPv6Multicast(Router)));
        net.Loop.RunFor(2 * Nanos.PerSecond);
        Assert.True(ia.RemoveAddress(Global));
        net.Loop.RunFor(10 * Nanos.PerSecond);
        var reports = tap.Mld;

        using var ms = new MemoryStream();
        var pcap = new PcapWriter(ms, LinkType.Ethernet);
        foreach (var r in reports)
        {
            pcap.Write(r.At, r.Frame);
        }

        var path = Path.Combine(Path.GetTempPath(), $"sluice-mld-{Guid.NewGuid():N}.pcap");
        try
        {
            File.WriteAllBytes(path, ms.ToArray());
            var fields = Run(tshark, ["-r", path, "-T", "fields", "-e", "icmpv6.type", "-e", "ipv6.hlim", "-e", "ipv6.opt.type",
                "-e", "icmpv6.mldr.nb_mcast_records", "-e", "icmpv6.mldr.mar.record_type", "-e", "icmpv6.checksum.status"]);
            var lines = fields.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(reports.Count, lines.Length);
            Assert.All(lines, line =>
            {
                var f = line.Split('\t');
                Assert.Equal("143", f[0]);
                Assert.Equal("1", f[1]);
                Assert.Equal("0x01,0x05", f[2]); // PadN, Router Alert
                Assert.Equal(f[4].Split(',').Length.ToString(System.Globalization.CultureInfo.InvariantCulture), f[3]);
                Assert.Equal("1", f[5]); // checksum status: good
            });
            Assert.Contains(lines, l => l.Split('\t')[4].Split(',').All(t => t == "4")); // CHANGE_TO_EXCLUDE_MODE
            Assert.Contains(lines, l => l.Split('\t')[4].Split(',').All(t => t == "2")); // MODE_IS_EXCLUDE
            Assert.Contains(lines, l => l.Split('\t')[4].Split(',').All(t => t == "3")); // CHANGE_TO_INCLUDE_MODE
            Assert.Equal(string.Empty, Run(tshark, ["-r", path, "-Y", "_ws.malformed || _ws.expert.severity >= 6291456"]).Trim());
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string Run(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000));
        Assert.True(p.ExitCode == 0, stderr);
        return stdout;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
