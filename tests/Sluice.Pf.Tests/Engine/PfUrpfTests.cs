using Sluice.Stack.Sockets;
using Sluice.Wire;

namespace Sluice.Pf.Tests.Engine;

/// <summary><c>urpf-failed</c>: the route back to the source must leave through the interface the packet came in on.</summary>
public sealed class PfUrpfTests
{
    private static bool Arrives(PfNet net, string conf, bool v6, string from)
    {
        net.Load(conf);
        var sock = net.Wan.OpenUdp(v6);
        Assert.Equal(Errno.None, v6 ? sock.Bind(PfNet.V6(from), 5000) : sock.Bind(PfNet.V4(from), 5000));
        using var lanSock = PfNet.Bound(net.Lan, 7, v6);
        var to = v6 ? new InetEndpoint(PfNet.V6("2001:db8:1::2"), 7) : new InetEndpoint(PfNet.V4("10.0.0.2"), 7);
        var (got, _) = net.Udp(sock, lanSock, to, "ping");
        sock.Dispose();
        return got;
    }

    private static PfNet Spoofing()
    {
        // wan owns a lan-side address (10.0.0.77, 2001:db8:1::77) and one fw has no route to (198.51.100.7).
        var net = new PfNet();
        net.WanIf.AddAddress(PfNet.V4("10.0.0.77"), 32);
        net.WanIf.AddAddress(PfNet.V4("198.51.100.7"), 32);
        net.WanIf.AddAddress(PfNet.V6("2001:db8:1::77"), 128);
        net.Loop.RunFor(3 * Sluice.Stack.Time.Nanos.PerSecond); // DAD
        return net;
    }

    private const string Urpf = "pass all\nblock in quick from urpf-failed\n";

    [Theory]
    [InlineData(false, "192.0.2.2", true)]
    [InlineData(false, "10.0.0.77", false)]
    [InlineData(false, "198.51.100.7", false)]
    [InlineData(true, "2001:db8:2::2", true)]
    [InlineData(true, "2001:db8:1::77", false)]
    public void UrpfFailedMatchesSourcesWhoseRouteBackLeavesThroughAnotherInterface(bool v6, string from, bool expected)
    {
        Assert.True(Arrives(Spoofing(), "pass all\n", v6, from)); // without the rule every source gets through
        Assert.Equal(expected, Arrives(Spoofing(), Urpf, v6, from));
    }

    [Fact]
    public void NegatedUrpfFailedMatchesOnlySourcesThatPassTheCheck()
    {
        const string conf = "block all\npass out all\npass in quick from ! urpf-failed\n";
        Assert.True(Arrives(Spoofing(), conf, false, "192.0.2.2"));
        Assert.False(Arrives(Spoofing(), conf, false, "10.0.0.77"));
        Assert.True(Arrives(Spoofing(), conf, true, "2001:db8:2::2"));
        Assert.False(Arrives(Spoofing(), conf, true, "2001:db8:1::77"));
    }
}
