using System.Security.Cryptography;
using Sluice.Cli;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;

namespace Sluice.Ipfw.Tests;

public sealed class EmulatedWanTests
{
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
        var start = wan.Now;
        var body = wan.Run(client.GetByteArrayAsync(new Uri($"http://{EmulatedWan.ServerAddress}/small")), TimeSpan.FromSeconds(60));
        var elapsed = wan.Now - start;
        Assert.Equal(SHA256.HashData(Expected(1024)), SHA256.HashData(body));
        // Handshake (one 200 ms round trip) then request and response (another): at least 400 ms.
        // (No upper bound: while HttpClient's continuations run on the thread pool, an idle loop may step virtual time
        // ahead in 10 ms increments, so the total depends on how busy the machine is.)
        Assert.True(elapsed >= 400 * Nanos.PerMillisecond, $"elapsed {elapsed / 1e6} ms");
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
