using System.Buffers.Binary;
using Sluice.Stack;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Pf.Tests.Engine;

/// <summary><c>synproxy state</c> (pf_synproxy) with the stack's real TCP on both ends.</summary>
public sealed class PfSynproxyTests
{
    private const string Conf = "pass out all\npass in on $ext_if proto tcp to port 22 synproxy state\n";

    internal static byte[] Bytes(int n, int seed) => [.. Enumerable.Range(0, n).Select(i => (byte)((i * 31) + seed))];

    internal static TcpSocket Listener(NetStack s, bool v6 = false)
    {
        var l = s.OpenTcp(v6);
        Assert.Equal(Errno.None, v6 ? l.Bind(IPv6Address.Any, 22) : l.Bind(IPv4Address.Any, 22));
        Assert.Equal(Errno.None, l.Listen(16));
        return l;
    }

    internal static byte[] Pump(PfNet net, TcpSocket from, TcpSocket to, byte[] data)
    {
        var got = new List<byte>();
        var sent = 0;
        var buf = new byte[65536];
        for (var i = 0; i < 400 && got.Count < data.Length; i++)
        {
            if (sent < data.Length && from.Send(data.AsSpan(sent), out var n) == Errno.None)
            {
                sent += n;
            }

            net.Loop.RunFor(Nanos.PerSecond / 20);
            while (to.Receive(buf, out var r) == Errno.None && r > 0)
            {
                got.AddRange(buf.AsSpan(0, r));
            }
        }

        return [.. got];
    }

    [Fact]
    public void AConnectionThroughSynproxyCarriesDataBothWaysByteExact()
    {
        var net = new PfNet();
        var pf = net.Load(Conf);
        using var listener = Listener(net.Lan);
        var client = net.Wan.OpenTcp();
        Assert.Equal(Errno.EINPROGRESS, client.Connect(new InetEndpoint(PfNet.V4("10.0.0.2"), 22)));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(TcpState.Established, client.State);
        Assert.Equal(Errno.None, listener.TryAccept(out var server));
        Assert.NotNull(server);
        Assert.Equal(TcpState.Established, server!.State);
        Assert.True(pf.Engine.Counters[(int)Sluice.Pf.Engine.PfReason.Synproxy] >= 3); // SYN, ACK and the server's SYN-ACK

        var up = Bytes(100_000, 1);
        Assert.Equal(up, Pump(net, client, server, up));
        var down = Bytes(150_000, 7);
        Assert.Equal(down, Pump(net, server, client, down));
        Assert.Contains("ESTABLISHED:ESTABLISHED", pf.Engine.FormatStates());
        client.Dispose();
        server.Dispose();
    }

    [Fact]
    public void SynproxyWorksForIPv6()
    {
        var net = new PfNet();
        var pf = net.Load(Conf);
        using var listener = Listener(net.Lan, v6: true);
        var client = net.Wan.OpenTcp(true);
        Assert.Equal(Errno.EINPROGRESS, client.Connect(new InetEndpoint(PfNet.V6("2001:db8:1::2"), 22)));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(TcpState.Established, client.State);
        Assert.Equal(Errno.None, listener.TryAccept(out var server));
        Assert.True(pf.Engine.Counters[(int)Sluice.Pf.Engine.PfReason.Synproxy] >= 3);
        var up = Bytes(50_000, 3);
        Assert.Equal(up, Pump(net, client, server!, up));
        var down = Bytes(70_000, 5);
        Assert.Equal(down, Pump(net, server!, client, down));
        client.Dispose();
        server!.Dispose();
    }

    [Fact]
    public void TheServerSeesPfsIsnNotTheClients()
    {
        // The server's SYN comes from pf: another ISN than the client chose, and only an MSS option.
        var net = new PfNet();
        net.Load(Conf);
        var log = new FrameLog();
        net.LanIf.AddTap(log);
        var wanLog = new FrameLog();
        net.WanIf.AddTap(wanLog);
        using var listener = Listener(net.Lan);
        var client = net.Wan.OpenTcp();
        client.Connect(new InetEndpoint(PfNet.V4("10.0.0.2"), 22));
        net.Loop.RunFor(Nanos.PerSecond);
        static bool IsSyn(byte[] f) => f.Length >= 54 && f[23] == 6 && (f[47] & 0x12) == 0x02;
        var clientSyn = wanLog.Frames.First(f => f.Outbound && IsSyn(f.Frame)).Frame;
        var serverSyn = log.Frames.Single(f => !f.Outbound && IsSyn(f.Frame)).Frame;
        Assert.NotEqual(BinaryPrimitives.ReadUInt32BigEndian(clientSyn.AsSpan(38)), BinaryPrimitives.ReadUInt32BigEndian(serverSyn.AsSpan(38)));
        Assert.Equal(24, (serverSyn[46] >> 4) * 4);
        Assert.Equal(2, serverSyn[54]);
        Assert.Equal(1460, BinaryPrimitives.ReadUInt16BigEndian(serverSyn.AsSpan(56)));
        client.Dispose();
    }

    internal static void SpoofedSyn(PfNet net, int i)
    {
        var p = net.Loop.Pool.Rent(40);
        var d = p.Data;
        d.Clear();
        d[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(d[2..], 40);
        d[8] = 64;
        d[9] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(d[12..], 0xC6336400u + (uint)(i % 250) + 1); // 198.51.100.x
        PfNet.V4("10.0.0.2").WriteTo(d[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(d[20..], (ushort)(10000 + i));
        BinaryPrimitives.WriteUInt16BigEndian(d[22..], 22);
        BinaryPrimitives.WriteUInt32BigEndian(d[24..], (uint)(i * 7919));
        d[32] = 5 << 4;
        d[33] = 0x02;
        BinaryPrimitives.WriteUInt16BigEndian(d[34..], 65535);
        var ip = IPv4Packet.CreateUnchecked(d);
        ip.FillChecksum();
        uint sum = 0;
        for (var k = 12; k < 20; k += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(d[k..]);
        }

        sum += 6 + 20;
        for (var k = 20; k < 40; k += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(d[k..]);
        }

        while (sum > 0xffff)
        {
            sum = (sum & 0xffff) + (sum >> 16);
        }

        BinaryPrimitives.WriteUInt16BigEndian(d[36..], (ushort)~sum);
        Assert.Equal(Errno.None, net.Wan.OutputIPv4Raw(p));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SpoofedSynsNeverReachTheServer(bool synproxy)
    {
        var net = new PfNet();
        Assert.True(net.Wan.TryAddRoute(PfNet.V4("0.0.0.0"), 0, PfNet.V4("192.0.2.1"), out _));
        var pf = net.Load(synproxy ? Conf : "pass out all\npass in on $ext_if proto tcp to port 22 keep state\n");
        using var listener = Listener(net.Lan);
        for (var i = 0; i < 200; i++)
        {
            SpoofedSyn(net, i);
            net.Loop.RunFor(Nanos.PerSecond / 100); // a paced flood: no queue on the way drops any
        }

        net.Loop.RunFor(2 * Nanos.PerSecond);
        var sc = net.Lan.Tcp.Statistics.tcps_sc_added;
        if (synproxy)
        {
            Assert.Equal(0, sc);
            Assert.NotEqual(Errno.None, listener.TryAccept(out _));
            Assert.Equal(200, pf.Engine.StateCount);
            Assert.Contains("PROXY:SRC", pf.Engine.FormatStates());
        }
        else
        {
            Assert.True(sc > 0); // the control: without synproxy the flood reaches the server's SYN cache
        }
    }
}
