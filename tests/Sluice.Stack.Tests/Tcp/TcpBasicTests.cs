using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tests.Tcp;

public sealed class TcpBasicTests
{
    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void HandshakeAndSmallTransferBothWays(string block)
    {
        var net = new TcpPair(block);
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        Assert.Equal(TcpState.Established, s.State);
        Assert.Equal(block, c.FunctionBlockName);
        Assert.Equal(block, s.FunctionBlockName);
        var hello = "hello, sluice"u8.ToArray();
        Assert.Equal(hello, net.Transfer(c, s, hello, close: false));
        var reply = "and back"u8.ToArray();
        Assert.Equal(reply, net.Transfer(s, c, reply, close: false));
        Assert.Equal(1, net.Client.Tcp.Statistics.tcps_connects);
        Assert.Equal(1, net.Server.Tcp.Statistics.tcps_accepts);
        Assert.Equal(1, net.Client.Tcp.Statistics.tcps_connattempt);
    }

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void OneMegabyteArrivesByteExact(string block)
    {
        var net = new TcpPair(block, oneWayDelayNs: Nanos.FromMilliseconds(5));
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        var data = TcpPair.Pattern(1 << 20);
        var got = net.Transfer(c, s, data);
        Assert.Equal(data.Length, got.Length);
        Assert.True(data.AsSpan().SequenceEqual(got));
        Assert.Equal(0, net.Client.Tcp.Statistics.tcps_sndrexmitpack);
    }
}
