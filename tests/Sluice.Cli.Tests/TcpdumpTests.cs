using System.Buffers.Binary;
using Sluice.Wire;

namespace Sluice.Cli.Tests;

/// <summary><c>tcpdump -w</c> in a virtual-time lab: a background capture ended by <c>-c</c>, its interface going, or the lab's end.</summary>
public sealed class TcpdumpTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-tcpdump-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Setup => """
        jail -c name=a vnet persist
        jail -c name=b vnet persist
        ifconfig epair0 create
        ifconfig epair0a vnet a
        ifconfig epair0b vnet b
        jexec a ifconfig epair0a inet 192.0.2.1/24 up
        jexec b ifconfig epair0b inet 192.0.2.2/24 up

        """;

    private static (int Status, string Out, string Err) Script(string text)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int status;
        using (var lab = new Lab(stdout, stderr))
        {
            status = lab.RunScriptText(text, "test.lab");
        }

        return (status, stdout.ToString(), stderr.ToString());
    }

    private static List<PcapRecord> ReadPcap(string path, out PcapReader reader)
    {
        using var file = File.OpenRead(path);
        Assert.True(PcapReader.TryOpen(file, out var r, out var error), error);
        reader = r!;
        var records = new List<PcapRecord>();
        while (reader.TryReadNext(out var record, out var readError))
        {
            records.Add(record with { Data = record.Data.ToArray() });
        }

        return records;
    }

    [Fact]
    public void CaptureRunsInTheBackgroundUntilTheLabEnds()
    {
        var pcap = Path.Combine(_dir, "a.pcap");
        var (status, stdout, stderr) = Script(Setup + $"jexec a tcpdump -i epair0a -w {pcap}\njexec a ping -c 2 192.0.2.2\n");
        Assert.True(status == 0, stderr);
        Assert.Contains("2 packets transmitted, 2 packets received, 0.0% packet loss", stdout, StringComparison.Ordinal);
        Assert.StartsWith("tcpdump: listening on epair0a, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n", stderr, StringComparison.Ordinal);
        Assert.EndsWith("6 packets captured\n6 packets received by filter\n0 packets dropped by kernel\n", stderr, StringComparison.Ordinal);

        var records = ReadPcap(pcap, out var reader);
        Assert.Equal(LinkType.Ethernet, reader.LinkType);
        Assert.Equal(262144, reader.SnapLength);
        Assert.Equal(6, records.Count); // ARP request and reply, two echo requests and replies
        var echoes = records.Where(r => BinaryPrimitives.ReadUInt16BigEndian(r.Data.Span[12..]) == 0x0800).ToList();
        Assert.Equal(4, echoes.Count);
        Assert.Equal(8, echoes[0].Data.Span[14 + 20]); // ICMP echo request first
        Assert.Equal(0, echoes[1].Data.Span[14 + 20]);

        // Virtual time: 1970 plus the lab's clock, one second between the pings.
        Assert.InRange(echoes[2].TimestampNanoseconds - echoes[0].TimestampNanoseconds, 999_000_000L, 1_001_000_000L);
        Assert.True(echoes[0].TimestampNanoseconds < 10_000_000_000L);
    }

    [Fact]
    public void CountEndsTheCaptureAndDirectionAndSnapLengthApply()
    {
        var pcap = Path.Combine(_dir, "c.pcap");
        var (status, _, stderr) = Script(Setup + $"jexec a tcpdump -c 2 -Q out -s 60 -i epair0a -w {pcap}\njexec a ping -c 3 192.0.2.2\necho after\n");
        Assert.True(status == 0, stderr);
        Assert.Contains("snapshot length 60 bytes", stderr, StringComparison.Ordinal);
        Assert.Contains("2 packets captured\n", stderr, StringComparison.Ordinal);

        var records = ReadPcap(pcap, out var reader);
        Assert.Equal(60, reader.SnapLength);
        Assert.Equal(2, records.Count);
        Assert.Equal(0x0806, BinaryPrimitives.ReadUInt16BigEndian(records[0].Data.Span[12..])); // our ARP request
        Assert.Equal(98, records[1].OriginalLength); // an echo request, cut at the snap length
        Assert.Equal(60, records[1].Data.Length);
        Assert.Equal(8, records[1].Data.Span[14 + 20]);
    }

    [Fact]
    public void DestroyingTheInterfaceEndsTheCapture()
    {
        var pcap = Path.Combine(_dir, "d.pcap");
        var (status, _, stderr) = Script($"ifconfig epair0 create\ntcpdump -i epair0a -w {pcap}\nifconfig epair0a destroy\necho gone\n");
        Assert.True(status == 0, stderr);
        Assert.Contains("0 packets captured\n", stderr, StringComparison.Ordinal);
        Assert.Empty(ReadPcap(pcap, out _));
    }

    [Theory]
    [InlineData("tcpdump -i nope0 -w x.pcap", "tcpdump: nope0: No such device exists")]
    [InlineData("tcpdump -i lo0", "tcpdump: sluice's tcpdump only writes captures: give -w file")]
    [InlineData("tcpdump -i lo0 -w x.pcap icmp", "tcpdump: filter expressions are not implemented by sluice: capture everything and filter when reading")]
    [InlineData("tcpdump -c 0 -i lo0 -w x.pcap", "tcpdump: invalid packet count 0")]
    [InlineData("tcpdump -s big -i lo0 -w x.pcap", "tcpdump: invalid snaplen big")]
    [InlineData("tcpdump -Q sideways -i lo0 -w x.pcap", "tcpdump: unknown capture direction 'sideways'")]
    [InlineData("tcpdump --time-stamp-precision pico -i lo0 -w x.pcap", "tcpdump: unsupported time stamp precision")]
    [InlineData("tcpdump -r x.pcap", "tcpdump: reading a capture (-r) is not implemented by sluice; use tshark -r or tcpdump -r outside")]
    [InlineData("tcpdump -i lo0 -w /nonexistent-dir/x.pcap", "tcpdump: /nonexistent-dir/x.pcap: No such file or directory")]
    [InlineData("tcpdump -X -i lo0 -w x.pcap", "tcpdump: illegal option -- X")]
    public void BadArgumentsFailWithTcpdumpsMessage(string command, string message)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Lab(stdout, stderr);
        Assert.Equal(1, lab.Execute(command));
        Assert.StartsWith(message + "\n", stderr.ToString(), StringComparison.Ordinal);
        Assert.Empty(lab.Captures);
    }

    [Fact]
    public void LongOptionsAndNanoPrecisionAreAccepted()
    {
        var pcap = Path.Combine(_dir, "n.pcap");
        var (status, _, stderr) = Script($"tcpdump --time-stamp-precision=nano --snapshot-length 128 -U -n -i lo0 -w {pcap}\nping -c 1 127.0.0.1\n");
        Assert.True(status == 0, stderr);
        Assert.Contains("listening on lo0, link-type EN10MB (Ethernet), snapshot length 128 bytes", stderr, StringComparison.Ordinal);
    }
}
