using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tests.Tcp;

public sealed class TcpConnectionTests
{
    [Fact]
    public void ConnectToClosedPortIsRefused()
    {
        var net = new TcpPair();
        _ = net.Server.Tcp; // TCP exists on the server, but nothing listens
        var c = net.Client.OpenTcp();
        Errno? closed = null;
        c.Closed = (_, e) => closed = e;
        Assert.Equal(Errno.EINPROGRESS, c.Connect(new InetEndpoint(TcpPair.ServerAddress, 81)));
        Assert.True(net.Loop.RunUntil(() => closed is not null, 5 * Nanos.PerSecond));
        Assert.Equal(Errno.ECONNREFUSED, closed);
        Assert.Equal(Errno.ECONNREFUSED, c.Error);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(1, net.Server.Tcp.Statistics.tcps_noport);
    }

    [Fact]
    public void HalfCloseLetsThePeerKeepSending()
    {
        var net = new TcpPair(oneWayDelayNs: Nanos.FromMilliseconds(1));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        var request = TcpPair.Pattern(3000, 1);
        Assert.Equal(request, net.Transfer(c, s, request)); // client sends then shuts down writing
        net.Loop.RunFor(Nanos.FromMilliseconds(50));
        Assert.Equal(TcpState.CloseWait, s.State);
        Assert.Equal(TcpState.FinWait2, c.State);
        Assert.Equal(Errno.EPIPE, c.Send("x"u8, out _));
        var response = TcpPair.Pattern(50_000, 2);
        Assert.Equal(response, net.Transfer(s, c, response)); // server answers, then closes
        net.Loop.RunFor(Nanos.FromMilliseconds(100));
        Assert.Equal(TcpState.TimeWait, c.State);
        s.Close();
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(TcpState.Closed, s.State);
    }

    [Fact]
    public void LingerZeroCloseSendsResetAndPeerSeesConnReset()
    {
        var net = new TcpPair();
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        var resets = 0;
        net.ClientLink.Drop = f =>
        {
            if (ImpairedLink.TryTcp(f, out var h, out _) && (h.Flags & TcpFlags.Rst) != 0)
            {
                resets++;
            }

            return false;
        };
        Errno? peer = null;
        s.Closed = (_, e) => peer = e;
        Assert.Equal(Errno.None, c.SetOption(TcpSocketOption.SO_LINGER, 0));
        c.Close();
        Assert.True(net.Loop.RunUntil(() => peer is not null, Nanos.PerSecond));
        Assert.Equal(1, resets);
        Assert.Equal(Errno.ECONNRESET, peer);
        Assert.Equal(-(int)Errno.ECONNRESET, s.Receive(new byte[10]));
        Assert.Empty(net.Client.Tcp.Connections());
    }

    [Fact]
    public void TimeWaitLastsTwoMsl()
    {
        var net = new TcpPair();
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        c.Close();
        net.Loop.RunFor(Nanos.FromMilliseconds(10));
        Assert.Equal(TcpState.FinWait2, c.State);
        s.Close();
        net.Loop.RunFor(Nanos.FromMilliseconds(10));
        var start = net.Loop.Now;
        Assert.Contains(net.Client.Tcp.Connections(), x => x.State == TcpState.TimeWait);
        var msl = net.Client.Sysctl.Find("net.inet.tcp.msl")!.FormatValue();
        Assert.Equal("30000", msl);
        net.Loop.RunUntil(start + (59 * Nanos.PerSecond));
        Assert.Contains(net.Client.Tcp.Connections(), x => x.State == TcpState.TimeWait);
        net.Loop.RunUntil(start + (61 * Nanos.PerSecond));
        Assert.DoesNotContain(net.Client.Tcp.Connections(), x => x.State == TcpState.TimeWait);
        Assert.DoesNotContain(net.Server.Tcp.Connections(), x => x.State != TcpState.Listen);
    }

    [Fact]
    public void SynCookiesAnswerWhenTheBacklogIsFull()
    {
        var net = new TcpPair(oneWayDelayNs: Nanos.FromMilliseconds(5));
        var listener = net.Listen(backlog: 2);
        var clients = new List<TcpSocket>();
        for (var i = 0; i < 3; i++)
        {
            var c = net.Client.OpenTcp();
            Assert.Equal(Errno.EINPROGRESS, c.Connect(new InetEndpoint(TcpPair.ServerAddress, 80)));
            clients.Add(c);
        }

        Assert.True(net.Loop.RunUntil(() => clients.All(c => c.State == TcpState.Established), 5 * Nanos.PerSecond));
        net.Loop.RunFor(Nanos.FromMilliseconds(100)); // the last ACKs reach the server
        var st = net.Server.Tcp.Statistics;
        Assert.True(st.tcps_sc_added == 2, string.Join(" ", st.Enumerate().Where(x => x.Value != 0)));
        Assert.Equal(1, st.tcps_sc_sendcookie);
        Assert.Equal(1, st.tcps_sc_recvcookie);
        var accepted = new List<TcpSocket>();
        while (listener.TryAccept(out var a) == Errno.None)
        {
            accepted.Add(a!);
        }

        Assert.Equal(3, accepted.Count);
        // Every connection, cookie-born included, carries data.
        foreach (var c in clients)
        {
            var peer = accepted.Single(a => a.RemoteEndpoint!.Value.Port == c.LocalEndpoint.Port);
            var data = TcpPair.Pattern(20_000, c.LocalEndpoint.Port);
            Assert.Equal(data, net.Transfer(c, peer, data, close: false));
        }
    }

    [Fact]
    public void WindowScalingTimestampsAndSackAreNegotiated()
    {
        var net = new TcpPair();
        var listener = net.Listen();
        Assert.Equal(Errno.None, listener.SetOption(TcpSocketOption.SO_RCVBUF, 1 << 20));
        var (c, s) = net.Establish(listener, x => x.SetOption(TcpSocketOption.SO_RCVBUF, 256 * 1024));
        var ci = c.GetInfo();
        var si = s.GetInfo();
        Assert.True(ci.tcpi_options.HasFlag(TcpInfoOptions.TCPI_OPT_TIMESTAMPS));
        Assert.True(ci.tcpi_options.HasFlag(TcpInfoOptions.TCPI_OPT_WSCALE));
        Assert.True(ci.tcpi_options.HasFlag(TcpInfoOptions.TCPI_OPT_SACK));
        Assert.Equal(6, ci.tcpi_rcv_wscale);  // tcp_connect: the shift that reaches sb_max (kern.ipc.maxsockbuf, 2 MB)
        Assert.Equal(6, si.tcpi_rcv_wscale);  // syncache_add: likewise, whatever the buffer
        Assert.Equal(si.tcpi_rcv_wscale, ci.tcpi_snd_wscale);
        Assert.Equal(ci.tcpi_rcv_wscale, si.tcpi_snd_wscale);
        Assert.Equal(1460u, ci.tcpi_snd_mss); // 1500 MTU - 40
        Assert.Equal((byte)TcpState.Established, ci.tcpi_state);
        Assert.True(ci.tcpi_snd_cwnd >= 10 * 1400);

        // With rfc1323 off on one side, neither option survives.
        var net2 = new TcpPair();
        net2.Server.Sysctl.TrySet("net.inet.tcp.rfc1323", "0");
        var l2 = net2.Listen();
        var (c2, _) = net2.Establish(l2);
        var i2 = c2.GetInfo();
        Assert.False(i2.tcpi_options.HasFlag(TcpInfoOptions.TCPI_OPT_TIMESTAMPS));
        Assert.False(i2.tcpi_options.HasFlag(TcpInfoOptions.TCPI_OPT_WSCALE));
        Assert.Equal(0, i2.tcpi_snd_wscale);
    }

    [Fact]
    public void MaxSegOptionAndNoOptShapeTheHandshake()
    {
        var net = new TcpPair();
        var listener = net.Listen();
        var (c, _) = net.Establish(listener, x =>
        {
            x.SetOption(TcpSocketOption.TCP_MAXSEG, 1000);
            x.SetOption(TcpSocketOption.TCP_NOOPT, 1);
        });
        Assert.Equal(Errno.None, c.GetOption(TcpSocketOption.TCP_MAXSEG, out var mss));
        Assert.Equal(1000, mss); // ours: min(TCP_MAXSEG, the server's MSS option)
        var peer = net.Server.Tcp.Connections().Single(x => x.State == TcpState.Established);
        Assert.Equal(TcpState.Established, peer.State);
        var info = c.GetInfo();
        Assert.Equal(TcpInfoOptions.None, info.tcpi_options);
    }

    [Fact]
    public void ZeroWindowIsProbedAndTransferResumesWhenTheReaderDrains()
    {
        var net = new TcpPair(oneWayDelayNs: Nanos.FromMilliseconds(2));
        var listener = net.Listen();
        Assert.Equal(Errno.None, listener.SetOption(TcpSocketOption.SO_RCVBUF, 16384));
        var (c, s) = net.Establish(listener);
        var data = TcpPair.Pattern(100_000);
        var sent = 0;
        while (c.Send(data.AsSpan(sent), out var n) == Errno.None)
        {
            sent += n;
        }

        net.Loop.RunFor(30 * Nanos.PerSecond); // nobody reads: the window closes, the sender probes
        Assert.Equal(Errno.None, s.GetOption(TcpSocketOption.SO_RCVBUF, out var rcvbuf));
        Assert.Equal((16384 + 1459) / 1460 * 1460, rcvbuf); // tcp_mss: rounded up to whole segments
        Assert.InRange(s.Available, rcvbuf - 1460, rcvbuf); // less what receiver-side SWS avoidance keeps closed
        Assert.Equal((uint)(rcvbuf - s.Available), s.GetInfo().tcpi_rcv_space);
        Assert.True(net.Client.Tcp.Statistics.tcps_sndprobe > 0);
        Assert.NotEqual(TcpState.Closed, c.State); // the probes land in the bytes SWS avoidance keeps unadvertised
        var rest = net.Transfer(c, s, data.AsSpan(sent).ToArray(), close: true);
        // Transfer drained the stalled bytes first, then everything that remained: the whole stream, in order.
        Assert.True(data.AsSpan().SequenceEqual(rest));
    }

    [Fact]
    public void SimultaneousOpenEstablishesBothEnds()
    {
        var net = new TcpPair(oneWayDelayNs: Nanos.FromMilliseconds(5));
        var a = net.Client.OpenTcp();
        var b = net.Server.OpenTcp();
        Assert.Equal(Errno.None, a.Bind(TcpPair.ClientAddress, 5000));
        Assert.Equal(Errno.None, b.Bind(TcpPair.ServerAddress, 6000));
        // Prime ARP so both SYNs cross on the wire.
        net.Client.OpenUdp().SendTo("x"u8, new InetEndpoint(TcpPair.ServerAddress, 9));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(Errno.EINPROGRESS, a.Connect(new InetEndpoint(TcpPair.ServerAddress, 6000)));
        Assert.Equal(Errno.EINPROGRESS, b.Connect(new InetEndpoint(TcpPair.ClientAddress, 5000)));
        Assert.True(net.Loop.RunUntil(() => a.State == TcpState.Established && b.State == TcpState.Established, 10 * Nanos.PerSecond));
        var data = TcpPair.Pattern(10_000);
        Assert.Equal(data, net.Transfer(a, b, data, close: false));
    }

    [Fact]
    public void KeepaliveDropsADeadPeer()
    {
        var net = new TcpPair();
        var listener = net.Listen();
        var (c, _) = net.Establish(listener, x =>
        {
            x.SetOption(TcpSocketOption.SO_KEEPALIVE, 1);
            x.SetOption(TcpSocketOption.TCP_KEEPIDLE, 10);
            x.SetOption(TcpSocketOption.TCP_KEEPINTVL, 2);
            x.SetOption(TcpSocketOption.TCP_KEEPCNT, 3);
        });
        net.Loop.RunFor(30 * Nanos.PerSecond); // peer alive: probes are answered
        Assert.Equal(TcpState.Established, c.State);
        Assert.True(net.Client.Tcp.Statistics.tcps_keepprobe >= 1);
        net.ServerLink.Drop = _ => true; // the peer goes silent
        Errno? closed = null;
        c.Closed = (_, e) => closed = e;
        Assert.True(net.Loop.RunUntil(() => closed is not null, 60 * Nanos.PerSecond));
        Assert.Equal(Errno.ETIMEDOUT, closed);
        Assert.Equal(1, net.Client.Tcp.Statistics.tcps_keepdrops);
    }

    [Fact]
    public void RetransmissionTimeoutBacksOffExponentially()
    {
        var net = new TcpPair();
        var listener = net.Listen();
        var (c, _) = net.Establish(listener);
        var times = new List<long>();
        net.ClientLink.Drop = f =>
        {
            if (ImpairedLink.TryTcp(f, out _, out var len) && len > 0)
            {
                times.Add(net.Loop.Now);
                return true;
            }

            return false;
        };
        c.Send("lost"u8, out _);
        net.Loop.RunFor(20 * Nanos.PerSecond);
        Assert.True(times.Count >= 5);
        var gaps = times.Zip(times.Skip(1), (x, y) => y - x).ToList();
        for (var i = 1; i < gaps.Count; i++)
        {
            Assert.True(gaps[i] >= 2 * gaps[i - 1] - Nanos.FromMilliseconds(2), $"gap {i}: {gaps[i]} after {gaps[i - 1]}");
        }

        Assert.True(gaps[0] >= Nanos.FromMilliseconds(200), "rexmit_slop keeps the default stack's RTO above 200 ms");
    }
}
