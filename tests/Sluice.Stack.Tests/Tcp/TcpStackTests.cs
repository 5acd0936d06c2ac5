using Sluice.Stack.Sockets;
using Sluice.Stack.Sysctl;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;

namespace Sluice.Stack.Tests.Tcp;

public sealed class TcpStackTests
{
    [Fact]
    public void FunctionsAvailableUsesFreeBsdTableAndDefaultIsSettable()
    {
        var net = new TcpPair();
        var tree = net.Server.Sysctl;
        Assert.Equal(
            "\nStack                           D Alias                            PCB count\n" +
            "freebsd                         * freebsd                          0\n" +
            "rack                              rack                             0\n",
            tree.Find("net.inet.tcp.functions_available")!.FormatValue());
        Assert.Equal("freebsd", tree.Find("net.inet.tcp.functions_default")!.FormatValue());
        Assert.True(tree.TrySet("net.inet.tcp.functions_default", "rack").Succeeded);
        Assert.False(tree.TrySet("net.inet.tcp.functions_default", "bbr").Succeeded);
        Assert.Equal("rack", tree.Find("net.inet.tcp.functions_default")!.FormatValue());
        var listener = net.Listen();
        var (_, s) = net.Establish(listener);
        Assert.Equal("rack", s.FunctionBlockName);
        Assert.Contains("rack                            * rack                             1\n", tree.Find("net.inet.tcp.functions_available")!.FormatValue());
    }

    [Fact]
    public void TcpSysctlsHaveFreeBsdDefaults()
    {
        var tree = new TcpPair().Client.Sysctl;
        string V(string n) => tree.Find(n)!.FormatValue();
        Assert.Equal("536", V("net.inet.tcp.mssdflt"));
        Assert.Equal("40", V("net.inet.tcp.delacktime"));
        Assert.Equal("30000", V("net.inet.tcp.msl"));
        Assert.Equal("30", V("net.inet.tcp.rexmit_min"));
        Assert.Equal("1000", V("net.inet.tcp.rexmit_initial"));
        Assert.Equal("newreno", V("net.inet.tcp.cc.algorithm"));
        Assert.Equal("newreno, cubic", V("net.inet.tcp.cc.available"));
        Assert.True(tree.TrySet("net.inet.tcp.cc.algorithm", "cubic").Succeeded);
        Assert.Equal(SysctlSetStatus.InvalidValue, tree.TrySet("net.inet.tcp.cc.algorithm", "vegas").Status);
        foreach (var n in new[] { "net.inet.tcp.sendspace", "net.inet.tcp.recvspace", "net.inet.tcp.keepidle", "net.inet.tcp.keepintvl", "net.inet.tcp.keepcnt", "net.inet.tcp.keepinit", "net.inet.tcp.delayed_ack", "net.inet.tcp.rfc1323", "net.inet.tcp.sack.enable", "net.inet.tcp.syncookies", "net.inet.tcp.ecn.enable" })
        {
            Assert.NotNull(tree.Find(n));
        }
    }

    [Fact]
    public void FunctionBlockIsSwitchablePerSocketBeforeDataOnly()
    {
        var net = new TcpPair("freebsd", oneWayDelayNs: Nanos.FromMilliseconds(5));
        var listener = net.Listen();
        var c0 = net.Client.OpenTcp();
        Assert.Equal(Errno.ENOENT, c0.SetFunctionBlock("bbr"));
        var (c, s) = net.Establish(listener, x => Assert.Equal(Errno.None, x.SetFunctionBlock("rack")));
        Assert.Equal("rack", c.FunctionBlockName);
        Assert.Equal("freebsd", s.FunctionBlockName);
        Assert.Equal(Errno.None, s.SetFunctionBlock("rack")); // established and idle: hand-off allowed
        Assert.Equal("rack", s.FunctionBlockName);
        var sent = 0;
        var data = TcpPair.Pattern(200_000);
        while (c.Send(data.AsSpan(sent), out var n) == Errno.None)
        {
            sent += n;
        }

        Assert.Equal(Errno.EINVAL, c.SetFunctionBlock("freebsd")); // data in flight: refused
        Assert.Equal("rack", c.FunctionBlockName);
    }

    [Fact]
    public void ConnectionListShowsEndpointsStatesAndQueues()
    {
        var net = new TcpPair();
        var listener = net.Listen(8080);
        var (c, s) = net.Establish(listener);
        c.Send(new byte[1000], out _);
        net.Loop.RunFor(Nanos.FromMilliseconds(10));
        var rows = net.Server.Tcp.Connections();
        Assert.Contains(rows, r => r.State == TcpState.Listen && r.Local.Port == 8080);
        var est = Assert.Single(rows, r => r.State == TcpState.Established);
        Assert.Equal(c.LocalEndpoint.Port, est.Foreign.Port);
        Assert.Equal(1000, est.ReceiveQueue);
        Assert.Equal(1000, s.Available);
    }

    [Fact]
    public void StreamAdapterWorksOnVirtualTime()
    {
        var net = new TcpPair(oneWayDelayNs: Nanos.FromMilliseconds(2));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        using var client = new TcpStream(c, net.Loop);
        using var server = new TcpStream(s, net.Loop);
        var data = TcpPair.Pattern(300_000);
        var write = client.WriteAsync(data).AsTask();
        var received = new MemoryStream();
        var buffer = new byte[8192];
        while (received.Length < data.Length)
        {
            var read = server.ReadAsync(buffer).AsTask();
            Assert.True(net.Loop.RunUntil(() => read.IsCompleted, 60 * Nanos.PerSecond));
            Assert.True(read.Result > 0);
            received.Write(buffer, 0, read.Result);
        }

        Assert.True(net.Loop.RunUntil(() => write.IsCompleted, 10 * Nanos.PerSecond));
        Assert.True(data.AsSpan().SequenceEqual(received.ToArray()));
        client.ShutdownWrite();
        var eof = server.ReadAsync(buffer).AsTask();
        Assert.True(net.Loop.RunUntil(() => eof.IsCompleted, 10 * Nanos.PerSecond));
        Assert.Equal(0, eof.Result);
    }

    [Fact]
    public void CountersFollowTcpstatNames()
    {
        var names = new TcpStatistics().Enumerate().Select(x => x.Name).ToList();
        foreach (var n in new[] { "tcps_sndtotal", "tcps_sndrexmitpack", "tcps_rcvtotal", "tcps_connattempt", "tcps_accepts", "tcps_connects", "tcps_drops", "tcps_sc_added", "tcps_sc_sendcookie", "tcps_rcvbadsum", "tcps_rcvduppack", "tcps_rcvoopack", "rack_tlp_sent" })
        {
            Assert.Contains(n, names);
        }
    }
}
