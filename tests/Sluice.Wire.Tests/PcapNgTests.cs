using System.Diagnostics;
using CsCheck;
using Sluice.Testing;
using Xunit.Abstractions;

namespace Sluice.Wire.Tests;

public class PcapNgTests(ITestOutputHelper output)
{
    private const int HostileIterations = 50_000;

    private static byte[] WriteTwoInterfaces()
    {
        using var ms = new MemoryStream();
        using (var w = new PcapNgWriter(ms))
        {
            Assert.Equal(0, w.AddInterface(LinkType.Ethernet, "epair0a", tsResolution: 9));
            Assert.Equal(1, w.AddInterface(LinkType.Ethernet, "em1"));
            w.Write(0, 1_700_000_000_123_456_789L, Captures.Bytes(Captures.ArpRequest), outbound: true);
            w.Write(1, 1_700_000_001_000_001_999L, Captures.Bytes(Captures.TcpSyn), outbound: false);
            w.Write(0, 1_700_000_002_000_000_000L, Captures.Bytes(Captures.DnsQuery), 1500);
        }

        return ms.ToArray();
    }

    private static List<(PcapRecord Record, bool? Outbound)> ReadAll(byte[] file, out PcapNgReader reader)
    {
        Assert.True(PcapNgReader.TryOpen(new MemoryStream(file), out PcapNgReader? r, out string error), error);
        reader = r!;
        var records = new List<(PcapRecord, bool?)>();
        while (reader.TryReadNext(out PcapRecord rec, out string? e))
        {
            records.Add((rec, reader.LastOutbound));
            Assert.Null(e);
        }

        Assert.True(reader.TryReadNext(out _, out string? end) is false && end is null, end);
        return records;
    }

    [Fact]
    public void TwoInterfacesWithNanoAndMicrosecondResolutionRoundTrip()
    {
        byte[] file = WriteTwoInterfaces();
        Assert.Equal(0, file.Length % 4);
        var records = ReadAll(file, out PcapNgReader r);

        Assert.Equal(2, r.Interfaces.Count);
        Assert.Equal(new PcapNgInterface(LinkType.Ethernet, 262144, "epair0a", 9), r.Interfaces[0]);
        Assert.Equal(new PcapNgInterface(LinkType.Ethernet, 262144, "em1", 6), r.Interfaces[1]);
        Assert.False(r.IsBigEndian);
        Assert.Equal(1, r.Sections);

        Assert.Equal(3, records.Count);
        Assert.Equal(1_700_000_000_123_456_789L, records[0].Record.TimestampNanoseconds);
        Assert.Equal(0, records[0].Record.InterfaceId);
        Assert.True(records[0].Outbound);
        Assert.Equal(Captures.Bytes(Captures.ArpRequest), records[0].Record.Data.ToArray());

        Assert.Equal(1_700_000_001_000_001_000L, records[1].Record.TimestampNanoseconds); // µs interface truncates
        Assert.Equal(1, records[1].Record.InterfaceId);
        Assert.False(records[1].Outbound);
        Assert.Equal(Captures.Bytes(Captures.TcpSyn), records[1].Record.Data.ToArray());

        Assert.Null(records[2].Outbound);
        Assert.Equal(1500, records[2].Record.OriginalLength);
        Assert.Equal(Captures.Bytes(Captures.DnsQuery), records[2].Record.Data.ToArray());
    }

    [Fact]
    public void SnapLengthTruncatesAndKeepsOriginalLength()
    {
        using var ms = new MemoryStream();
        using (var w = new PcapNgWriter(ms))
        {
            w.AddInterface(LinkType.Ethernet, "", snapLength: 14, tsResolution: 0x80 | 20);
            w.Write(0, 3 * 1_000_000_000L, Captures.Bytes(Captures.IcmpEcho));
        }

        var records = ReadAll(ms.ToArray(), out PcapNgReader r);
        Assert.Null(r.Interfaces[0].Name);
        Assert.Equal(14, records[0].Record.Data.Length);
        Assert.Equal(Captures.Bytes(Captures.IcmpEcho).Length, records[0].Record.OriginalLength);
        Assert.Equal(3 * 1_000_000_000L, records[0].Record.TimestampNanoseconds);
    }

    /// <summary>
    /// A big-endian section built by hand: an IDB with if_tsresol 3 (ms), an IDB named "eth1" with if_tsresol 0x8a
    /// (2^-10 s), an unknown block, EPBs on both (the second outbound) and a Simple Packet Block.
    /// </summary>
    private const string BigEndianFile =
        "0a0d0d0a" + "0000001c" + "1a2b3c4d" + "00010000" + "ffffffffffffffff" + "0000001c" +
        "00000001" + "00000020" + "00010000" + "0000ffff" + "0009000103000000" + "00000000" + "00000020" +
        "00000001" + "00000028" + "00010000" + "00000000" + "0002000465746831" + "000900018a000000" + "00000000" + "00000028" +
        "00000bad" + "0000000c" + "0000000c" +
        "00000006" + "00000024" + "00000000" + "00000000" + "000003e9" + "00000003" + "0000003c" + "aabbcc00" + "00000024" +
        "00000006" + "00000030" + "00000001" + "00000000" + "00001400" + "00000002" + "00000002" + "dddd0000" + "0002000400000002" + "00000000" + "00000030" +
        "00000003" + "00000014" + "00000004" + "01020304" + "00000014";

    [Fact]
    public void HandBuiltBigEndianFileIsRead()
    {
        var records = ReadAll(Convert.FromHexString(BigEndianFile), out PcapNgReader r);
        Assert.True(r.IsBigEndian);
        Assert.Equal(2, r.Interfaces.Count);
        Assert.Equal(new PcapNgInterface(LinkType.Ethernet, 0xffff, null, 3), r.Interfaces[0]);
        Assert.Equal(new PcapNgInterface(LinkType.Ethernet, 0, "eth1", 0x8a), r.Interfaces[1]);
        Assert.Equal(3, records.Count);

        Assert.Equal(1_001_000_000L, records[0].Record.TimestampNanoseconds);
        Assert.Equal(60, records[0].Record.OriginalLength);
        Assert.Equal("aabbcc", Convert.ToHexStringLower(records[0].Record.Data.Span));
        Assert.Null(records[0].Outbound);

        Assert.Equal(1, records[1].Record.InterfaceId);
        Assert.Equal(5_000_000_000L, records[1].Record.TimestampNanoseconds);
        Assert.Equal("dddd", Convert.ToHexStringLower(records[1].Record.Data.Span));
        Assert.True(records[1].Outbound);

        Assert.Equal(0, records[2].Record.InterfaceId);
        Assert.Equal("01020304", Convert.ToHexStringLower(records[2].Record.Data.Span));
        Assert.Equal(4, records[2].Record.OriginalLength);
    }

    [Fact]
    public void EachSectionHasItsOwnByteOrderAndInterfaces()
    {
        byte[] file = [.. WriteTwoInterfaces(), .. Convert.FromHexString(BigEndianFile)];
        var records = ReadAll(file, out PcapNgReader r);
        Assert.Equal(2, r.Sections);
        Assert.Equal(6, records.Count);
        Assert.Equal(1_700_000_002_000_000_000L, records[2].Record.TimestampNanoseconds);
        Assert.Equal(1_001_000_000L, records[3].Record.TimestampNanoseconds);
        Assert.Equal("eth1", r.Interfaces[1].Name);
    }

    [Fact]
    public void ObsoletePacketBlockIsRead()
    {
        // SHB (LE), IDB, then a type-2 Packet Block on interface 0 with drops 0 and 2 data bytes.
        byte[] file = Convert.FromHexString(
            "0a0d0d0a" + "1c000000" + "4d3c2b1a" + "01000000" + "ffffffffffffffff" + "1c000000" +
            "01000000" + "14000000" + "01000000" + "00000000" + "14000000" +
            "02000000" + "24000000" + "0000" + "0000" + "00000000" + "07000000" + "02000000" + "02000000" + "abcd0000" + "24000000");
        var records = ReadAll(file, out _);
        Assert.Single(records);
        Assert.Equal(7_000L, records[0].Record.TimestampNanoseconds);
        Assert.Equal("abcd", Convert.ToHexStringLower(records[0].Record.Data.Span));
    }

    [Theory]
    [InlineData(0, 4, (byte)0x1d, "offset 4: block length 29 is not a multiple of 4")]
    [InlineData(0, 24, (byte)0x00, "offset 24: trailing block length 0 does not match 28")]
    [InlineData(0, 8, (byte)0x00, "offset 8: bad byte-order magic")]
    [InlineData(1, 7, (byte)0x01, "offset 32: block length 16777236 exceeds 16777216")]
    [InlineData(2, 8, (byte)0x05, "offset 56: interface id 5 is not described")]
    [InlineData(2, 20, (byte)0xff, "captured length 255 exceeds the block")]
    public void MalformedBlocksAreReportedWithOffset(int block, int at, byte value, string expected)
    {
        byte[] file = WriteMinimal();
        int start = block switch { 0 => 0, 1 => 28, _ => 48 };
        file[start + at] = value;
        string? error = null;
        if (PcapNgReader.TryOpen(new MemoryStream(file), out PcapNgReader? r, out string openError))
        {
            Assert.False(r!.TryReadNext(out _, out error));
            Assert.False(r.TryReadNext(out _, out string? again));
            Assert.Equal(error, again);
        }
        else
        {
            error = openError;
        }

        Assert.NotNull(error);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void TruncatedFileIsReportedWithOffsetAndNonPcapngIsRefused()
    {
        byte[] file = WriteMinimal();
        Assert.True(PcapNgReader.TryOpen(new MemoryStream(file, 0, file.Length - 3), out PcapNgReader? r, out _));
        Assert.False(r!.TryReadNext(out _, out string? e));
        Assert.Equal("offset 48: truncated block (36 bytes expected)", e);

        Assert.True(PcapNgReader.TryOpen(new MemoryStream(file, 0, 52), out r, out _));
        Assert.False(r!.TryReadNext(out _, out e));
        Assert.Equal("offset 48: truncated block header", e);

        Assert.False(PcapNgReader.TryOpen(new MemoryStream(new byte[24]), out _, out string error));
        Assert.Equal("offset 0: not a pcapng file (first block type 0x00000000)", error);
        Assert.False(PcapNgReader.TryOpen(new MemoryStream([]), out _, out error));
        Assert.Contains("offset 0", error);
    }

    /// <summary>SHB (28 bytes, no options) at 0, IDB (20 bytes) at 28, one EPB with 2 bytes at 48.</summary>
    private static byte[] WriteMinimal() => Convert.FromHexString(
        "0a0d0d0a" + "1c000000" + "4d3c2b1a" + "01000000" + "ffffffffffffffff" + "1c000000" +
        "01000000" + "14000000" + "01000000" + "00000000" + "14000000" +
        "06000000" + "24000000" + "00000000" + "00000000" + "07000000" + "02000000" + "02000000" + "abcd0000" + "24000000");

    [Fact]
    public void RandomBytesAfterASectionHeaderNeverThrow()
    {
        byte[] shb = Convert.FromHexString("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000");
        Gen.Select(Gen.Byte.Array[0, 160], Gen.Bool).Sample((bytes, prefixed) =>
        {
            byte[] file = prefixed ? [.. shb, .. bytes] : bytes;
            Drain(file);
        }, iter: HostileIterations);
    }

    [Fact]
    public void TruncatedAndMutatedValidFilesNeverThrow()
    {
        byte[] valid = [.. WriteTwoInterfaces(), .. Convert.FromHexString(BigEndianFile)];
        Gen.Select(Gen.Int[0, valid.Length], Gen.Select(Gen.Int[0, valid.Length - 1], Gen.Byte).Array[0, 4]).Sample((length, mutations) =>
        {
            byte[] file = valid[..length];
            foreach ((int at, byte value) in mutations)
            {
                if (at < file.Length)
                {
                    file[at] = value;
                }
            }

            Drain(file);
        }, iter: HostileIterations);
    }

    private static void Drain(byte[] file)
    {
        if (!PcapNgReader.TryOpen(new MemoryStream(file), out PcapNgReader? r, out string error))
        {
            Assert.StartsWith("offset ", error);
            return;
        }

        for (int i = 0; i < 64; i++)
        {
            if (!r!.TryReadNext(out PcapRecord rec, out string? e))
            {
                Assert.True(e is null || e.StartsWith("offset ", StringComparison.Ordinal), e);
                return;
            }

            Assert.InRange(rec.InterfaceId, 0, r.Interfaces.Count - 1);
        }
    }

    [Fact]
    public void TsharkDecodesWrittenPcapng()
    {
        var tshark = Tshark.Find(output);
        if (tshark is null)
        {
            return;
        }

        string path = Path.Combine(Path.GetTempPath(), $"sluice-wire-{Guid.NewGuid():N}.pcapng");
        try
        {
            File.WriteAllBytes(path, WriteTwoInterfaces());
            var psi = new ProcessStartInfo(tshark, ["-r", path, "-T", "fields", "-e", "frame.interface_name", "-e", "eth.type", "-e", "frame.time_epoch", "-e", "frame.packet_flags_direction", "-e", "frame.len", "-e", "_ws.malformed"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using Process p = Process.Start(psi)!;
            string stdout = p.StandardOutput.ReadToEnd();
            string stderr = p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(60_000));
            Assert.True(p.ExitCode == 0, stderr);
            string[][] lines = [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t'))];
            Assert.Equal(3, lines.Length);
            Assert.Equal(["epair0a", "0x0806"], lines[0][..2]);
            Assert.StartsWith("1700000000.123456789", lines[0][2]);
            Assert.Equal("0x00000002", lines[0][3]); // outbound
            Assert.Equal(["em1", "0x0800"], lines[1][..2]);
            Assert.StartsWith("1700000001.000001000", lines[1][2]);
            Assert.Equal("0x00000001", lines[1][3]); // inbound
            Assert.Equal(["epair0a", "0x0800"], lines[2][..2]);
            Assert.Equal("1500", lines[2][4]);
            Assert.All(lines, l => Assert.Equal("", l[5]));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
