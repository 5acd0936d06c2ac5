using System.Diagnostics;
using CsCheck;
using Sluice.Testing;
using Xunit.Abstractions;

namespace Sluice.Wire.Tests;

public class PcapTests(ITestOutputHelper output)
{
    private static byte[] WriteCaptures(bool nanosecond)
    {
        using var ms = new MemoryStream();
        using (var w = new PcapWriter(ms, LinkType.Ethernet, nanosecond: nanosecond))
        {
            w.Write(1_700_000_000_123_456_789L, Captures.Bytes(Captures.ArpRequest));
            w.Write(1_700_000_001_000_001_000L, Captures.Bytes(Captures.TcpSyn));
            w.Write(1_700_000_002_000_000_000L, Captures.Bytes(Captures.DnsQuery), 1500);
        }

        return ms.ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WrittenPcapReadsBack(bool nanosecond)
    {
        byte[] file = WriteCaptures(nanosecond);
        Assert.Equal(nanosecond ? 0x4d : 0xd4, file[0]);
        Assert.True(PcapReader.TryOpen(new MemoryStream(file), out PcapReader? r, out string error), error);
        Assert.Equal(LinkType.Ethernet, r!.LinkType);
        Assert.Equal(262144, r.SnapLength);
        Assert.True(r.TryReadNext(out PcapRecord rec, out string? e), e);
        Assert.Equal(nanosecond ? 1_700_000_000_123_456_789L : 1_700_000_000_123_456_000L, rec.TimestampNanoseconds);
        Assert.Equal(Captures.Bytes(Captures.ArpRequest), rec.Data.ToArray());
        Assert.True(r.TryReadNext(out rec, out e), e);
        Assert.Equal(Captures.Bytes(Captures.TcpSyn), rec.Data.ToArray());
        Assert.True(r.TryReadNext(out rec, out e), e);
        Assert.Equal(1500, rec.OriginalLength);
        Assert.False(r.TryReadNext(out _, out e));
        Assert.Null(e);
    }

    [Fact]
    public void BigEndianPcapIsRead()
    {
        byte[] file = Convert.FromHexString(
            "a1b2c3d4" + "00020004" + "00000000" + "00000000" + "0000ffff" + "00000001" +
            "00000010" + "00000020" + "00000003" + "0000003c" + "aabbcc");
        Assert.True(PcapReader.TryOpen(new MemoryStream(file), out PcapReader? r, out string error), error);
        Assert.True(r!.TryReadNext(out PcapRecord rec, out string? e), e);
        Assert.Equal((16 * 1_000_000_000L) + 32_000, rec.TimestampNanoseconds);
        Assert.Equal(60, rec.OriginalLength);
        Assert.Equal("aabbcc", Convert.ToHexStringLower(rec.Data.Span));
    }

    [Fact]
    public void BadMagicIsReportedWithOffset()
    {
        Assert.False(PcapReader.TryOpen(new MemoryStream(new byte[24]), out _, out string error));
        Assert.Contains("offset 0", error);
        Assert.False(PcapReader.TryOpen(new MemoryStream(new byte[3]), out _, out error));
        Assert.Contains("truncated", error);
    }

    [Fact]
    public void TruncatedAndHugeRecordsAreReportedWithOffset()
    {
        byte[] file = WriteCaptures(false);
        Assert.True(PcapReader.TryOpen(new MemoryStream(file, 0, file.Length - 5), out PcapReader? r, out _));
        Assert.True(r!.TryReadNext(out _, out _));
        Assert.True(r.TryReadNext(out _, out _));
        Assert.False(r.TryReadNext(out _, out string? e));
        Assert.Contains("truncated packet data", e);

        file[24 + 8 + 2] = 0x7f;
        Assert.True(PcapReader.TryOpen(new MemoryStream(file), out r, out _));
        Assert.False(r!.TryReadNext(out _, out e));
        Assert.Contains("offset 32", e);
    }

    [Fact]
    public void RandomPcapBytesNeverThrow()
    {
        Gen.Byte.Array[0, 200].Sample(bytes =>
        {
            if (bytes.Length >= 4)
            {
                bytes[0] = 0xd4;
                bytes[1] = 0xc3;
                bytes[2] = 0xb2;
                bytes[3] = 0xa1;
            }

            if (PcapReader.TryOpen(new MemoryStream(bytes), out PcapReader? r, out _))
            {
                for (int i = 0; i < 20 && r!.TryReadNext(out _, out _); i++)
                {
                }
            }
        }, iter: 20_000);
    }

    [Fact]
    public void TsharkDecodesWrittenPcap()
    {
        var tshark = Tshark.Find(output);
        if (tshark is null)
        {
            return;
        }

        string path = Path.Combine(Path.GetTempPath(), $"sluice-wire-{Guid.NewGuid():N}.pcap");
        try
        {
            File.WriteAllBytes(path, WriteCaptures(false));
            var psi = new ProcessStartInfo(tshark, ["-r", path, "-T", "fields", "-e", "frame.time_epoch", "-e", "arp.dst.proto_ipv4", "-e", "tcp.options.mss_val", "-e", "tcp.options.wscale.shift", "-e", "dns.qry.name"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using Process p = Process.Start(psi)!;
            string stdout = p.StandardOutput.ReadToEnd();
            p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(60_000));
            string[] lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(3, lines.Length);
            Assert.StartsWith("1700000000.123456", lines[0]);
            Assert.Contains("192.0.2.2", lines[0]);
            Assert.Contains("1460", lines[1]);
            Assert.Contains("7", lines[1].Split('\t')[3]);
            Assert.Contains("example.com", lines[2]);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
