using System.Diagnostics;
using System.Security.Cryptography;
using Sluice.Stack.Buffers;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Testing;
using Sluice.Wire;
using Xunit.Abstractions;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>TCP-MD5 (RFC 2385) between two stacks on virtual time, keys from each stack's tcp-md5 SAD.</summary>
public sealed class TcpMd5Tests(ITestOutputHelper output)
{
    private static readonly byte[] Secret = "secret"u8.ToArray();

    private static void AddKeys(NetStack stack, byte[] clientToServer, byte[] serverToClient)
    {
        var sad = stack.Tcp.Md5Keys;
        Assert.Equal(Errno.None, sad.Add(TcpPair.ClientAddress, TcpPair.ServerAddress, 0x1000, clientToServer));
        Assert.Equal(Errno.None, sad.Add(TcpPair.ServerAddress, TcpPair.ClientAddress, 0x1001, serverToClient));
    }

    private static TcpSocket SignedListener(TcpPair net)
    {
        var l = net.Server.OpenTcp();
        Assert.Equal(Errno.None, l.SetOption(TcpSocketOption.TCP_MD5SIG, 1));
        Assert.Equal(Errno.None, l.Bind(TcpPair.ServerAddress, 179));
        Assert.Equal(Errno.None, l.Listen(4));
        return l;
    }

    /// <summary>The TCP segment of an Ethernet+IPv4 frame with its addresses.</summary>
    private static bool TrySegment(Packet frame, out byte[] segment, out IPv4Address src, out IPv4Address dst)
    {
        segment = [];
        src = dst = default;
        var d = frame.Data;
        if (d.Length < 14 + 20 || d[12] != 0x08 || d[13] != 0x00 || d[14 + 9] != 6)
        {
            return false;
        }

        var ihl = (d[14] & 0xf) * 4;
        var total = (d[16] << 8) | d[17];
        src = new IPv4Address(d[26], d[27], d[28], d[29]);
        dst = new IPv4Address(d[30], d[31], d[32], d[33]);
        segment = d.Slice(14 + ihl, Math.Min(total, d.Length - 14) - ihl).ToArray();
        return true;
    }

    /// <summary>RFC 2385 §2.0 spelled out independently: one MD5 over the concatenated parts.</summary>
    private static byte[] ReferenceDigest(byte[] segment, IPv4Address src, IPv4Address dst, byte[] key)
    {
        var hl = (segment[12] >> 4) * 4;
        var input = new List<byte>();
        Span<byte> a = stackalloc byte[4];
        src.WriteTo(a);
        input.AddRange(a.ToArray());
        dst.WriteTo(a);
        input.AddRange(a.ToArray());
        input.AddRange([0, 6, (byte)(segment.Length >> 8), (byte)segment.Length]);
        var header = segment[..20];
        header[16] = header[17] = 0;
        input.AddRange(header);
        input.AddRange(segment[hl..]);
        input.AddRange(key);
#pragma warning disable CA5351 // RFC 2385 is MD5
        return MD5.HashData([.. input]);
#pragma warning restore CA5351
    }

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void MatchingKeysConnectAndEverySegmentCarriesAValidSignature(string block)
    {
        var net = new TcpPair(block, oneWayDelayNs: Nanos.FromMilliseconds(2));
        AddKeys(net.Client, Secret, Secret);
        AddKeys(net.Server, Secret, Secret);
        var frames = new List<(byte[] Segment, IPv4Address Src, IPv4Address Dst)>();
        bool Record(Packet p)
        {
            if (TrySegment(p, out var seg, out var s, out var d))
            {
                frames.Add((seg, s, d));
            }

            return false;
        }

        net.ClientLink.Drop = Record;
        net.ServerLink.Drop = Record;
        var listener = SignedListener(net);
        var (c, s) = net.Establish(listener, sock => Assert.Equal(Errno.None, sock.SetOption(TcpSocketOption.TCP_MD5SIG, 1)));
        Assert.Equal(Errno.None, s.GetOption(TcpSocketOption.TCP_MD5SIG, out var inherited));
        Assert.Equal(1, inherited);
        var data = TcpPair.Pattern(200_000);
        Assert.Equal(data, net.Transfer(c, s, data));

        Assert.NotEmpty(frames);
        var maxPayload = 0;
        foreach (var (seg, src, dst) in frames)
        {
            Assert.True(TcpMd5Signature.TryFindDigest(seg, out var at), "a segment without the MD5 option");
            Assert.Equal(ReferenceDigest(seg, src, dst, Secret), seg.AsSpan(at, 16).ToArray());
            maxPayload = Math.Max(maxPayload, seg.Length - ((seg[12] >> 4) * 4));
        }

        // MSS 1460 less nop,nop,TS (12) and nop,nop,md5 (20): tcp_output's len = t_maxseg - optlen.
        Assert.Equal(1428, maxPayload);
        Assert.Equal(0, net.Server.Tcp.Statistics.tcps_sig_rcvbadsig);
        Assert.Equal(0, net.Server.Tcp.Statistics.tcps_sig_err_nosigopt);
        Assert.True(net.Server.Tcp.Statistics.tcps_sig_rcvgoodsig >= frames.Count(f => f.Dst == TcpPair.ServerAddress));
        Assert.True(net.Client.Tcp.Statistics.tcps_sig_rcvgoodsig > 0);
    }

    [Fact]
    public void MismatchedKeyDropsTheSynAndCountsABadSignature()
    {
        var net = new TcpPair();
        AddKeys(net.Client, "wrong"u8.ToArray(), Secret);
        AddKeys(net.Server, Secret, Secret);
        var serverSent = 0;
        net.ServerLink.Drop = p =>
        {
            serverSent += TrySegment(p, out _, out _, out _) ? 1 : 0;
            return false;
        };
        var listener = SignedListener(net);
        var c = net.Client.OpenTcp();
        Assert.Equal(Errno.None, c.SetOption(TcpSocketOption.TCP_MD5SIG, 1));
        Assert.Equal(Errno.EINPROGRESS, c.Connect(new InetEndpoint(TcpPair.ServerAddress, 179)));
        Assert.False(net.Loop.RunUntil(() => c.State == TcpState.Established, 10 * Nanos.PerSecond));
        var st = net.Server.Tcp.Statistics;
        Assert.True(st.tcps_sig_rcvbadsig >= 3, $"bad signatures counted: {st.tcps_sig_rcvbadsig}"); // the SYN and its retransmissions
        Assert.Equal(0, st.tcps_sig_rcvgoodsig);
        Assert.Equal(0, st.tcps_sc_added);
        Assert.Equal(0, serverSent); // dropped silently: no SYN-ACK, no RST
        Assert.Equal(0, listener.PendingAccepts);
    }

    [Fact]
    public void UnsignedSegmentsToASignedSocketAreDroppedAndCounted()
    {
        var net = new TcpPair();
        AddKeys(net.Client, Secret, Secret);
        AddKeys(net.Server, Secret, Secret);
        var listener = SignedListener(net);

        // An unsigned SYN to the TCP_MD5SIG listener.
        var plain = net.Client.OpenTcp();
        Assert.Equal(Errno.EINPROGRESS, plain.Connect(new InetEndpoint(TcpPair.ServerAddress, 179)));
        Assert.False(net.Loop.RunUntil(() => plain.State == TcpState.Established, 2 * Nanos.PerSecond));
        var nosig = net.Server.Tcp.Statistics.tcps_sig_err_nosigopt;
        Assert.True(nosig >= 1);
        plain.Abort();

        // An established signed connection whose peer stops signing: its data is dropped, not delivered.
        var (c, s) = net.Establish(listener, sock => Assert.Equal(Errno.None, sock.SetOption(TcpSocketOption.TCP_MD5SIG, 1)));
        Assert.Equal(Errno.None, c.SetOption(TcpSocketOption.TCP_MD5SIG, 0));
        Assert.Equal(Errno.None, c.Send("unsigned"u8, out var sent));
        Assert.Equal(8, sent);
        net.Loop.RunFor(Nanos.FromSeconds(2));
        Span<byte> buf = stackalloc byte[64];
        Assert.Equal(Errno.EAGAIN, s.Receive(buf, out _));
        Assert.True(net.Server.Tcp.Statistics.tcps_sig_err_nosigopt > nosig);
        Assert.Equal(0, net.Server.Tcp.Statistics.tcps_rcvbyte);
    }

    [Fact]
    public void WithoutAKeyNothingIsSentAndTheFailureIsCounted()
    {
        var net = new TcpPair();
        var clientSent = 0;
        net.ClientLink.Drop = p =>
        {
            clientSent += TrySegment(p, out _, out _, out _) ? 1 : 0;
            return false;
        };
        _ = SignedListener(net);
        var c = net.Client.OpenTcp();
        Assert.Equal(Errno.None, c.SetOption(TcpSocketOption.TCP_MD5SIG, 1));
        c.Connect(new InetEndpoint(TcpPair.ServerAddress, 179));
        net.Loop.RunFor(Nanos.FromSeconds(5));
        Assert.Equal(0, clientSent);
        Assert.True(net.Client.Tcp.Statistics.tcps_sig_err_buildsig >= 1);
    }

    [Fact]
    public void TsharkDecodesTheSignatureOption()
    {
        var tshark = Tshark.Find(output);
        if (tshark is null)
        {
            return;
        }

        var net = new TcpPair();
        AddKeys(net.Client, Secret, Secret);
        AddKeys(net.Server, Secret, Secret);
        using var ms = new MemoryStream();
        var pcap = new PcapWriter(ms, LinkType.Ethernet);
        bool Write(Packet p)
        {
            pcap.Write(net.Loop.Now, p.Data);
            return false;
        }

        net.ClientLink.Drop = Write;
        net.ServerLink.Drop = Write;
        var listener = SignedListener(net);
        _ = net.Establish(listener, sock => Assert.Equal(Errno.None, sock.SetOption(TcpSocketOption.TCP_MD5SIG, 1)));
        var path = Path.Combine(Path.GetTempPath(), $"sluice-md5-{Guid.NewGuid():N}.pcap");
        try
        {
            File.WriteAllBytes(path, ms.ToArray());
            var psi = new ProcessStartInfo(tshark, ["-r", path, "-Y", "tcp", "-T", "fields", "-e", "tcp.flags.str", "-e", "tcp.option_kind", "-e", "tcp.option_len"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEnd();
            var stderr = p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(60_000));
            Assert.True(p.ExitCode == 0, stderr);
            output.WriteLine(stdout);
            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(3, lines.Length); // SYN, SYN-ACK, ACK
            foreach (var line in lines)
            {
                // tcp.option_kind lists NOPs too, tcp.option_len only options with a length: the signature comes last
                // (nop,nop,md5 after the timestamps, as tcp_addoptions places it) with length 18.
                var fields = line.Split('\t');
                Assert.Equal("19", fields[1].Split(',')[^1]);
                Assert.Equal("1,1,19", string.Join(',', fields[1].Split(',')[^3..]));
                Assert.Equal("18", fields[2].Split(',')[^1]);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
