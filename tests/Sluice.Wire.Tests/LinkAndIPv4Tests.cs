namespace Sluice.Wire.Tests;

public class LinkAndIPv4Tests
{
    private static readonly MacAddress HostA = new(0x5254_0012_3456UL);
    private static readonly MacAddress HostB = new(0x5254_00AB_CDEFUL);

    [Fact]
    public void CapturedArpRequestParsesToKnownFields()
    {
        byte[] frame = Captures.Bytes(Captures.ArpRequest);
        Assert.True(EthernetFrame.TryCreate(frame, out EthernetFrame eth));
        Assert.Equal(MacAddress.Broadcast, eth.Destination);
        Assert.Equal(HostA, eth.Source);
        Assert.Equal(EtherType.Arp, eth.EtherType);
        Assert.False(eth.HasVlanTag);
        Assert.Equal(14, eth.HeaderLength);

        Assert.True(ArpPacket.TryCreate(eth.Payload, out ArpPacket arp));
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(HostA, arp.SenderHardwareAddress);
        Assert.Equal(new IPv4Address(192, 0, 2, 1), arp.SenderProtocolAddress);
        Assert.Equal(MacAddress.Zero, arp.TargetHardwareAddress);
        Assert.Equal(new IPv4Address(192, 0, 2, 2), arp.TargetProtocolAddress);
    }

    [Fact]
    public void ArpRequestReEmitsByteIdentical()
    {
        byte[] frame = Captures.Bytes(Captures.ArpRequest);
        Assert.True(EthernetHeader.TryParse(frame, out EthernetHeader eh));
        Assert.True(ArpRepr.TryParse(frame.AsSpan(14), out ArpRepr arp));
        byte[] built = new byte[EthernetFrame.MinimumFrameLength];
        eh.Emit(built);
        arp.Emit(built.AsSpan(eh.Length));
        Assert.Equal(frame, built);
    }

    [Fact]
    public void ArpWithNonEthernetHardwareIsRejected()
    {
        byte[] frame = Captures.Bytes(Captures.ArpRequest);
        frame[14 + 1] = 6;
        Assert.False(ArpPacket.TryCreate(frame.AsSpan(14), out _));
        frame = Captures.Bytes(Captures.ArpRequest);
        frame[14 + 4] = 8;
        Assert.False(ArpPacket.TryCreate(frame.AsSpan(14), out _));
        Assert.False(ArpPacket.TryCreate(Captures.Bytes(Captures.ArpRequest).AsSpan(14, 27), out _));
    }

    [Fact]
    public void VlanTaggedFrameExposesInnerTypeAndTag()
    {
        var header = new EthernetHeader(HostB, HostA, EtherType.IPv4, 100) { Priority = 5 };
        byte[] frame = new byte[64];
        header.Emit(frame);
        Assert.Equal("525400abcdef525400123456" + "8100a064" + "0800", Convert.ToHexStringLower(frame.AsSpan(0, 18)));
        Assert.True(EthernetFrame.TryCreate(frame, out EthernetFrame eth));
        Assert.True(eth.HasVlanTag);
        Assert.Equal(18, eth.HeaderLength);
        Assert.Equal((ushort)100, eth.VlanId);
        Assert.Equal((byte)5, eth.Priority);
        Assert.Equal(EtherType.IPv4, eth.EtherType);
        Assert.Equal(46, eth.Payload.Length);
        eth.VlanId = 4095;
        Assert.Equal((ushort)4095, eth.VlanId);
        Assert.Equal((byte)5, eth.Priority);
        Assert.True(EthernetHeader.TryParse(frame, out EthernetHeader back));
        Assert.Equal(new EthernetHeader(HostB, HostA, EtherType.IPv4, 4095) { Priority = 5 }, back);
    }

    [Fact]
    public void TruncatedVlanTagIsRejected()
    {
        byte[] frame = Convert.FromHexString("525400abcdef52540012345681000064");
        Assert.False(EthernetFrame.TryCreate(frame, out _));
        Assert.False(EthernetFrame.TryCreate(frame.AsSpan(0, 13), out _));
    }

    [Fact]
    public void CapturedPingParsesToKnownFields()
    {
        byte[] frame = Captures.Bytes(Captures.IcmpEcho);
        Assert.True(EthernetFrame.TryCreate(frame, out EthernetFrame eth));
        Assert.Equal(EtherType.IPv4, eth.EtherType);
        Assert.True(IPv4Packet.TryCreate(eth.Payload, out IPv4Packet ip));
        Assert.Equal(4, ip.Version);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(84, ip.TotalLength);
        Assert.Equal(0x4c3b, ip.Identification);
        Assert.True(ip.DontFragment);
        Assert.False(ip.MoreFragments);
        Assert.False(ip.IsFragment);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.Equal(64, ip.Ttl);
        Assert.Equal(IPProtocol.Icmp, ip.Protocol);
        Assert.Equal(0x6a6a, ip.HeaderChecksum);
        Assert.True(ip.VerifyChecksum());
        Assert.Equal(new IPv4Address(192, 0, 2, 1), ip.Source);
        Assert.Equal(new IPv4Address(192, 0, 2, 2), ip.Destination);
        Assert.Equal(0, ip.Options.Length);

        Assert.True(IcmpV4Packet.TryCreate(ip.Payload, out IcmpV4Packet icmp));
        Assert.Equal(IcmpV4Type.Echo, icmp.Type);
        Assert.Equal(0, icmp.Code);
        Assert.Equal(0xf7c2, icmp.Checksum);
        Assert.Equal(0x1c2d, icmp.Identifier);
        Assert.Equal(1, icmp.SequenceNumber);
        Assert.Equal(56, icmp.Body.Length);
        Assert.Equal(0x10, icmp.Body[16]);
        Assert.True(icmp.VerifyChecksum());
    }

    [Fact]
    public void PingReEmitsByteIdentical()
    {
        byte[] frame = Captures.Bytes(Captures.IcmpEcho);
        Assert.True(IPv4Header.TryParse(frame.AsSpan(14), out IPv4Header h));
        Assert.Equal(new IPv4Header(new IPv4Address(192, 0, 2, 1), new IPv4Address(192, 0, 2, 2), IPProtocol.Icmp, 64, 64, 0, 0x4c3b, true), h);
        byte[] built = new byte[frame.Length];
        new EthernetHeader(HostB, HostA, EtherType.IPv4).Emit(built);
        h.Emit(built.AsSpan(14));
        IcmpV4Packet icmp = IcmpV4Packet.CreateUnchecked(built.AsSpan(34));
        icmp.Type = IcmpV4Type.Echo;
        icmp.Code = 0;
        icmp.Identifier = 0x1c2d;
        icmp.SequenceNumber = 1;
        frame.AsSpan(42).CopyTo(icmp.Body);
        icmp.FillChecksum();
        Assert.Equal(frame, built);
    }

    [Fact]
    public void CorruptedIPv4ChecksumFailsVerification()
    {
        byte[] frame = Captures.Bytes(Captures.IcmpEcho);
        frame[14 + 8] = 63;
        Assert.True(IPv4Packet.TryCreate(frame.AsSpan(14), out IPv4Packet ip));
        Assert.False(ip.VerifyChecksum());
        Assert.False(IPv4Header.TryParse(frame.AsSpan(14), out _));
        ip.FillChecksum();
        Assert.True(ip.VerifyChecksum());
    }

    [Fact]
    public void TruncatedIPv4HeaderIsRejected()
    {
        byte[] frame = Captures.Bytes(Captures.IcmpEcho);
        for (int n = 0; n < 84; n++)
        {
            Assert.False(IPv4Packet.TryCreate(frame.AsSpan(14, n), out _));
        }

        Assert.True(IPv4Packet.TryCreate(frame.AsSpan(14, 84), out _));
    }

    [Theory]
    [InlineData(0, 0x65)]
    [InlineData(0, 0x44)]
    [InlineData(0, 0x64)]
    [InlineData(2, 0x01)]
    [InlineData(3, 0x13)]
    public void IPv4WithImpossibleLengthsOrVersionIsRejected(int offset, byte value)
    {
        byte[] frame = Captures.Bytes(Captures.IcmpEcho);
        frame[14 + offset] = value;
        Assert.False(IPv4Packet.TryCreate(frame.AsSpan(14), out _));
    }

    [Fact]
    public void IPv4PayloadExcludesLinkPadding()
    {
        byte[] frame = Captures.Bytes(Captures.ArpRequest);
        new IPv4Header(new IPv4Address(192, 0, 2, 1), new IPv4Address(192, 0, 2, 2), IPProtocol.Udp, 8).Emit(frame.AsSpan(14));
        Assert.True(IPv4Packet.TryCreate(frame.AsSpan(14), out IPv4Packet ip));
        Assert.Equal(8, ip.Payload.Length);
        Assert.Equal(46, ip.Buffer.Length);
    }

    [Fact]
    public void FragmentFieldsRoundTripInBytes()
    {
        byte[] b = new byte[40];
        new IPv4Header(IPv4Address.Loopback, IPv4Address.Loopback, IPProtocol.Udp, 20) { MoreFragments = true, FragmentOffset = 1480 }.Emit(b);
        Assert.True(IPv4Packet.TryCreate(b, out IPv4Packet ip));
        Assert.True(ip.MoreFragments);
        Assert.True(ip.IsFragment);
        Assert.Equal(1480, ip.FragmentOffset);
        Assert.Equal(0x20b9, (b[6] << 8) | b[7]);
        ip.SetFragment(true, false, 0);
        Assert.False(ip.IsFragment);
        Assert.True(ip.DontFragment);
        Assert.True(IPv4Header.TryParse(b, out _) is false);
        ip.FillChecksum();
        Assert.True(IPv4Header.TryParse(b, out IPv4Header h));
        Assert.True(h.DontFragment);
    }

    [Fact]
    public void IcmpFragmentationNeededCarriesNextHopMtu()
    {
        byte[] b = new byte[8 + 28];
        IcmpV4Packet icmp = IcmpV4Packet.CreateUnchecked(b);
        icmp.Type = IcmpV4Type.DestinationUnreachable;
        icmp.Code = (byte)IcmpV4Unreachable.FragmentationNeeded;
        icmp.NextHopMtu = 1400;
        icmp.FillChecksum();
        Assert.True(IcmpV4Packet.TryCreate(b, out IcmpV4Packet back));
        Assert.True(back.IsError);
        Assert.Equal(1400, back.NextHopMtu);
        Assert.True(back.VerifyChecksum());
        Assert.Equal(28, back.Body.Length);
        Assert.False(IcmpV4Packet.TryCreate(b.AsSpan(0, 7), out _));
    }

    [Fact]
    public void CapturedDnsQueryParsesToKnownFields()
    {
        byte[] frame = Captures.Bytes(Captures.DnsQuery);
        Assert.True(IPv4Packet.TryCreate(frame.AsSpan(14), out IPv4Packet ip));
        Assert.Equal(IPProtocol.Udp, ip.Protocol);
        Assert.False(ip.DontFragment);
        Assert.True(UdpPacket.TryCreate(ip.Payload, out UdpPacket udp));
        Assert.Equal(53124, udp.SourcePort);
        Assert.Equal(53, udp.DestinationPort);
        Assert.Equal(37, udp.Length);
        Assert.Equal(0xc844, udp.Checksum);
        Assert.Equal(29, udp.Payload.Length);
        Assert.Equal(0xab, udp.Payload[0]);
        Assert.True(udp.VerifyChecksumV4(ip.Source, ip.Destination));
        Assert.False(udp.VerifyChecksumV4(ip.Destination, new IPv4Address(1, 1, 1, 1)));
    }

    [Fact]
    public void DnsQueryReEmitsByteIdentical()
    {
        byte[] frame = Captures.Bytes(Captures.DnsQuery);
        Assert.True(IPv4Header.TryParse(frame.AsSpan(14), out IPv4Header ih));
        Assert.True(UdpHeader.TryParse(frame.AsSpan(34), out UdpHeader uh));
        byte[] built = new byte[frame.Length];
        new EthernetHeader(HostB, HostA, EtherType.IPv4).Emit(built);
        ih.Emit(built.AsSpan(14));
        uh.Emit(built.AsSpan(34), 29);
        frame.AsSpan(42).CopyTo(built.AsSpan(42));
        UdpPacket.CreateUnchecked(built.AsSpan(34)).FillChecksumV4(ih.Source, ih.Destination);
        Assert.Equal(frame, built);
    }

    [Fact]
    public void UdpZeroChecksumMeansNoneOverIPv4ButIsInvalidOverIPv6()
    {
        byte[] b = new byte[12];
        new UdpHeader(1, 2).Emit(b, 4);
        Assert.True(UdpPacket.TryCreate(b, out UdpPacket udp));
        Assert.True(udp.VerifyChecksumV4(IPv4Address.Any, IPv4Address.Any));
        Assert.False(udp.VerifyChecksumV6(IPv6Address.Any, IPv6Address.Any));
        udp.FillChecksumV6(IPv6Address.Loopback, IPv6Address.Loopback);
        Assert.True(udp.VerifyChecksumV6(IPv6Address.Loopback, IPv6Address.Loopback));
    }

    [Fact]
    public void UdpComputedZeroChecksumIsSentAsAllOnes()
    {
        // Choose a payload word so that the checksum folds to zero.
        byte[] b = new byte[10];
        new UdpHeader(0, 0).Emit(b, 2);
        UdpPacket udp = UdpPacket.CreateUnchecked(b);
        uint partial = Checksum.Add(b, Checksum.PseudoHeaderV4(IPv4Address.Any, IPv4Address.Any, IPProtocol.Udp, 10));
        ushort fill = (ushort)~partial;
        b[8] = (byte)(fill >> 8);
        b[9] = (byte)fill;
        udp.FillChecksumV4(IPv4Address.Any, IPv4Address.Any);
        Assert.Equal(0xFFFF, udp.Checksum);
        Assert.True(udp.VerifyChecksumV4(IPv4Address.Any, IPv4Address.Any));
    }

    [Fact]
    public void UdpLengthFieldOutsideBufferIsRejected()
    {
        byte[] b = Captures.Bytes(Captures.DnsQuery).AsSpan(34).ToArray();
        Assert.False(UdpPacket.TryCreate(b.AsSpan(0, 36), out _));
        b[5] = 7;
        Assert.False(UdpPacket.TryCreate(b, out _));
        Assert.False(UdpPacket.TryCreate(b.AsSpan(0, 7), out _));
    }
}
