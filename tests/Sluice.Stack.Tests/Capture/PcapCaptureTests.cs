using System.Buffers.Binary;
using System.Diagnostics;
using Sluice.Stack.Links;
using Sluice.Stack.Tests.Net;
using Sluice.Stack.Time;
using Sluice.Testing;
using Sluice.Wire;
using Xunit.Abstractions;
using static Sluice.Stack.Tests.Net.TestNet;

namespace Sluice.Stack.Tests.Capture;

public sealed class PcapCaptureTests(ITestOutputHelper output)
{
    private const ushort EtherTypeIPv4 = 0x0800, EtherTypeArp = 0x0806;

    /// <summary>h1 (192.0.2.2) and h2 (192.0.2.1) on one epair; a capture on h1's end sees two pings.</summary>
    private static (TestNet Net, byte[] File, long Start, PcapCapture Capture) CapturePing(CaptureFormat format, CaptureDirection direction = CaptureDirection.InOut)
    {
        var net = new TestNet();
        var h1 = net.Stack("h1");
        var h2 = net.Stack("h2");
        var (a, b) = net.Connect(h1, h2);
        a.AddAddress(V4("192.0.2.2"), 24);
        b.AddAddress(V4("192.0.2.1"), 24);
        net.Loop.RunFor(2 * Nanos.PerSecond);

        using var ms = new MemoryStream();
        var capture = new PcapCapture(ms, net.Loop.Clock, format) { Direction = direction };
        capture.Attach(a);
        long start = net.Loop.Now;
        var result = net.Ping(h1, V4("192.0.2.1"), count: 2);
        Assert.Equal(2, result.Received);
        capture.Dispose();
        Assert.Null(capture.Interface);
        Assert.Equal(0, net.Loop.Pool.Outstanding);
        return (net, ms.ToArray(), start, capture);
    }

    private static (ushort EtherType, int Kind) Classify(ReadOnlySpan<byte> frame)
    {
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        return type switch
        {
            EtherTypeArp => (type, BinaryPrimitives.ReadUInt16BigEndian(frame[20..])), // ARP opcode: 1 request, 2 reply
            EtherTypeIPv4 when frame[23] == 1 => (type, frame[34]),                    // ICMP type: 8 request, 0 reply
            _ => (type, -1),
        };
    }

    [Fact]
    public void PingAcrossAnEpairIsCapturedInOrderWithVirtualTimestamps()
    {
        var (_, file, start, capture) = CapturePing(CaptureFormat.Pcap);
        Assert.True(PcapReader.TryOpen(new MemoryStream(file), out PcapReader? reader, out string error), error);
        Assert.Equal(LinkType.Ethernet, reader!.LinkType);
        var records = new List<PcapRecord>();
        while (reader.TryReadNext(out PcapRecord rec, out string? e))
        {
            records.Add(rec);
        }

        Assert.Equal(
            [(EtherTypeArp, 1), (EtherTypeArp, 2), (EtherTypeIPv4, 8), (EtherTypeIPv4, 0), (EtherTypeIPv4, 8), (EtherTypeIPv4, 0)],
            records.Select(r => Classify(r.Data.Span)));
        Assert.Equal(records.Count, capture.Packets);

        // The epair delivers on the next turn of the loop at the same virtual instant; the second echo is one interval later.
        Assert.Equal([start, start, start, start, start + Nanos.PerSecond, start + Nanos.PerSecond], records.Select(r => r.TimestampNanoseconds));
        Assert.All(records, r => Assert.Equal(r.Data.Length, r.OriginalLength));
    }

    [Fact]
    public void PcapNgCaptureNamesTheInterfaceAndMarksDirection()
    {
        var (_, file, start, _) = CapturePing(CaptureFormat.PcapNg);
        Assert.True(PcapNgReader.TryOpen(new MemoryStream(file), out PcapNgReader? reader, out string error), error);
        var seen = new List<(int Kind, bool? Outbound, long Time)>();
        while (reader!.TryReadNext(out PcapRecord rec, out string? e))
        {
            seen.Add((Classify(rec.Data.Span).Kind, reader.LastOutbound, rec.TimestampNanoseconds));
        }

        Assert.Equal("epair0a", Assert.Single(reader.Interfaces).Name);
        Assert.Equal(
            [(1, true, start), (2, false, start), (8, true, start), (0, false, start), (8, true, start + Nanos.PerSecond), (0, false, start + Nanos.PerSecond)],
            seen);
    }

    [Theory]
    [InlineData("in", 0)]
    [InlineData("out", 1)]
    public void DirectionFilterKeepsOneSide(string q, int parity)
    {
        Assert.True(PcapCapture.TryParseDirection(q, out CaptureDirection direction));
        var (_, file, _, capture) = CapturePing(CaptureFormat.PcapNg, direction);
        Assert.Equal(3, capture.Packets);
        Assert.True(PcapNgReader.TryOpen(new MemoryStream(file), out PcapNgReader? reader, out _));
        while (reader!.TryReadNext(out PcapRecord rec, out _))
        {
            Assert.Equal(parity == 1, reader.LastOutbound);
            Assert.Equal(parity == 1, Classify(rec.Data.Span).Kind is 1 or 8);
        }

        Assert.False(PcapCapture.TryParseDirection("both", out _));
    }

    [Fact]
    public void AttachingTwiceIsRefusedAndDetachStopsTheCapture()
    {
        var net = new TestNet();
        var h1 = net.Stack("h1");
        var h2 = net.Stack("h2");
        var (a, b) = net.Connect(h1, h2);
        a.AddAddress(V4("192.0.2.2"), 24);
        b.AddAddress(V4("192.0.2.1"), 24);
        using var ms = new MemoryStream();
        using var capture = new PcapCapture(ms, net.Loop.Clock);
        capture.Attach(a);
        Assert.Throws<InvalidOperationException>(() => capture.Attach(b));
        Assert.True(capture.Detach());
        Assert.False(capture.Detach());
        Assert.Equal(2, net.Ping(h1, V4("192.0.2.1"), count: 2).Received);
        Assert.Equal(0, capture.Packets);
        Assert.Equal(24, ms.Length);
    }

    [Theory]
    [InlineData(CaptureFormat.Pcap)]
    [InlineData(CaptureFormat.PcapNg)]
    public void WritingAFrameDoesNotAllocate(CaptureFormat format)
    {
        var net = new TestNet();
        var (a, _) = net.Connect(net.Stack("h1"), net.Stack("h2"));
        using var ms = new MemoryStream(1 << 20);
        using var capture = new PcapCapture(ms, net.Loop.Clock, format);
        capture.Attach(a);
        byte[] frame = new byte[98];
        capture.OnFrame(a, frame, outbound: true);
        SteadyStateAllocation.AssertNone(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                capture.OnFrame(a, frame, outbound: (i & 1) == 0);
            }
        }, "1000 captured frames");
        Assert.Equal(1 + (1000 * SteadyStateAllocation.Windows), capture.Packets);
    }

    [Fact]
    public void TsharkDecodesACapturedPing()
    {
        var tshark = Tshark.Find(output);
        if (tshark is null)
        {
            return;
        }

        foreach (var format in new[] { CaptureFormat.Pcap, CaptureFormat.PcapNg })
        {
            var (_, file, _, _) = CapturePing(format);
            string path = Path.Combine(Path.GetTempPath(), $"sluice-capture-{Guid.NewGuid():N}.{(format == CaptureFormat.Pcap ? "pcap" : "pcapng")}");
            try
            {
                File.WriteAllBytes(path, file);
                var psi = new ProcessStartInfo(tshark, ["-r", path])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                using Process p = Process.Start(psi)!;
                string stdout = p.StandardOutput.ReadToEnd();
                string stderr = p.StandardError.ReadToEnd();
                Assert.True(p.WaitForExit(60_000));
                Assert.True(p.ExitCode == 0, stderr);
                output.WriteLine(stdout);
                string[] lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal(6, lines.Length);
                Assert.DoesNotContain("Malformed", stdout, StringComparison.Ordinal);
                Assert.Equal(2, lines.Count(l => l.Contains("Echo (ping) request", StringComparison.Ordinal)));
                Assert.Equal(2, lines.Count(l => l.Contains("Echo (ping) reply", StringComparison.Ordinal)));
                Assert.Contains("Who has 192.0.2.1? Tell 192.0.2.2", lines[0], StringComparison.Ordinal);
            }
            finally
            {
                File.Delete(path);
            }
        }
    }
}
