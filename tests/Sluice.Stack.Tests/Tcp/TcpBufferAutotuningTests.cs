using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Xunit;
using Xunit.Abstractions;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>
/// Socket buffer autotuning (tcp_sndbuf_autoscale, rack_sndbuf_autoscale, tcp_autorcvbuf): a bulk transfer over a long
/// path grows the sender's send buffer and the receiver's receive buffer (and with it the advertised window), unless the
/// application set the size or the sysctls say otherwise.
/// </summary>
public sealed class TcpBufferAutotuningTests(ITestOutputHelper output)
{
    private const int FourMegabytes = 4 << 20;
    private static readonly long Rtt = 100 * Nanos.PerMillisecond;

    private sealed record Outcome(long Elapsed, int SendBuffer, int ReceiveBuffer, uint LargestWindow, bool Intact);

    private static Outcome Run(string block, Action<NetStack>? sysctls = null, Action<TcpSocket>? sender = null, Action<TcpSocket>? receiver = null)
    {
        var net = new TcpPair(block, oneWayDelayNs: Rtt / 2);
        sysctls?.Invoke(net.Client);
        sysctls?.Invoke(net.Server);
        // Start off time zero: the client's RTT sample from its SYN (which tcp_autorcvbuf needs) is taken only for a SYN
        // sent at a non-zero time, and tcp_ts_getticks() = 0 means "no measurement" to the receive side.
        net.Loop.RunFor(Nanos.PerSecond);
        var listener = net.Listen();
        sender?.Invoke(listener); // accepted sockets inherit the listener's buffer settings (sonewconn)
        var (client, server) = net.Establish(listener, receiver);
        var data = TcpPair.Pattern(FourMegabytes);
        var start = net.Loop.Now;
        var got = net.Transfer(server, client, data);
        var elapsed = net.Loop.Now - start;
        Assert.Equal(Errno.None, server.GetOption(TcpSocketOption.SO_SNDBUF, out var sendBuffer));
        Assert.Equal(Errno.None, client.GetOption(TcpSocketOption.SO_RCVBUF, out var receiveBuffer));
        var window = server.ControlBlock!.MaxSndWnd; // the largest window the receiver advertised (max_sndwnd)
        return new Outcome(elapsed, sendBuffer, receiveBuffer, window, got.AsSpan().SequenceEqual(data));
    }

    private static void AutotuningOff(NetStack stack)
    {
        Assert.True(stack.Sysctl.TrySet("net.inet.tcp.sendbuf_auto", "0").Succeeded);
        Assert.True(stack.Sysctl.TrySet("net.inet.tcp.recvbuf_auto", "0").Succeeded);
    }

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void FourMegabytesOver100MsGrowBothBuffersAndTakeFewerRoundTripsThanFixedBuffers(string block)
    {
        var tuned = Run(block);
        var fixedSize = Run(block, AutotuningOff);

        Assert.True(tuned.Intact);
        Assert.True(fixedSize.Intact);

        // Fixed: the buffers keep their initial sizes (net.inet.tcp.sendspace / recvspace, rounded to whole segments by
        // tcp_mss), so at most one send buffer crosses the path per round trip.
        Assert.InRange(fixedSize.SendBuffer, 32768, 32768 + 1460);
        Assert.InRange(fixedSize.ReceiveBuffer, 65536, 65536 + 1460);

        // Tuned: both buffers grew, and the receiver advertised a window beyond what the fixed buffer could offer.
        Assert.True(tuned.SendBuffer >= 4 * fixedSize.SendBuffer, $"send buffer {tuned.SendBuffer}");
        Assert.True(tuned.ReceiveBuffer >= 4 * fixedSize.ReceiveBuffer, $"receive buffer {tuned.ReceiveBuffer}");
        Assert.True(tuned.LargestWindow > fixedSize.ReceiveBuffer, $"largest window {tuned.LargestWindow}");
        Assert.True(fixedSize.LargestWindow <= (uint)fixedSize.ReceiveBuffer);

        output.WriteLine($"{block}: tuned {tuned}, fixed {fixedSize}");
        var tunedRoundTrips = tuned.Elapsed / Rtt;
        var fixedRoundTrips = fixedSize.Elapsed / Rtt;
        Assert.True(tunedRoundTrips < fixedRoundTrips, $"{tunedRoundTrips} round trips tuned, {fixedRoundTrips} fixed");
    }

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void ExplicitSoSndbufAndSoRcvbufKeepTheirSizes(string block)
    {
        var outcome = Run(
            block,
            sender: l => Assert.Equal(Errno.None, l.SetOption(TcpSocketOption.SO_SNDBUF, 32768)),
            receiver: c => Assert.Equal(Errno.None, c.SetOption(TcpSocketOption.SO_RCVBUF, 65536)));

        Assert.True(outcome.Intact);
        Assert.InRange(outcome.SendBuffer, 32768, 32768 + 1460);
        Assert.InRange(outcome.ReceiveBuffer, 65536, 65536 + 1460);
        Assert.True(outcome.LargestWindow <= (uint)outcome.ReceiveBuffer);
    }

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void TheMaxSysctlsCapTheGrowth(string block)
    {
        var outcome = Run(block, stack =>
        {
            Assert.True(stack.Sysctl.TrySet("net.inet.tcp.sendbuf_max", "65536").Succeeded);
            Assert.True(stack.Sysctl.TrySet("net.inet.tcp.recvbuf_max", "131072").Succeeded);
        });

        Assert.True(outcome.Intact);
        Assert.Equal(65536, outcome.SendBuffer);
        Assert.Equal(131072, outcome.ReceiveBuffer);
    }
}
