using System.Buffers.Binary;
using System.Diagnostics;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Links;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Testing;
using Sluice.Wire;
using Xunit.Abstractions;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>TCP over UDP (net.inet.tcp.udp_tunneling_port, TCP_REMOTE_UDP_ENCAPS_PORT) between two stacks on virtual time.</summary>
public sealed class TcpOverUdpTests(ITestOutputHelper output)
{
    private const ushort TunnelPort = 9811;

    /// <summary>One captured IPv4 packet (the Ethernet header stripped).</summary>
    private sealed record Frame(byte Tos, byte Ttl, byte Protocol, byte[] Ip)
    {
        public int IpHeaderLength => (Ip[0] & 0x0f) * 4;

        public ReadOnlySpan<byte> Udp => Ip.AsSpan(IpHeaderLength);

        /// <summary>The TCP segment: after the UDP header when encapsulated.</summary>
        public ReadOnlySpan<byte> Tcp => Ip.AsSpan(IpHeaderLength + (Protocol == 17 ? 8 : 0));

        public TcpFlags Flags => (TcpFlags)Tcp[13];

        public int PayloadLength => Tcp.Length - ((Tcp[12] >> 4) * 4);
    }

    private static List<Frame> Record(ImpairedLink link, Func<Frame, bool>? drop = null)
    {
        var frames = new List<Frame>();
        link.Drop = f =>
        {
            var d = f.Data;
            if (d.Length < 34 || d[12] != 0x08 || d[13] != 0x00 || d[23] is not (6 or 17))
            {
                return false;
            }

            var frame = new Frame(d[15], d[22], d[23], d[14..].ToArray());
            frames.Add(frame);
            return drop?.Invoke(frame) == true;
        };
        return frames;
    }

    private static TcpPair TunnelingPair(ushort clientPort = TunnelPort, ushort serverPort = TunnelPort)
    {
        var net = new TcpPair(oneWayDelayNs: Nanos.FromMilliseconds(5));
        Assert.True(net.Client.Sysctl.TrySet("net.inet.tcp.udp_tunneling_port", clientPort.ToString(System.Globalization.CultureInfo.InvariantCulture)).Succeeded);
        Assert.True(net.Server.Sysctl.TrySet("net.inet.tcp.udp_tunneling_port", serverPort.ToString(System.Globalization.CultureInfo.InvariantCulture)).Succeeded);
        Assert.True(net.Client.Tcp.UdpTunnelingActive);
        Assert.True(net.Server.Tcp.UdpTunnelingActive);
        return net;
    }

    private static void Encapsulate(TcpSocket s, ushort port = TunnelPort) => Assert.Equal(Errno.None, s.SetOption(TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT, port));

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void EncapsulatedConnectionCarriesEverySegmentInUdpBothWays(string block)
    {
        var net = TunnelingPair();
        Assert.True(net.Client.Tcp.TrySetDefaultFunctionBlock(block));
        Assert.True(net.Server.Tcp.TrySetDefaultFunctionBlock(block));
        var fromClient = Record(net.ClientLink);
        var fromServer = Record(net.ServerLink);
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, sock => Encapsulate(sock));

        // The accepted connection took the port of the SYN's UDP header (the client's tunneling port).
        Assert.Equal(Errno.None, s.GetOption(TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT, out var serverSide));
        Assert.Equal(TunnelPort, serverSide);

        // MSS: 1500 - 20 (IP) - 20 (TCP) - 8 (net.inet.tcp.udp_tunneling_overhead), offered in both SYNs.
        Assert.Equal(1452, c.ControlBlock!.Mss);
        Assert.Equal(1452, s.ControlBlock!.Mss);
        var data = TcpPair.Pattern(100_000, 3);
        Assert.Equal(data, net.Transfer(c, s, data));
        var back = TcpPair.Pattern(30_000, 4);
        Assert.Equal(back, net.Transfer(s, c, back));
        net.Loop.RunFor(Nanos.PerSecond);

        Assert.NotEmpty(fromClient);
        Assert.NotEmpty(fromServer);
        foreach (var f in fromClient.Concat(fromServer))
        {
            Assert.Equal(17, f.Protocol); // not a single plain TCP segment
            Assert.Equal(TunnelPort, BinaryPrimitives.ReadUInt16BigEndian(f.Udp));
            Assert.Equal(TunnelPort, BinaryPrimitives.ReadUInt16BigEndian(f.Udp[2..]));
            Assert.Equal(f.Ip.Length - f.IpHeaderLength, BinaryPrimitives.ReadUInt16BigEndian(f.Udp[4..]));
            Assert.True(UdpPacket.TryCreate(f.Ip.AsSpan(f.IpHeaderLength), out var udp));
            Assert.True(udp.VerifyChecksumV4(IPv4Address.Read(f.Ip.AsSpan(12)), IPv4Address.Read(f.Ip.AsSpan(16))));
            Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(f.Tcp[16..])); // TCP checksum left zero, as tcp_output does
            Assert.True(f.PayloadLength <= 1452 - 12); // MSS less the timestamp option
        }

        var synOptions = fromClient[0].Tcp[20..((fromClient[0].Tcp[12] >> 4) * 4)];
        Assert.Equal(2, synOptions[0]); // MSS option first
        Assert.Equal(1452, BinaryPrimitives.ReadUInt16BigEndian(synOptions[2..]));
        Assert.Equal(fromClient.Count + fromServer.Count, net.Client.Tcp.Statistics.tcps_tunneled_pkts + net.Server.Tcp.Statistics.tcps_tunneled_pkts);
    }

    [Fact]
    public void EncapsulationPortNeedsTheSysctlARangeAndAClosedConnection()
    {
        var net = new TcpPair();
        var s = net.Client.OpenTcp();
        Assert.Equal(Errno.EINVAL, s.SetOption(TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT, TunnelPort)); // no tunneling port yet
        Assert.Equal(Errno.None, s.SetOption(TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT, 0));
        Assert.True(net.Client.Sysctl.TrySet("net.inet.tcp.udp_tunneling_port", "9811").Succeeded);
        Assert.Equal(Errno.EINVAL, s.SetOption(TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT, 65536));
        Assert.Equal(Errno.EINVAL, s.SetOption(TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT, -1));
        Assert.Equal(Errno.None, s.SetOption(TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT, 4000));
        Assert.Equal(Errno.None, s.GetOption(TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT, out var port));
        Assert.Equal(4000, port);
        Assert.Equal(Errno.EINPROGRESS, s.Connect(new InetEndpoint(TcpPair.ServerAddress, 80)));
        Assert.Equal(Errno.EINVAL, s.SetOption(TcpSocketOption.TCP_REMOTE_UDP_ENCAPS_PORT, 5000)); // tcp_default_ctloutput: only while CLOSED

        // The overhead sysctl keeps FreeBSD's bounds (TCP_TUNNELING_OVERHEAD_MIN/MAX).
        Assert.False(net.Client.Sysctl.TrySet("net.inet.tcp.udp_tunneling_overhead", "7").Succeeded);
        Assert.False(net.Client.Sysctl.TrySet("net.inet.tcp.udp_tunneling_overhead", "1025").Succeeded);

        // Port 0 closes the tunneling sockets; the UDP port is free again.
        Assert.True(net.Client.Sysctl.TrySet("net.inet.tcp.udp_tunneling_port", "0").Succeeded);
        Assert.False(net.Client.Tcp.UdpTunnelingActive);
        using var udp = net.Client.OpenUdp();
        Assert.Equal(Errno.None, udp.Bind(IPv4Address.Any, TunnelPort));
    }

    [Fact]
    public void ConnectToAClosedPortOverUdpIsRefusedWithAnEncapsulatedReset()
    {
        var net = TunnelingPair(clientPort: 9811, serverPort: 9900);
        var fromServer = Record(net.ServerLink);
        var c = net.Client.OpenTcp();
        Encapsulate(c, 9900);
        Errno? closed = null;
        c.Closed = (_, e) => closed = e;
        Assert.Equal(Errno.EINPROGRESS, c.Connect(new InetEndpoint(TcpPair.ServerAddress, 81)));
        Assert.True(net.Loop.RunUntil(() => closed is not null, 5 * Nanos.PerSecond));
        Assert.Equal(Errno.ECONNREFUSED, closed);

        // tcp_respond: the RST goes back inside UDP, from the server's tunneling port to the SYN's source port.
        var rst = Assert.Single(fromServer);
        Assert.Equal(17, rst.Protocol);
        Assert.Equal(9900, BinaryPrimitives.ReadUInt16BigEndian(rst.Udp));
        Assert.Equal(9811, BinaryPrimitives.ReadUInt16BigEndian(rst.Udp[2..]));
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, rst.Flags);
        Assert.Equal(1, net.Server.Tcp.Statistics.tcps_noport);
    }

    [Fact]
    public void PlainSegmentToAnEncapsulatedConnectionIsAnsweredWithAPlainResetAndChangesNothing()
    {
        var net = TunnelingPair();
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, sock => Encapsulate(sock));
        var fromServer = Record(net.ServerLink);

        // A plain TCP ACK with the connection's own addresses and ports, straight into the server's interface.
        var tcb = c.ControlBlock!;
        var tcp = new byte[20];
        new TcpHeader(tcb.LocalEndpoint.Port, tcb.RemoteEndpoint.Port, tcb.SndNxt, tcb.RcvNxt, TcpFlags.Ack, 65535).Emit(tcp, 0);
        TcpPacket.CreateUnchecked(tcp).FillChecksumV4(TcpPair.ClientAddress, TcpPair.ServerAddress);
        Deliver(net.Server, net.Client, IPProtocol.Tcp, TcpPair.ClientAddress, TcpPair.ServerAddress, tcp);
        net.Loop.RunFor(Nanos.FromMilliseconds(1));

        // tcp_input_with_port: t_port != port → dropwithreset, answered the way the segment came (no UDP).
        var rst = Assert.Single(fromServer);
        Assert.Equal(6, rst.Protocol);
        Assert.Equal(TcpFlags.Rst, rst.Flags);
        Assert.Equal(TcpState.Established, s.State);
        var data = TcpPair.Pattern(5000);
        Assert.Equal(data, net.Transfer(c, s, data));
    }

    [Fact]
    public void FragmentationNeededAboutATunneledSegmentLowersTheMssByTheOverhead()
    {
        var net = TunnelingPair();
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, sock => Encapsulate(sock));
        byte[]? lost = null;
        Record(net.ClientLink, f =>
        {
            // A path that loses anything above 1300 bytes; remember the first loss to quote it.
            if (f.Ip.Length <= 1300)
            {
                return false;
            }

            lost ??= f.Ip;
            return true;
        });
        var data = TcpPair.Pattern(20_000, 9);
        Assert.Equal(data.Length, c.Send(data));
        net.Loop.RunFor(Nanos.FromMilliseconds(1));
        Assert.NotNull(lost);
        var before = c.ControlBlock!.Mss;

        // The same error quoting the segment as plain TCP is not about this connection (t_port != port): ignored.
        var plainQuote = new byte[20 + 8];
        lost.AsSpan(0, 20).CopyTo(plainQuote);
        plainQuote[9] = 6;
        lost.AsSpan(28, 8).CopyTo(plainQuote.AsSpan(20));
        DeliverFragNeeded(net, plainQuote, 1300);
        Assert.Equal(before, c.ControlBlock.Mss);

        // The real one: IP header, UDP header and the start of the TCP header.
        DeliverFragNeeded(net, lost.AsSpan(0, 20 + 8 + 20).ToArray(), 1300);
        Assert.Equal(1300 - 20 - 20 - 8, c.ControlBlock.Mss);
        var received = new MemoryStream();
        var buffer = new byte[65536];
        Assert.True(net.Loop.RunUntil(
            () =>
            {
                while (s.Receive(buffer, out var n) == Errno.None && n > 0)
                {
                    received.Write(buffer, 0, n);
                }

                return received.Length >= data.Length;
            },
            10 * Nanos.PerSecond));
        Assert.Equal(data, received.ToArray());
        Assert.Equal(1, net.Client.Tcp.Statistics.tcps_mturesent);
    }

    private static void DeliverFragNeeded(TcpPair net, byte[] quoted, ushort mtu)
    {
        var icmp = new byte[8 + quoted.Length];
        icmp[0] = 3; // destination unreachable
        icmp[1] = 4; // fragmentation needed and DF set
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(6), mtu);
        quoted.CopyTo(icmp, 8);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), Checksum.Compute(icmp));
        Deliver(net.Client, net.Server, IPProtocol.Icmp, TcpPair.ServerAddress, TcpPair.ClientAddress, icmp);
        net.Loop.RunFor(Nanos.FromMilliseconds(1));
    }

    /// <summary>Hands <paramref name="to"/>'s interface an Ethernet frame from <paramref name="from"/> carrying an IPv4 packet.</summary>
    private static void Deliver(NetStack to, NetStack from, IPProtocol protocol, IPv4Address source, IPv4Address destination, byte[] payload)
    {
        var dst = Epair(to);
        var src = Epair(from);
        var frame = new byte[14 + 20 + payload.Length];
        dst.HardwareAddress.WriteTo(frame);
        src.HardwareAddress.WriteTo(frame.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0800);
        new IPv4Header(source, destination, protocol, payload.Length, 64, 0, 1).Emit(frame.AsSpan(14));
        payload.CopyTo(frame, 34);
        dst.Deliver(to.Pool.RentCopy(frame));
    }

    private static NetworkInterface Epair(NetStack stack)
    {
        foreach (var ifp in stack.Interfaces)
        {
            if (!ifp.IsLoopback)
            {
                return ifp;
            }
        }

        throw new InvalidOperationException("no epair");
    }

    [Fact]
    public void TunneledFramesDecodeInTshark()
    {
        var tshark = Tshark.Find(output);
        if (tshark is null)
        {
            return;
        }

        var net = TunnelingPair();
        using var ms = new MemoryStream();
        var capture = new PcapCapture(ms, net.Loop.Clock);
        capture.Attach(Epair(net.Client));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, sock =>
        {
            Encapsulate(sock);
            Assert.Equal(Errno.None, sock.SetOption(TcpSocketOption.IP_TOS, 0xb8));
            Assert.Equal(Errno.None, sock.SetOption(TcpSocketOption.IP_TTL, 9));
        });
        var data = TcpPair.Pattern(4000, 5);
        Assert.Equal(data, net.Transfer(c, s, data));
        net.Loop.RunFor(Nanos.PerSecond);
        capture.Dispose();
        var path = Path.Combine(Path.GetTempPath(), $"sluice-tcp-over-udp-{Guid.NewGuid():N}.pcap");
        try
        {
            File.WriteAllBytes(path, ms.ToArray());
            var psi = new ProcessStartInfo(tshark,
                ["-r", path, "-o", "udp.check_checksum:TRUE", "-Y", "udp", "-T", "fields", "-E", "separator=,",
                    "-e", "ip.src", "-e", "ip.ttl", "-e", "ip.dsfield.dscp", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.length", "-e", "ip.len", "-e", "udp.checksum.status"])
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
            Assert.True(lines.Length >= 8, stdout); // handshake, data, ACKs, FINs
            var fromClient = 0;
            foreach (var line in lines)
            {
                var f = line.Split(',');
                Assert.Equal("9811", f[3]);
                Assert.Equal("9811", f[4]);
                Assert.Equal(int.Parse(f[6], System.Globalization.CultureInfo.InvariantCulture) - 20, int.Parse(f[5], System.Globalization.CultureInfo.InvariantCulture));
                Assert.Equal("1", f[7]); // checksum status: good (0 bad, 2 unverified)
                if (f[0] == "192.0.2.1")
                {
                    fromClient++;
                    Assert.Equal("9", f[1]);
                    Assert.Equal("46", f[2]); // DSCP EF (0xb8 >> 2)
                }
            }

            Assert.True(fromClient >= 4, stdout);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
