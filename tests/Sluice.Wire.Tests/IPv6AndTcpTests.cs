namespace Sluice.Wire.Tests;

public class IPv6AndTcpTests
{
    private static readonly IPv6Address LinkLocalA = IPv6Address.LinkLocalFromMac(new MacAddress(0x5254_0012_3456UL));

    private static IPv6Address V6(string text) => IPv6Address.TryParse(text, out IPv6Address a) ? a : throw new ArgumentException(text);

    [Fact]
    public void CapturedNeighborSolicitationParsesToKnownFields()
    {
        byte[] frame = Captures.Bytes(Captures.NeighborSolicitation);
        Assert.True(EthernetFrame.TryCreate(frame, out EthernetFrame eth));
        Assert.Equal(EtherType.IPv6, eth.EtherType);
        Assert.True(IPv6Packet.TryCreate(eth.Payload, out IPv6Packet ip));
        Assert.Equal(6, ip.Version);
        Assert.Equal(0, ip.TrafficClass);
        Assert.Equal(0u, ip.FlowLabel);
        Assert.Equal(32, ip.PayloadLength);
        Assert.Equal(IPProtocol.IcmpV6, ip.NextHeader);
        Assert.Equal(255, ip.HopLimit);
        Assert.Equal(LinkLocalA, ip.Source);
        Assert.Equal(V6("ff02::1:ff00:2"), ip.Destination);
        Assert.Equal(IPv6Address.SolicitedNodeMulticast(V6("2001:db8::2")), ip.Destination);
        Assert.Equal(MacAddress.FromIPv6Multicast(ip.Destination), eth.Destination);
        Assert.True(ip.TryFindUpperLayer(out IPProtocol proto, out int offset, out int frag));
        Assert.Equal((IPProtocol.IcmpV6, 40, -1), (proto, offset, frag));

        Assert.True(IcmpV6Packet.TryCreate(ip.Payload, out IcmpV6Packet icmp));
        Assert.Equal(IcmpV6Type.NeighborSolicitation, icmp.Type);
        Assert.Equal(0x42e8, icmp.Checksum);
        Assert.True(icmp.VerifyChecksum(ip.Source, ip.Destination));
        Assert.False(icmp.VerifyChecksum(ip.Destination, ip.Source) && icmp.VerifyChecksum(IPv6Address.Any, ip.Destination));

        Assert.True(NdpNeighborMessage.TryCreate(ip.Payload, out NdpNeighborMessage ns));
        Assert.Equal(V6("2001:db8::2"), ns.TargetAddress);
        Assert.True(ns.TryGetLinkLayerAddress(NdpOptionType.SourceLinkLayerAddress, out MacAddress lla));
        Assert.Equal(new MacAddress(0x5254_0012_3456UL), lla);
        Assert.False(ns.TryGetLinkLayerAddress(NdpOptionType.TargetLinkLayerAddress, out _));
    }

    [Fact]
    public void NeighborSolicitationReEmitsByteIdentical()
    {
        byte[] frame = Captures.Bytes(Captures.NeighborSolicitation);
        Assert.True(IPv6Header.TryParse(frame.AsSpan(14), out IPv6Header h));
        Assert.True(NdpNeighborRepr.TryParse(frame.AsSpan(54), out NdpNeighborRepr ns));
        Assert.Equal(new NdpNeighborRepr(IcmpV6Type.NeighborSolicitation, V6("2001:db8::2"), false, false, false, new MacAddress(0x5254_0012_3456UL)), ns);
        byte[] built = new byte[frame.Length];
        new EthernetHeader(MacAddress.FromIPv6Multicast(h.Destination), new MacAddress(0x5254_0012_3456UL), EtherType.IPv6).Emit(built);
        h.Emit(built.AsSpan(14));
        ns.Emit(built.AsSpan(54));
        IcmpV6Packet.CreateUnchecked(built.AsSpan(54, ns.Length)).FillChecksum(h.Source, h.Destination);
        Assert.Equal(frame, built);
    }

    [Fact]
    public void NdpOptionWithZeroLengthIsMalformed()
    {
        byte[] frame = Captures.Bytes(Captures.NeighborSolicitation);
        frame[54 + 24 + 1] = 0;
        Assert.True(NdpNeighborMessage.TryCreate(frame.AsSpan(54), out NdpNeighborMessage ns));
        Assert.False(ns.TryGetLinkLayerAddress(NdpOptionType.SourceLinkLayerAddress, out _));
        NdpOptionReader reader = ns.GetOptionReader();
        Assert.False(reader.TryReadNext(out _, out _));
        Assert.True(reader.IsMalformed);
        Assert.False(NdpNeighborRepr.TryParse(frame.AsSpan(54), out _));
    }

    [Fact]
    public void NeighborAdvertisementFlagsRoundTrip()
    {
        var na = new NdpNeighborRepr(IcmpV6Type.NeighborAdvertisement, V6("2001:db8::2"), true, true, false, MacAddress.Broadcast);
        byte[] b = new byte[na.Length];
        na.Emit(b);
        Assert.Equal(0xC0, b[4]);
        Assert.Equal((byte)NdpOptionType.TargetLinkLayerAddress, b[24]);
        Assert.True(NdpNeighborRepr.TryParse(b, out NdpNeighborRepr back));
        Assert.Equal(na, back);
    }

    [Fact]
    public void RouterAdvertisementExposesPrefixInformation()
    {
        // Hand-built after the RFC 4861 §4.2 and §4.6.2 layouts with radvd-like values: hop limit 64, lifetime 1800 s, prefix 2001:db8:1::/64 L+A, valid 86400, preferred 14400.
        byte[] ra = Convert.FromHexString(
            "86000000400007080000000000000000" +
            "030440c000015180000038400000000020010db8000100000000000000000000" +
            "0101525400123456");
        Assert.True(NdpRouterAdvertisement.TryCreate(ra, out NdpRouterAdvertisement adv));
        Assert.Equal(64, adv.CurrentHopLimit);
        Assert.Equal(1800, adv.RouterLifetime);
        Assert.False(adv.Managed);
        NdpOptionReader reader = adv.GetOptionReader();
        Assert.True(reader.TryReadNext(out NdpOptionType t, out Span<byte> data));
        Assert.Equal(NdpOptionType.PrefixInformation, t);
        Assert.True(NdpPrefixInformation.TryCreate(data, out NdpPrefixInformation pi));
        Assert.Equal(64, pi.PrefixLength);
        Assert.True(pi.OnLink);
        Assert.True(pi.Autonomous);
        Assert.Equal(86400u, pi.ValidLifetime);
        Assert.Equal(14400u, pi.PreferredLifetime);
        Assert.Equal("2001:db8:1::", pi.Prefix.ToString());
        Assert.True(reader.TryReadNext(out t, out _));
        Assert.Equal(NdpOptionType.SourceLinkLayerAddress, t);
        Assert.False(reader.TryReadNext(out _, out _));
        Assert.False(reader.IsMalformed);
    }

    [Fact]
    public void ExtensionHeaderWalkerFindsUpperLayerAfterHopByHopAndFragment()
    {
        byte[] b = new byte[40 + 8 + 8 + 8];
        new IPv6Header(LinkLocalA, IPv6Address.AllNodesMulticast, IPProtocol.HopByHop, 24).Emit(b);
        b[40] = (byte)IPProtocol.IPv6Fragment;
        b[41] = 0;
        IPv6FragmentHeader.CreateUnchecked(b.AsSpan(48)).Set(IPProtocol.Udp, 0, true, 0xdeadbeef);
        Assert.True(IPv6Packet.TryCreate(b, out IPv6Packet ip));
        Assert.True(ip.TryFindUpperLayer(out IPProtocol proto, out int offset, out int frag));
        Assert.Equal((IPProtocol.Udp, 56, 48), (proto, offset, frag));
        Assert.True(IPv6FragmentHeader.TryCreate(b.AsSpan(48), out IPv6FragmentHeader fh));
        Assert.True(fh.MoreFragments);
        Assert.Equal(0xdeadbeefu, fh.Identification);

        fh.FragmentOffset = 1232;
        Assert.Equal(1232, fh.FragmentOffset);
        Assert.True(fh.MoreFragments);
        Assert.True(ip.TryFindUpperLayer(out proto, out offset, out frag));
        Assert.Equal((IPProtocol.IPv6Fragment, 48, 48), (proto, offset, frag));
    }

    [Fact]
    public void ExtensionHeaderRunningPastPayloadIsMalformed()
    {
        byte[] b = new byte[40 + 8];
        new IPv6Header(LinkLocalA, IPv6Address.AllNodesMulticast, IPProtocol.IPv6DestinationOptions, 8).Emit(b);
        b[40] = (byte)IPProtocol.Tcp;
        b[41] = 1;
        Assert.True(IPv6Packet.TryCreate(b, out IPv6Packet ip));
        Assert.False(ip.TryFindUpperLayer(out _, out _, out _));
    }

    [Fact]
    public void LongExtensionHeaderChainIsRejected()
    {
        byte[] b = new byte[40 + (8 * 12)];
        new IPv6Header(LinkLocalA, IPv6Address.AllNodesMulticast, IPProtocol.IPv6DestinationOptions, 8 * 12).Emit(b);
        for (int i = 0; i < 12; i++)
        {
            b[40 + (i * 8)] = (byte)IPProtocol.IPv6DestinationOptions;
        }

        Assert.True(IPv6Packet.TryCreate(b, out IPv6Packet ip));
        Assert.False(ip.TryFindUpperLayer(out _, out _, out _));
    }

    [Fact]
    public void JumbogramAndOverlongPayloadAreRejected()
    {
        byte[] b = new byte[48];
        new IPv6Header(LinkLocalA, LinkLocalA, IPProtocol.HopByHop, 0).Emit(b);
        Assert.False(IPv6Packet.TryCreate(b, out _));
        new IPv6Header(LinkLocalA, LinkLocalA, IPProtocol.Udp, 9).Emit(b);
        Assert.False(IPv6Packet.TryCreate(b, out _));
        new IPv6Header(LinkLocalA, LinkLocalA, IPProtocol.Udp, 8, 1, 0xb8, 0xabcde).Emit(b);
        Assert.True(IPv6Packet.TryCreate(b, out IPv6Packet ip));
        Assert.Equal(0xb8, ip.TrafficClass);
        Assert.Equal(0xabcdeu, ip.FlowLabel);
        Assert.True(IPv6Header.TryParse(b, out IPv6Header h));
        Assert.Equal(new IPv6Header(LinkLocalA, LinkLocalA, IPProtocol.Udp, 8, 1, 0xb8, 0xabcde), h);
        Assert.False(IPv6Packet.TryCreate(b.AsSpan(0, 39), out _));
    }

    [Fact]
    public void PacketTooBigCarriesMtu()
    {
        byte[] b = new byte[8 + 48];
        IcmpV6Packet icmp = IcmpV6Packet.CreateUnchecked(b);
        icmp.Type = IcmpV6Type.PacketTooBig;
        icmp.Mtu = 1280;
        icmp.FillChecksum(LinkLocalA, IPv6Address.Loopback);
        Assert.True(IcmpV6Packet.TryCreate(b, out IcmpV6Packet back));
        Assert.True(back.IsError);
        Assert.Equal(1280u, back.Mtu);
        Assert.True(back.VerifyChecksum(LinkLocalA, IPv6Address.Loopback));
    }

    [Fact]
    public void CapturedLinuxSynParsesToKnownFieldsAndOptions()
    {
        byte[] frame = Captures.Bytes(Captures.TcpSyn);
        Assert.True(IPv4Packet.TryCreate(frame.AsSpan(14), out IPv4Packet ip));
        Assert.True(TcpPacket.TryCreate(ip.Payload, out TcpPacket tcp));
        Assert.Equal(45678, tcp.SourcePort);
        Assert.Equal(80, tcp.DestinationPort);
        Assert.Equal(0x1e2d3c4bu, tcp.SequenceNumber);
        Assert.Equal(0u, tcp.AcknowledgmentNumber);
        Assert.Equal(40, tcp.DataOffset);
        Assert.Equal(TcpFlags.Syn, tcp.Flags);
        Assert.Equal(64240, tcp.WindowSize);
        Assert.Equal(0x7b0d, tcp.Checksum);
        Assert.Equal(0, tcp.Payload.Length);
        Assert.Equal(1, tcp.SegmentLength);
        Assert.True(tcp.VerifyChecksumV4(ip.Source, ip.Destination));

        TcpOptionReader reader = tcp.GetOptionReader();
        Assert.True(reader.TryReadNext(out TcpOption o));
        Assert.Equal((TcpOptionKind.Mss, (ushort)1460), (o.Kind, o.Mss));
        Assert.True(reader.TryReadNext(out o));
        Assert.Equal(TcpOptionKind.SackPermitted, o.Kind);
        Assert.True(reader.TryReadNext(out o));
        Assert.Equal((TcpOptionKind.Timestamps, 2318089293u, 0u), (o.Kind, o.TimestampValue, o.TimestampEchoReply));
        Assert.True(reader.TryReadNext(out o));
        Assert.Equal((TcpOptionKind.WindowScale, (byte)7), (o.Kind, o.WindowScale));
        Assert.False(reader.TryReadNext(out _));
        Assert.False(reader.IsMalformed);
    }

    [Fact]
    public void LinuxSynReEmitsByteIdentical()
    {
        byte[] frame = Captures.Bytes(Captures.TcpSyn);
        Assert.True(IPv4Header.TryParse(frame.AsSpan(14), out IPv4Header ih));
        Assert.True(TcpHeader.TryParse(frame.AsSpan(34), out TcpHeader th));
        byte[] built = new byte[frame.Length];
        frame.AsSpan(0, 14).CopyTo(built);
        ih.Emit(built.AsSpan(14));
        var w = new TcpOptionWriter(built.AsSpan(54));
        w.WriteMss(1460);
        w.WriteSackPermitted();
        w.WriteTimestamps(2318089293, 0);
        w.WriteNop();
        w.WriteWindowScale(7);
        int optionsLength = w.Finish();
        Assert.Equal(20, optionsLength);
        th.Emit(built.AsSpan(34), optionsLength);
        TcpPacket.CreateUnchecked(built.AsSpan(34)).FillChecksumV4(ih.Source, ih.Destination);
        Assert.Equal(frame, built);
    }

    [Fact]
    public void FreeBsdAlignmentProducesTheFreeBsdSynOptionLayout()
    {
        // FreeBSD tcp_addoptions: <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>, 20 bytes.
        byte[] b = new byte[40];
        var w = new TcpOptionWriter(b, alignLikeFreeBsd: true);
        Assert.True(w.WriteMss(1460));
        Assert.True(w.WriteWindowScale(6));
        Assert.True(w.WriteSackPermitted());
        Assert.True(w.WriteTimestamps(100, 0));
        Assert.Equal(20, w.Finish(padWithEndOfList: true));
        Assert.Equal("020405b4010303060402080a0000006400000000", Convert.ToHexStringLower(b.AsSpan(0, 20)));
    }

    [Fact]
    public void FreeBsdAlignmentPadsTimestampsAndSackOnAnAck()
    {
        byte[] b = new byte[40];
        var w = new TcpOptionWriter(b, alignLikeFreeBsd: true);
        Assert.True(w.WriteTimestamps(1, 2));
        Assert.True(w.WriteSack([(10u, 20u), (30u, 40u), (50u, 60u), (70u, 80u)]));
        int n = w.Finish();
        Assert.Equal(40, n);
        Assert.Equal("0101080a", Convert.ToHexStringLower(b.AsSpan(0, 4)));
        var r = new TcpOptionReader(b);
        Assert.True(r.TryReadNext(out TcpOption o));
        Assert.True(r.TryReadNext(out o));
        Assert.Equal(TcpOptionKind.Sack, o.Kind);
        Assert.Equal(3, o.SackBlockCount);
        Assert.Equal((50u, 60u), o.GetSackBlock(2));
    }

    [Theory]
    [InlineData("0201")]
    [InlineData("0200")]
    [InlineData("020405")]
    [InlineData("0203ff")]
    [InlineData("080a00000001")]
    [InlineData("050a0000000100000002ff")]
    public void MalformedTcpOptionsAreReportedNotThrown(string hex)
    {
        var r = new TcpOptionReader(Convert.FromHexString(hex));
        while (r.TryReadNext(out _))
        {
        }

        Assert.True(r.IsMalformed);
    }

    [Fact]
    public void EndOfListStopsAndUnknownKindsPassThrough()
    {
        var r = new TcpOptionReader(Convert.FromHexString("01fe06f989aabb1e0400000002040101"));
        Assert.True(r.TryReadNext(out TcpOption o));
        Assert.Equal(TcpOptionKind.Experimental, o.Kind);
        Assert.Equal("aabb", Convert.ToHexStringLower(o.FastOpenCookie));
        Assert.True(r.TryReadNext(out o));
        Assert.Equal((TcpOptionKind)30, o.Kind);
        Assert.False(r.TryReadNext(out _));
        Assert.False(r.IsMalformed);
    }

    [Fact]
    public void TcpDataOffsetOutsideBufferIsRejected()
    {
        byte[] seg = Captures.Bytes(Captures.TcpSyn).AsSpan(34).ToArray();
        Assert.False(TcpPacket.TryCreate(seg.AsSpan(0, 39), out _));
        seg[12] = 0x40;
        Assert.False(TcpPacket.TryCreate(seg, out _));
        seg[12] = 0xF0;
        Assert.False(TcpPacket.TryCreate(seg, out _));
    }

    [Fact]
    public void TcpOverIPv6ChecksumRoundTrips()
    {
        byte[] b = new byte[24];
        new TcpHeader(1, 2, 3, 4, TcpFlags.Ack | TcpFlags.Ae, 5).Emit(b);
        Assert.True(TcpPacket.TryCreate(b, out TcpPacket t));
        Assert.Equal(TcpFlags.Ack | TcpFlags.Ae, t.Flags);
        t.FillChecksumV6(LinkLocalA, IPv6Address.Loopback);
        Assert.True(t.VerifyChecksumV6(LinkLocalA, IPv6Address.Loopback));
        Assert.False(t.VerifyChecksumV6(IPv6Address.Loopback, IPv6Address.Loopback));
    }
}
