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

    private sealed record Outcome(
        long Elapsed, int SendBuffer, int ReceiveBuffer, uint LargestWindow, bool Intact, long ClientSynRtt = 0, long ServerSynRtt = 0);

    private static Outcome Run(
        string block, Action<NetStack>? sysctls = null, Action<TcpSocket>? sender = null, Action<TcpSocket>? receiver = null,
        long startAt = Nanos.PerSecond)
    {
        var net = new TcpPair(block, oneWayDelayNs: Rtt / 2);
        sysctls?.Invoke(net.Client);
        sysctls?.Invoke(net.Server);

        // Static ARP entries: the SYN leaves when TCP sends it, at startAt, with no address resolution before it.
        var clientIf = net.Client.FindInterface("epair0a")!;
        var serverIf = net.Server.FindInterface("epair0b")!;
        net.Client.Arp.AddStatic(clientIf, TcpPair.ServerAddress, serverIf.HardwareAddress);
        net.Server.Arp.AddStatic(serverIf, TcpPair.ClientAddress, clientIf.HardwareAddress);
        net.Loop.RunFor(startAt);
        var listener = net.Listen();
        sender?.Invoke(listener); // accepted sockets inherit the listener's buffer settings (sonewconn)
        var (client, server) = net.Establish(listener, receiver);
        var clientSynRtt = client.ControlBlock!.SmoothedRtt; // sampled from the SYN / SYN-ACK alone so far
        var serverSynRtt = server.ControlBlock!.SmoothedRtt;
        var data = TcpPair.Pattern(FourMegabytes);
        var start = net.Loop.Now;
        var got = net.Transfer(server, client, data);
        var elapsed = net.Loop.Now - start;
        Assert.Equal(Errno.None, server.GetOption(TcpSocketOption.SO_SNDBUF, out var sendBuffer));
        Assert.Equal(Errno.None, client.GetOption(TcpSocketOption.SO_RCVBUF, out var receiveBuffer));
        var window = server.ControlBlock!.MaxSndWnd; // the largest window the receiver advertised (max_sndwnd)
        return new Outcome(elapsed, sendBuffer, receiveBuffer, window, got.AsSpan().SequenceEqual(data), clientSynRtt, serverSynRtt);
    }

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void ServerTimesTheHandshakeAckFromItsTimestampEcho(string block)
    {
        // tcp_do_segment: the ACK that completes a passive open is timed from to_tsecr, the echo of the SYN-ACK's TSval.
        var run = Run(block, AutotuningOff);
        Assert.Equal(Rtt, run.ClientSynRtt);
        Assert.Equal(Rtt, run.ServerSynRtt);
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
        // rack's receive measurement lasts sRTT(µs)/64 ms (see RackGrowsTheReceiveBufferOncePerSrttInMicrosecondsOver64Ms).
        var receiveGrowth = block == "rack" ? 1 : 4;
        Assert.True(tuned.ReceiveBuffer > receiveGrowth * fixedSize.ReceiveBuffer, $"receive buffer {tuned.ReceiveBuffer}");
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

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void AConnectionOpenedAtVirtualTimeZeroSamplesItsSynRttAndGrowsItsReceiveBufferAsOneOpenedLater(string block)
    {
        // Virtual time starts at 0, which FreeBSD's t_rtttime and rfbuf_ts use to mean "nothing measured": a SYN sent at
        // t = 0 must still be timed, and the receive-buffer measurement started at t = 0 must still count.
        var atZero = Run(block, startAt: 0);
        var later = Run(block, startAt: Nanos.PerSecond);
        output.WriteLine($"{block}: at 0 {atZero}, at 1 s {later}");

        Assert.True(atZero.Intact);
        Assert.InRange(atZero.ClientSynRtt, Rtt, Rtt + Nanos.PerMillisecond);
        Assert.True(atZero.ReceiveBuffer > 65536 + 1460, $"receive buffer {atZero.ReceiveBuffer}");
        Assert.Equal(later, atZero);
    }

    [Fact]
    public void RackGrowsTheReceiveBufferOncePerSrttInMicrosecondsOver64Ms()
    {
        // rack keeps t_srtt in µs and tcp_autorcvbuf compares (t_srtt >> TCP_RTT_SHIFT) / 2 with elapsed ms: with a 100 ms
        // sRTT a measurement lasts 100000 / 32 / 2 = 1562 ms, so a 4 MB transfer sees few 1.5x steps; freebsd's lasts 50 ms.
        var rack = Run("rack");
        var freebsd = Run("freebsd");
        output.WriteLine($"rack {rack}, freebsd {freebsd}");

        var measurement = Rtt / Nanos.PerMicrosecond / 32 / 2 * Nanos.PerMillisecond;
        var steps = 1 + (int)(rack.Elapsed / measurement);
        Assert.InRange(rack.ReceiveBuffer, 65536 + 1460 + 1, (int)(66576 * Math.Pow(1.5, steps)));
        Assert.True(freebsd.ReceiveBuffer > 4 * rack.ReceiveBuffer, $"freebsd {freebsd.ReceiveBuffer}, rack {rack.ReceiveBuffer}");
    }
}
