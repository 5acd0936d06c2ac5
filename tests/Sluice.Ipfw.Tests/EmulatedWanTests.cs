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

    // 1 MiB over 50 ms each way without a bandwidth limit. The server may have at most its send buffer
    // (net.inet.tcp.sendspace, 32 KB; there is no buffer autotuning) unacknowledged, so each 32 KB of the response costs a
    // round trip after the first: handshake + request + 31 round trips at least. Slow start from 10 segments needs two
    // round trips to open the window to 32 KB, the response headers go ahead of the body (Nagle, 40 ms delayed ACK):
    // at most 5 round trips more.
    private static void AssertWithinBound(long elapsed)
    {
        const long Rtt = 100 * Nanos.PerMillisecond;
        const int SendSpace = 32768;
        var lower = (2 + ((OneMegabyte + SendSpace - 1) / SendSpace) - 1) * Rtt;
        Assert.InRange(elapsed, lower, lower + (5 * Rtt));
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
