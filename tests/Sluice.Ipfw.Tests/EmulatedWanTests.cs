using System.Security.Cryptography;
using Sluice.Cli;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;

namespace Sluice.Ipfw.Tests;

public sealed class EmulatedWanTests
{
    private const int OneMegabyte = 1 << 20;

    private static byte[] Expected(int length)
    {
        var bytes = new byte[length];
        Httpd.FillGenerated(bytes, 0);
        return bytes;
    }

    [Fact]
    public void HttpClientGetAcrossA100MsWanTakesAtLeastTwoRoundTripsOfVirtualTime()
    {
        using var wan = new EmulatedWan("bw 10Mbit/s delay 100ms", "bw 10Mbit/s delay 100ms");
        Assert.Equal(0, wan.Execute("jexec server httpd -p 80 -g small:1k"));
        using var client = wan.CreateHttpClient();
        var (body, elapsed) = wan.Run(
            async () =>
            {
                var start = wan.Now;
                var bytes = await client.GetByteArrayAsync(new Uri($"http://{EmulatedWan.ServerAddress}/small"));
                return (bytes, wan.Now - start);
            },
            TimeSpan.FromSeconds(60));
        Assert.Equal(SHA256.HashData(Expected(1024)), SHA256.HashData(body));

        // Handshake (one 200 ms round trip), request and response headers (another), and the body, which httpd writes
        // after the headers and Nagle holds until they are acknowledged (a third, plus the client's 40 ms delayed
        // ACK); serialisation at 10 Mbit/s adds about a millisecond. Virtual time is exact, so the window is tight.
        Assert.InRange(elapsed, 640 * Nanos.PerMillisecond, 645 * Nanos.PerMillisecond);
    }

    [Fact]
    public void OneMegabyteOverA50MsWanTakesTheSameVirtualTimeOnEveryRunWithinTheComputedBound()
    {
        var first = GetOneMegabyte();
        var second = GetOneMegabyte();
        Assert.Equal(first, second);
        AssertWithinBound(first);

        static long GetOneMegabyte()
        {
            using var wan = new EmulatedWan("delay 50ms", "delay 50ms");
            Assert.Equal(0, wan.Execute("jexec server httpd -p 80 -g one:1m"));
            using var client = wan.CreateHttpClient();
            var (body, elapsed) = wan.Run(
                async () =>
                {
                    var start = wan.Now;
                    var bytes = await client.GetByteArrayAsync(new Uri($"http://{EmulatedWan.ServerAddress}/one"));
                    return (bytes, wan.Now - start);
                },
                TimeSpan.FromSeconds(60));
            Assert.Equal(SHA256.HashData(Expected(OneMegabyte)), SHA256.HashData(body));
            return elapsed;
        }
    }

    [Fact]
    public async Task HttpClientAwaitsOneMegabyteWithTheVirtualLoopOnADedicatedThread()
    {
        var times = new List<long>();
        for (var run = 0; run < 2; run++)
        {
            using var wan = new EmulatedWan("delay 50ms", "delay 50ms");
            Assert.Equal(0, wan.Execute("jexec server httpd -p 80 -g one:1m"));
            using var client = wan.CreateHttpClient();
            using var stop = new CancellationTokenSource();
            var thread = new Thread(() => wan.Loop.Run(stop.Token)) { IsBackground = true, Name = "virtual loop" };
            thread.Start();
            try
            {
                // Time moves only while the client waits on the loop, so reading it from this thread is exact.
                var start = wan.Now;
                var body = await client.GetByteArrayAsync(new Uri($"http://{EmulatedWan.ServerAddress}/one"));
                times.Add(wan.Now - start);
                Assert.Equal(SHA256.HashData(Expected(OneMegabyte)), SHA256.HashData(body));
            }
            finally
            {
                await stop.CancelAsync();
                thread.Join();
            }
        }

        Assert.Equal(times[0], times[1]);
        AssertWithinBound(times[0]);
    }

    // 1 MiB over 50 ms each way without a bandwidth limit, so each round trip delivers one flight, as large as the smallest
    // of the congestion window, the server's send buffer and the client's advertised window allows. The handshake takes
    // one round trip and the request another, which brings the first flight; flight k arrives at the end of round trip
    // 1 + k.
    // Lower bound: slow start from the initial window (net.inet.tcp.initcwnd_segments = 10, at most 14600 bytes) at
    // most doubles the window per round trip (one delayed ACK per two segments, abc_l_var 2), so k flights carry at most
    // 14600 * (2^k - 1) bytes: 7 flights are needed (6 carry 919800 < 1 MiB), whatever the buffers.
    // Upper bound: none of the three limits grows slower than 1.5 times per round trip once the transfer runs. Slow start
    // doubles; tcp_autorcvbuf grows the receive buffer (initially 64 KB, enough for three slow-start flights) by half
    // whenever more than 3/8 of it arrived within half an RTT, which each flight here does; tcp_sndbuf_autoscale adds
    // 8 KB (net.inet.tcp.sendbuf_inc) per output pass, i.e. per ACK, about 2.8 times a flight per round trip, up to
    // 5/4 of the peer's window (the initial 32 KB send buffer is not smaller than the third flight of the 1.5 series).
    // Flights of at least 14480 * 1.5^(k-1) bytes need 9 to carry 1 MiB plus the headers (8 carry 713253 bytes), so the
    // body is in after 10 round trips; the headers, written ahead of the body, add at most the client's 40 ms delayed ACK.
    private static void AssertWithinBound(long elapsed)
    {
        const long Rtt = 100 * Nanos.PerMillisecond;
        Assert.InRange(elapsed, (1 + 7) * Rtt, ((1 + 9) * Rtt) + (40 * Nanos.PerMillisecond));
    }

    [Fact]
    public void LossIsRepairedByTcpAndTheBodyArrivesIntact()
    {
        using var wan = new EmulatedWan("bw 20Mbit/s delay 20ms plr 0.03", "bw 20Mbit/s delay 20ms plr 0.03");
        Assert.Equal(0, wan.Execute("jexec server httpd -p 80 -g big:256k"));
        using var client = wan.CreateHttpClient();
        var body = wan.Run(client.GetByteArrayAsync(new Uri($"http://{EmulatedWan.ServerAddress}/big")), TimeSpan.FromSeconds(300));
        Assert.Equal(SHA256.HashData(Expected(256 << 10)), SHA256.HashData(body));
        Assert.True(wan.Server.Tcp.Statistics.tcps_sndrexmitpack > 0, "3% loss should have forced retransmissions");
    }

    [Fact]
    public void ABadPipeConfigurationIsRefusedWithDnctlsError()
    {
        var error = Assert.Throws<ArgumentException>(() => new EmulatedWan("bw fast", "bw 1Mbit/s"));
        Assert.Contains("emulated WAN", error.Message, StringComparison.Ordinal);
    }
}
