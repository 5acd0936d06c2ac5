using Sluice.Interop.Tests.Infrastructure;
using Sluice.Stack.Links;

namespace Sluice.Interop.Tests;

/// <summary>An AF_PACKET link on one end of a veth pair whose other end sits in a fresh namespace.</summary>
public sealed class AfPacketLinkTests(ITestOutputHelper output)
{
    [InteropFact]
    public async Task ArpRequestFromTheNamespaceArrivesAndReplyGoesBack()
    {
        using var ns = NetNamespace.Create(output);
        var outer = NetNamespace.NewDeviceName("sla");
        var inner = NetNamespace.NewDeviceName("slb");
        Command.Run("ip", ["link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns.Name], log: output).EnsureSuccess();
        try
        {
            // The outer end lives in this process's namespace: keep that host's own ARP and IPv6 off it so that
            // only the link answers (the host may well own 192.0.2.2 on another interface).
            Command.Run("sysctl", ["-qw", $"net.ipv6.conf.{outer}.disable_ipv6=1"], log: output);
            Command.Run("ip", ["link", "set", outer, "arp", "off", "up"], log: output).EnsureSuccess();
            ns.ConfigureLink(inner, "192.0.2.1/24", ipv6: null);

            using var loop = new RealTimeLoop(TimeSpan.FromSeconds(60));
            var recorder = new FrameRecorder();
            using var link = AfPacketLink.Open(outer, loop.Loop);
            link.Attach(recorder);
            loop.Start();

            var ping = ns.ExecAsync(TimeSpan.FromSeconds(10), "ping", "-c", "1", "-W", "3", "192.0.2.2");
            var request = await recorder.WaitForAsync(TapLinkTests.IsArpRequestFor192_0_2_2, TimeSpan.FromSeconds(8));
            var reply = TapLinkTests.BuildArpReply(request[22..28]);
            await loop.InvokeAsync(() => link.Transmit(loop.Loop.Pool.RentCopy(reply)));
            await ping;

            var neighbours = ns.Exec("ip", "neigh", "show", "192.0.2.2").EnsureSuccess();
            Assert.Contains("lladdr 02:53:4c:00:00:02", neighbours.Stdout, StringComparison.Ordinal);
            Assert.Equal(1, link.Transmitted);

            // The link's own transmission is not received back.
            Assert.DoesNotContain(recorder.Frames, f => f.Length >= 22 && f[20] == 0 && f[21] == 2);
        }
        finally
        {
            Command.Run("ip", ["link", "delete", outer], log: output);
        }
    }
}
