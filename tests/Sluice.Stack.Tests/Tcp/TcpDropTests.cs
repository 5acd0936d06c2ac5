using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>net.inet.tcp.drop (<see cref="TcpStack.Drop"/>), which tcpdrop(8) uses.</summary>
public sealed class TcpDropTests
{
    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void DroppingAnEstablishedConnectionSendsResetAndAbortsBothSockets(string block)
    {
        var net = new TcpPair(block);
        var (c, s) = net.Establish(net.Listen());
        var resets = CountResets(net.ClientLink);
        Errno? client = null, server = null;
        c.Closed = (_, e) => client = e;
        s.Closed = (_, e) => server = e;

        Assert.Equal(Errno.None, net.Client.Tcp.Drop(c.ControlBlock!.LocalEndpoint, c.RemoteEndpoint!.Value));
        Assert.True(net.Loop.RunUntil(() => server is not null, Nanos.PerSecond));
        Assert.Equal(1, resets());
        Assert.Equal(Errno.ECONNABORTED, client);
        Assert.Equal(Errno.ECONNRESET, server);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Empty(net.Client.Tcp.Connections());
        Assert.Equal(1, net.Client.Tcp.Statistics.tcps_drops);
    }

    [Fact]
    public void DroppingTimeWaitRemovesItWithoutASegment()
    {
        var net = new TcpPair();
        var (c, s) = net.Establish(net.Listen());
        c.Close();
        net.Loop.RunFor(Nanos.FromMilliseconds(100));
        s.Close();
        Assert.True(net.Loop.RunUntil(() => c.State == TcpState.TimeWait, Nanos.PerSecond));
        var sent = 0;
        net.ClientLink.Drop = p =>
        {
            // Only TCP counts: the host's MLD reports (retransmitted within 3 s of the addresses) may pass meanwhile.
            var d = p.Data;
            sent += d.Length > 23 && d[12] == 0x08 && d[13] == 0x00 && d[23] == (byte)IPProtocol.Tcp ? 1 : 0;
            return false;
        };

        Assert.Equal(Errno.None, net.Client.Tcp.Drop(new InetEndpoint(TcpPair.ClientAddress, c.LocalEndpoint.Port), new InetEndpoint(TcpPair.ServerAddress, 80)));
        net.Loop.RunFor(Nanos.FromMilliseconds(100));
        Assert.Equal(0, sent);
        Assert.DoesNotContain(net.Client.Tcp.Connections(), x => x.State == TcpState.TimeWait);
        Assert.Equal(0, net.Client.Tcp.Statistics.tcps_drops);
    }

    [Fact]
    public void DroppingAListenerOrAnUnknownConnectionIsEsrch()
    {
        var net = new TcpPair();
        var listener = net.Listen();
        var (c, _) = net.Establish(listener);
        var nobody = new InetEndpoint(TcpPair.ClientAddress, 1);
        Assert.Equal(Errno.ESRCH, net.Server.Tcp.Drop(listener.LocalEndpoint, nobody));
        Assert.Equal(Errno.ESRCH, net.Client.Tcp.Drop(c.ControlBlock!.LocalEndpoint, new InetEndpoint(TcpPair.ServerAddress, 81)));
        Assert.True(listener.IsListening);
        Assert.Equal(TcpState.Established, c.State);
    }

    private static Func<int> CountResets(ImpairedLink link)
    {
        var n = 0;
        link.Drop = f =>
        {
            if (ImpairedLink.TryTcp(f, out var h, out _) && (h.Flags & TcpFlags.Rst) != 0)
            {
                n++;
            }

            return false;
        };
        return () => n;
    }
}
