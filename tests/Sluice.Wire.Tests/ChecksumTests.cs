using CsCheck;

namespace Sluice.Wire.Tests;

public class ChecksumTests
{
    private static uint ReferenceSum(ReadOnlySpan<byte> data)
    {
        ulong s = 0;
        for (int i = 0; i + 1 < data.Length; i += 2)
        {
            s += (uint)((data[i] << 8) | data[i + 1]);
        }

        if ((data.Length & 1) != 0)
        {
            s += (uint)(data[^1] << 8);
        }

        while ((s >> 16) != 0)
        {
            s = (s & 0xFFFF) + (s >> 16);
        }

        return (uint)s;
    }

    [Fact]
    public void Rfc1071ExampleSumsToDdf2()
    {
        // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.Equal(0xddf2u, Checksum.Add(data));
        Assert.Equal((ushort)0x220d, Checksum.Compute(data));
    }

    [Fact]
    public void EmptyDataChecksumIsAllOnes() => Assert.Equal((ushort)0xFFFF, Checksum.Compute([]));

    [Fact]
    public void OddTrailingByteIsPaddedWithZero() => Assert.Equal(0xAB00u, Checksum.Add([0xAB]));

    [Fact]
    public void VectorisedSumEqualsScalarReferenceForRandomLengths()
    {
        Gen.Int[0, 70000].SelectMany(n => Gen.Byte.Array[n]).Sample(data =>
        {
            Assert.Equal(ReferenceSum(data), Checksum.Add(data));
        }, iter: 300);
    }

    [Fact]
    public void SumOfAllOnesBytesStaysInRange()
    {
        byte[] data = new byte[65535 + 60];
        Array.Fill(data, (byte)0xFF);
        Assert.Equal(ReferenceSum(data), Checksum.Add(data));
        uint total = Checksum.Add(data, Checksum.PseudoHeaderV4(IPv4Address.Broadcast, IPv4Address.Broadcast, IPProtocol.Udp, 65535));
        Assert.True(total <= 0xFFFF);
    }

    [Fact]
    public void PartialSumsComposeAcrossSplitsAtEvenOffsets()
    {
        Gen.Byte.Array[2, 3000].Sample(data =>
        {
            int split = data.Length / 4 * 2;
            uint joined = Checksum.Add(data.AsSpan(split), Checksum.Add(data.AsSpan(0, split)));
            Assert.Equal(Checksum.Compute(data), Checksum.Fold(joined));
        }, iter: 2000);
    }

    [Fact]
    public void IncrementalUpdateMatchesRecomputation()
    {
        Gen.Select(Gen.Byte.Array[20], Gen.Int[0, 9], Gen.UShort).Sample((header, word, value) =>
        {
            header[10] = 0;
            header[11] = 0;
            if (word == 5)
            {
                return;
            }

            ushort before = Checksum.Compute(header);
            ushort oldWord = (ushort)((header[word * 2] << 8) | header[(word * 2) + 1]);
            header[word * 2] = (byte)(value >> 8);
            header[(word * 2) + 1] = (byte)value;
            ushort after = Checksum.Compute(header);
            ushort updated = Checksum.Update(before, oldWord, value);
            // RFC 1624 §3: both representations of zero are equivalent under ones' complement.
            Assert.True(after == updated || (after ^ updated) == 0xFFFF && (after == 0 || updated == 0), $"{after:x4} vs {updated:x4}");
        }, iter: 5000);
    }

    [Fact]
    public void ThirtyTwoBitUpdateMatchesRecomputationForAddressRewrite()
    {
        byte[] frame = Captures.Bytes(Captures.DnsQuery);
        Assert.True(IPv4Packet.TryCreate(frame.AsSpan(14), out IPv4Packet ip));
        ushort old = ip.HeaderChecksum;
        IPv4Address oldSource = ip.Source;
        var newSource = new IPv4Address(203, 0, 113, 9);
        ip.Source = newSource;
        ushort updated = Checksum.Update(old, oldSource.Value, newSource.Value);
        ip.FillChecksum();
        Assert.Equal(ip.HeaderChecksum, updated);
    }

    [Fact]
    public void PseudoHeaderSumsMatchKnownUdpChecksum()
    {
        byte[] frame = Captures.Bytes(Captures.DnsQuery);
        Assert.True(IPv4Packet.TryCreate(frame.AsSpan(14), out IPv4Packet ip));
        Span<byte> udp = ip.Payload;
        uint sum = Checksum.PseudoHeaderV4(ip.Source, ip.Destination, IPProtocol.Udp, udp.Length);
        Assert.Equal((ushort)0, Checksum.Fold(Checksum.Add(udp, sum)));
    }
}
