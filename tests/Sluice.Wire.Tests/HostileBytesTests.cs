using CsCheck;

namespace Sluice.Wire.Tests;

/// <summary>Random and truncated inputs into every checked constructor and reader: never an exception, never an out-of-range read.</summary>
public class HostileBytesTests
{
    private const int RandomIterations = 200_000;

    private static readonly byte[][] Valid =
    [
        Captures.Bytes(Captures.ArpRequest),
        Captures.Bytes(Captures.IcmpEcho),
        Captures.Bytes(Captures.DnsQuery),
        Captures.Bytes(Captures.TcpSyn),
        Captures.Bytes(Captures.NeighborSolicitation),
    ];

    private static long Touch(Span<byte> b)
    {
        long sink = 0;
        if (EthernetFrame.TryCreate(b, out EthernetFrame eth))
        {
            sink += (long)eth.Destination.Value + (long)eth.Source.Value + (ushort)eth.EtherType + eth.VlanId + eth.Priority + eth.Payload.Length;
        }

        if (ArpPacket.TryCreate(b, out ArpPacket arp))
        {
            sink += (ushort)arp.Operation + (long)arp.SenderHardwareAddress.Value + arp.SenderProtocolAddress.Value + (long)arp.TargetHardwareAddress.Value + arp.TargetProtocolAddress.Value;
        }

        ArpRepr.TryParse(b, out _);
        EthernetHeader.TryParse(b, out _);
        if (IPv4Packet.TryCreate(b, out IPv4Packet v4))
        {
            sink += v4.Version + v4.HeaderLength + v4.Tos + v4.TotalLength + v4.Identification + v4.FragmentOffset + v4.Ttl + (byte)v4.Protocol
                + v4.HeaderChecksum + v4.Source.Value + v4.Destination.Value + v4.Options.Length + v4.Header.Length + v4.Payload.Length
                + (v4.VerifyChecksum() ? 1 : 0) + (v4.IsFragment ? 1 : 0);
        }

        IPv4Header.TryParse(b, out _);
        if (IcmpV4Packet.TryCreate(b, out IcmpV4Packet i4))
        {
            sink += (byte)i4.Type + i4.Code + i4.Checksum + i4.Identifier + i4.SequenceNumber + i4.NextHopMtu + i4.Pointer + i4.Body.Length + (i4.VerifyChecksum() ? 1 : 0);
        }

        if (UdpPacket.TryCreate(b, out UdpPacket udp))
        {
            sink += udp.SourcePort + udp.DestinationPort + udp.Length + udp.Checksum + udp.Payload.Length
                + (udp.VerifyChecksumV4(IPv4Address.Any, IPv4Address.Broadcast) ? 1 : 0) + (udp.VerifyChecksumV6(IPv6Address.Any, IPv6Address.Loopback) ? 1 : 0);
        }

        UdpHeader.TryParse(b, out _);
        if (IPv6Packet.TryCreate(b, out IPv6Packet v6))
        {
            sink += v6.TrafficClass + v6.FlowLabel + v6.PayloadLength + (byte)v6.NextHeader + v6.HopLimit + (long)v6.Source.Low + (long)v6.Destination.High + v6.Payload.Length;
            if (v6.TryFindUpperLayer(out IPProtocol p, out int offset, out int frag))
            {
                sink += (byte)p + b[offset..].Length + frag;
            }
        }

        IPv6Header.TryParse(b, out _);
        if (IPv6FragmentHeader.TryCreate(b, out IPv6FragmentHeader fh))
        {
            sink += fh.FragmentOffset + fh.Identification + (fh.MoreFragments ? 1 : 0);
        }

        if (IcmpV6Packet.TryCreate(b, out IcmpV6Packet i6))
        {
            sink += (byte)i6.Type + i6.Mtu + i6.Pointer + i6.Identifier + i6.SequenceNumber + i6.Body.Length + (i6.VerifyChecksum(IPv6Address.Any, IPv6Address.Any) ? 1 : 0);
        }

        if (NdpNeighborMessage.TryCreate(b, out NdpNeighborMessage nm))
        {
            sink += (long)nm.TargetAddress.Low + (nm.Router ? 1 : 0) + (nm.TryGetLinkLayerAddress(NdpOptionType.SourceLinkLayerAddress, out MacAddress m) ? (long)m.Value : 0);
        }

        NdpNeighborRepr.TryParse(b, out _);
        sink += TouchMld(b);
        if (NdpRouterAdvertisement.TryCreate(b, out NdpRouterAdvertisement ra))
        {
            sink += ra.RouterLifetime + ra.ReachableTime + ra.RetransTimer;
            NdpOptionReader r = ra.GetOptionReader();
            while (r.TryReadNext(out NdpOptionType t, out Span<byte> data))
            {
                sink += (byte)t + data.Length;
                if (NdpPrefixInformation.TryCreate(data, out NdpPrefixInformation pi))
                {
                    sink += pi.PrefixLength + pi.ValidLifetime + (long)pi.Prefix.High;
                }
            }
        }

        if (TcpPacket.TryCreate(b, out TcpPacket tcp))
        {
            sink += tcp.SourcePort + tcp.DestinationPort + tcp.SequenceNumber + tcp.AcknowledgmentNumber + tcp.DataOffset + (ushort)tcp.Flags
                + tcp.WindowSize + tcp.Checksum + tcp.UrgentPointer + tcp.Payload.Length + tcp.SegmentLength
                + (tcp.VerifyChecksumV4(IPv4Address.Any, IPv4Address.Any) ? 1 : 0);
            sink += ReadAllOptions(tcp.Options);
        }

        TcpHeader.TryParse(b, out _);
        sink += ReadAllOptions(b);
        return sink;
    }

    private static long ReadAllOptions(ReadOnlySpan<byte> options)
    {
        long sink = 0;
        var r = new TcpOptionReader(options);
        while (r.TryReadNext(out TcpOption o))
        {
            sink += (byte)o.Kind + o.Mss + o.WindowScale + o.TimestampValue + o.TimestampEchoReply + o.FastOpenCookie.Length + o.Md5Digest.Length;
            for (int i = 0; i < o.SackBlockCount; i++)
            {
                sink += o.GetSackBlock(i).Left;
            }
        }

        return sink;
    }

    private static void TouchWithProtocolHeads(byte[] bytes)
    {
        Touch(bytes);

        // Steer random bytes towards the deeper paths: valid version nibbles and header lengths.
        byte[] v4 = (byte[])bytes.Clone();
        if (v4.Length > 3)
        {
            v4[0] = (byte)(0x40 | (v4[0] & 0x0F));
            v4[2] = 0;
            v4[3] = (byte)Math.Min(v4.Length, v4[3]);
        }

        Touch(v4);
        byte[] v6 = (byte[])bytes.Clone();
        if (v6.Length > 6)
        {
            v6[0] = 0x60;
            v6[4] = 0;
            v6[5] = (byte)Math.Max(0, Math.Min(v6.Length - 40, v6[5]));
            v6[6] = (byte)((v6[6] % 4) switch { 0 => 0, 1 => 43, 2 => 44, _ => 60 });
        }

        Touch(v6);
    }

    [Fact]
    public void RandomBytesNeverThrowInAnyCodec() =>
        Gen.Byte.Array[0, 128].Sample(TouchWithProtocolHeads, iter: RandomIterations);

    [Fact]
    public void RandomBytesWithLinkTypesNeverThrowInAnyCodec()
    {
        Gen.Select(Gen.Byte.Array[0, 128], Gen.Int[0, 3].Select(i => (ushort)(i switch { 0 => 0x0800, 1 => 0x0806, 2 => 0x8100, _ => 0x86DD }))).Sample((bytes, type) =>
        {
            if (bytes.Length >= 14)
            {
                bytes[12] = (byte)(type >> 8);
                bytes[13] = (byte)type;
            }

            Touch(bytes);
        }, iter: RandomIterations);
    }

    private static long TouchMld(Span<byte> b)
    {
        long sink = 0;
        if (MldMessage.TryCreate(b, out MldMessage mld))
        {
            sink += (byte)mld.Type + mld.Code + mld.MaximumResponse + (long)mld.MulticastAddress.Low + mld.QuerierRobustness + mld.QueryIntervalCode
                + (mld.SuppressRouterSide ? 1 : 0) + MldMessage.DecodeMaximumResponseCode(mld.MaximumResponse);
            for (var i = 0; i < mld.SourceCount; i++)
            {
                sink += (long)mld.Source(i).High;
            }
        }

        if (MldV2Report.TryCreate(b, out MldV2Report report))
        {
            for (var i = 0; i < report.RecordCount; i++)
            {
                var record = report.Record(i);
                sink += (byte)record.Type + record.AuxiliaryDataLength + (long)record.MulticastAddress.Low;
                for (var j = 0; j < record.SourceCount; j++)
                {
                    sink += (long)record.Source(j).Low;
                }
            }
        }

        return sink + (MldRouterAlert.Contains(b) ? 1 : 0);
    }

    [Fact]
    public void RandomMldMessagesNeverThrow()
    {
        // Small counts in the count fields so that some random inputs pass the length checks and reach the readers.
        Gen.Select(Gen.Byte.Array[0, 160], Gen.Int[130, 143].Select(i => (byte)(i > 132 ? 143 : i)), Gen.Int[0, 3]).Sample((bytes, type, count) =>
        {
            if (bytes.Length > 0)
            {
                bytes[0] = type;
            }

            if (bytes.Length > 27)
            {
                bytes[6] = 0;
                bytes[7] = (byte)count;
                bytes[26] = 0;
                bytes[27] = (byte)count;
            }

            Touch(bytes);
        }, iter: RandomIterations);
    }

    [Fact]
    public void RandomNdpMessagesNeverThrow()
    {
        Gen.Select(Gen.Byte.Array[0, 96], Gen.Int[133, 136].Select(i => (byte)i)).Sample((bytes, type) =>
        {
            if (bytes.Length > 0)
            {
                bytes[0] = type;
            }

            Touch(bytes);
        }, iter: RandomIterations);
    }

    [Fact]
    public void RandomTcpSegmentsNeverThrow()
    {
        Gen.Select(Gen.Byte.Array[20, 80], Gen.Int[5, 15]).Sample((bytes, offset) =>
        {
            bytes[12] = (byte)(offset << 4);
            Touch(bytes);
        }, iter: RandomIterations);
    }

    [Fact]
    public void RandomTcpOptionListsNeverThrow()
    {
        Gen.Byte[0, 10].Select(b => b == 9 ? (byte)34 : b == 10 ? (byte)254 : b).Array[0, 40].Sample(options =>
        {
            ReadAllOptions(options);
        }, iter: RandomIterations);
    }

    [Fact]
    public void EveryTruncationAndSingleByteCorruptionOfCapturedFramesNeverThrows()
    {
        int cases = 0;
        foreach (byte[] frame in Valid)
        {
            for (int n = 0; n <= frame.Length; n++)
            {
                byte[] cut = frame.AsSpan(0, n).ToArray();
                Touch(cut);
                Touch(cut.AsSpan(Math.Min(14, n)));
                cases++;
                for (int i = 0; i < n; i += 3)
                {
                    cut[i] ^= 0xFF;
                    Touch(cut.AsSpan(Math.Min(14, n)));
                    cut[i] ^= 0xFF;
                    cases++;
                }
            }
        }

        Assert.True(cases > 1000);
    }

    [Fact]
    public void RandomAddressTextNeverThrows()
    {
        Gen.String[Gen.Char["0123456789abcdefABCDEF:.%g "], 0, 48].Sample(s =>
        {
            if (IPv6Address.TryParse(s, out IPv6Address a6))
            {
                Assert.True(IPv6Address.TryParse(a6.ToString(), out IPv6Address again));
                Assert.Equal(a6, again);
                Assert.Equal(System.Net.IPAddress.Parse(s), a6.ToIPAddress());
            }

            if (IPv4Address.TryParse(s, out IPv4Address a4))
            {
                Assert.Equal(s, a4.ToString());
            }

            MacAddress.TryParse(s, out _);
        }, iter: 100_000);
    }
}
