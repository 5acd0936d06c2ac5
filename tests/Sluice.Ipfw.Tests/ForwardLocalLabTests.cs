using System.Buffers.Binary;
using System.Text;
using Sluice.Cli;
using Sluice.Stack;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Ipfw.Tests;

/// <summary>
/// ipfw <c>fwd</c> to one of the router's own addresses: a transparent proxy on r takes connections and datagrams that
/// h1 sends to h2 (203.0.113.5), sees the original destination, and answers as it (ipfw(8) "fwd", ip_input's
/// M_FASTFWD_OURS, tcp_input/udp_input's next-hop lookup).
/// </summary>
public sealed class ForwardLocalLabTests
{
    private const string V6Topology = """
        jexec h1 ifconfig epair0a inet6 2001:db8:1::2/64
        jexec r ifconfig epair0b inet6 2001:db8:1::1/64
        jexec r ifconfig epair1a inet6 2001:db8:2::1/64
        jexec h2 ifconfig epair1b inet6 2001:db8:2::5/64
        jexec h1 route add -inet6 default 2001:db8:1::1
        jexec h2 route add -inet6 default 2001:db8:2::1
        jexec r sysctl net.inet6.ip6.forwarding=1
        sleep 3

        """;

    private static Lab Run(string script)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var lab = new Lab(stdout, stderr);
        var status = lab.RunScriptText(LabFixture.Topology + script, "fwd-local.lab");
        Assert.True(status == 0, stderr.ToString() + stdout);
        return lab;
    }

    private static NetStack Stack(Lab lab, string jail) => lab.Jail(jail)!.Stack;

    /// <summary>Records, per IP packet crossing an interface, its source, destination and protocol.</summary>
    private sealed class IpTap : IFrameTap
    {
        public List<(string Source, string Destination, byte Protocol, bool Outbound, byte[] Frame)> Packets { get; } = [];

        public void OnFrame(NetworkInterface ifp, ReadOnlySpan<byte> frame, bool outbound)
        {
            if (frame.Length < 14)
            {
                return;
            }

            var type = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
            var ip = frame[14..];
            if (type == 0x0800 && ip.Length >= 20)
            {
                Packets.Add((new IPv4Address(BinaryPrimitives.ReadUInt32BigEndian(ip[12..])).ToString(),
                    new IPv4Address(BinaryPrimitives.ReadUInt32BigEndian(ip[16..])).ToString(), ip[9], outbound, frame.ToArray()));
            }
            else if (type == 0x86dd && ip.Length >= 40 && ip[6] != 58)
            {
                Packets.Add((IPv6Address.Read(ip.Slice(8, 16)).ToString(), IPv6Address.Read(ip.Slice(24, 16)).ToString(), ip[6], outbound, frame.ToArray()));
            }
        }
    }

    private static IpTap Tap(Lab lab, string jail, string ifname)
    {
        var tap = new IpTap();
        Stack(lab, jail).FindInterface(ifname)!.AddTap(tap);
        return tap;
    }

    /// <summary>Client connects to <paramref name="target"/>; the proxy listening at <paramref name="proxy"/> answers one request.</summary>
    private static (TcpSocket Client, TcpSocket Server) ProxyOneRequest(Lab lab, InetEndpoint proxy, InetEndpoint target, bool ipv6)
    {
        var listener = Stack(lab, "r").OpenTcp(ipv6);
        Assert.Equal(Errno.None, listener.Bind(proxy.Address, proxy.Port));
        Assert.Equal(Errno.None, listener.Listen(4));
        var client = Stack(lab, "h1").OpenTcp(ipv6);
        Assert.Equal(Errno.EINPROGRESS, client.Connect(target));
        TcpSocket? server = null;
        Assert.True(lab.Loop.RunUntil(() => listener.TryAccept(out server) == Errno.None, 5 * Nanos.PerSecond), "the proxy accepted nothing");
        Assert.True(lab.Loop.RunUntil(() => client.State == TcpState.Established, 5 * Nanos.PerSecond), client.State.ToString());

        client.Send("GET / HTTP/1.0\r\n\r\n"u8);
        var buffer = new byte[1024];
        var request = new StringBuilder();
        Assert.True(lab.Loop.RunUntil(() =>
        {
            while (server!.Receive(buffer) is var n and > 0)
            {
                request.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }

            return request.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal);
        }, 5 * Nanos.PerSecond), request.ToString());
        Assert.Equal("GET / HTTP/1.0\r\n\r\n", request.ToString());

        // The proxy learns where the client wanted to go from its own local address (getsockname).
        var answer = Encoding.ASCII.GetBytes($"HTTP/1.0 200 OK\r\n\r\nproxied for {server!.LocalEndpoint}\n");
        server.Send(answer);
        var reply = new StringBuilder();
        Assert.True(lab.Loop.RunUntil(() =>
        {
            while (client.Receive(buffer) is var n and > 0)
            {
                reply.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }

            return reply.Length >= answer.Length;
        }, 5 * Nanos.PerSecond), reply.ToString());
        Assert.Equal($"HTTP/1.0 200 OK\r\n\r\nproxied for {target}\n", reply.ToString());
        listener.Dispose();
        return (client, server);
    }

    [Fact]
    public void FwdToALocalPortHandsTheConnectionToTheProxyWhichSeesTheOriginalDestination()
    {
        using var lab = Run("""
            jexec r ipfw -q add 100 fwd 127.0.0.1,3128 tcp from 192.0.2.0/24 to any 80 in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any

            """);
        // A real server on h2 that must never see the connection.
        var origin = Stack(lab, "h2").OpenTcp();
        Assert.Equal(Errno.None, origin.Bind(IPv4Address.Any, 80));
        Assert.Equal(Errno.None, origin.Listen(4));
        var atClient = Tap(lab, "h1", "epair0a");
        var atOrigin = Tap(lab, "h2", "epair1b");

        var target = new InetEndpoint(new IPv4Address(203, 0, 113, 5), 80);
        var (client, server) = ProxyOneRequest(lab, new InetEndpoint(IPv4Address.Loopback, 3128), target, ipv6: false);

        Assert.Equal(target, server.LocalEndpoint);
        Assert.Equal(new InetEndpoint(new IPv4Address(192, 0, 2, 2), client.LocalEndpoint.Port), server.RemoteEndpoint);
        Assert.Equal(target, client.RemoteEndpoint);
        Assert.Equal(0, origin.PendingAccepts);
        Assert.DoesNotContain(atOrigin.Packets, p => p.Protocol == 6);
        // Everything the client received over TCP came from the original destination.
        var fromServer = atClient.Packets.Where(p => !p.Outbound && p.Protocol == 6).ToList();
        Assert.NotEmpty(fromServer);
        Assert.All(fromServer, p => Assert.Equal("203.0.113.5", p.Source));
        // Each segment from the client matched rule 100 (SYN, ACK, request, ...).
        Assert.Matches(@"00100 +[3-9]\d* +\d+ fwd 127\.0\.0\.1,3128 tcp from 192\.0\.2\.0/24 to any 80 in via epair0b", Capture(lab, "jexec r ipfw show 100"));

        // Closing works both ways through the fwd path.
        client.Close();
        server.Close();
        lab.Loop.RunFor(Nanos.PerSecond);
        Assert.True(client.State is TcpState.TimeWait or TcpState.Closed, client.State.ToString());
        Assert.True(server.State is TcpState.TimeWait or TcpState.Closed or TcpState.LastAck, server.State.ToString());
    }

    [Fact]
    public void FetchThroughAnHttpdOnTheRouterThatFwdCaptures()
    {
        // Nothing listens on h2:80, so the fetch succeeds only through the router's httpd (wildcard-bound on 8080).
        using var lab = Run("""
            jexec r httpd -p 8080 -g page:3000
            jexec r ipfw -q add 100 fwd 127.0.0.1,8080 tcp from 192.0.2.0/24 to 203.0.113.5 80 in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any
            jexec h1 fetch -o /dev/null http://203.0.113.5/page

            """);
        Assert.Equal(0, TcpStack.Attach(Stack(lab, "h2")).Statistics.tcps_accepts);
        Assert.Equal(1, TcpStack.Attach(Stack(lab, "r")).Statistics.tcps_accepts);
        Assert.Matches(@"00100 +\d+ +\d+ fwd 127\.0\.0\.1,8080 tcp from 192\.0\.2\.0/24 to 203\.0\.113\.5 80 in via epair0b", Capture(lab, "jexec r ipfw show 100"));
        // Without the rule the same fetch reaches h2, where nothing listens.
        Assert.Equal(0, lab.Execute("jexec r ipfw -q delete 100"));
        Assert.NotEqual(0, lab.Execute("jexec h1 fetch -T 3 -o /dev/null http://203.0.113.5/page"));
    }

    [Fact]
    public void FwdToARouterAddressWithoutAPortKeepsThePacketsPort()
    {
        using var lab = Run("""
            jexec r ipfw -q add 100 fwd 192.0.2.1 tcp from 192.0.2.0/24 to any 8080 in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any

            """);
        var target = new InetEndpoint(new IPv4Address(203, 0, 113, 5), 8080);
        var (_, server) = ProxyOneRequest(lab, new InetEndpoint(new IPv4Address(192, 0, 2, 1), 8080), target, ipv6: false);
        Assert.Equal(target, server.LocalEndpoint);
    }

    [Fact]
    public void FwdToLoopbackSixHandsAnIPv6ConnectionToTheProxy()
    {
        using var lab = Run(V6Topology + """
            jexec r ipfw -q add 100 fwd ::1,3128 tcp from 2001:db8:1::/64 to any 80 in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any

            """);
        var atClient = Tap(lab, "h1", "epair0a");
        var atOrigin = Tap(lab, "h2", "epair1b");
        var target = new InetEndpoint(V6("2001:db8:2::5"), 80);
        var (client, server) = ProxyOneRequest(lab, new InetEndpoint(IPv6Address.Loopback, 3128), target, ipv6: true);

        Assert.Equal(target, server.LocalEndpoint);
        Assert.Equal(new InetEndpoint(V6("2001:db8:1::2"), client.LocalEndpoint.Port), server.RemoteEndpoint);
        Assert.DoesNotContain(atOrigin.Packets, p => p.Protocol == 6);
        var fromServer = atClient.Packets.Where(p => !p.Outbound && p.Protocol == 6).ToList();
        Assert.NotEmpty(fromServer);
        Assert.All(fromServer, p => Assert.Equal("2001:db8:2::5", p.Source));
    }

    [Fact]
    public void FwdOfUdpReachesTheProxySocketWhichAnswersAsTheOriginalDestination()
    {
        using var lab = Run("""
            jexec r ipfw -q add 100 fwd 127.0.0.1,5353 udp from 192.0.2.0/24 to any 53 in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any

            """);
        var r = Stack(lab, "r");
        var origin = Stack(lab, "h2").OpenUdp();
        Assert.Equal(Errno.None, origin.Bind(IPv4Address.Any, 53));
        var proxy = r.OpenUdp();
        Assert.Equal(Errno.None, proxy.Bind(IPv4Address.Loopback, 5353));
        var client = Stack(lab, "h1").OpenUdp();
        var target = new InetEndpoint(new IPv4Address(203, 0, 113, 5), 53);
        Assert.Equal(Errno.None, client.Connect(target));
        Assert.Equal(Errno.None, client.Send("query"u8));

        var buffer = new byte[512];
        int length = 0;
        InetEndpoint from = default, original = default;
        Assert.True(lab.Loop.RunUntil(() => proxy.TryReceive(buffer, out length, out from, out original), 5 * Nanos.PerSecond), "the proxy got nothing");
        Assert.Equal("query", Encoding.ASCII.GetString(buffer, 0, length));
        Assert.Equal(client.LocalEndpoint with { Address = new IPv4Address(192, 0, 2, 2) }, from);
        Assert.Equal(target, original); // IP_ORIGDSTADDR
        Assert.Equal(0, origin.Available);

        // IP_BINDANY: the answer leaves from the original destination, so the connected client takes it.
        var answer = r.OpenUdp();
        Assert.Equal(Errno.EADDRNOTAVAIL, answer.Bind(original.Address, original.Port));
        answer.BindAny = true;
        Assert.Equal(Errno.None, answer.Bind(original.Address, original.Port));
        Assert.Equal(Errno.None, answer.SendTo("answer"u8, from));
        InetEndpoint replyFrom = default;
        Assert.True(lab.Loop.RunUntil(() => client.TryReceive(buffer, out length, out replyFrom), 5 * Nanos.PerSecond), "the client got nothing");
        Assert.Equal("answer", Encoding.ASCII.GetString(buffer, 0, length));
        Assert.Equal(target, replyFrom);
        Assert.Equal(0, origin.Available);
    }

    [Fact]
    public void FwdOfUdpOverIPv6ReachesTheProxyWithTheOriginalDestination()
    {
        using var lab = Run(V6Topology + """
            jexec r ipfw -q add 100 fwd 2001:db8:1::1,5353 udp from any to 2001:db8:2::5 53 in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any

            """);
        var proxy = Stack(lab, "r").OpenUdp(ipv6: true);
        Assert.Equal(Errno.None, proxy.Bind(IPv6Address.Any, 5353));
        var client = Stack(lab, "h1").OpenUdp(ipv6: true);
        var target = new InetEndpoint(V6("2001:db8:2::5"), 53);
        Assert.Equal(Errno.None, client.SendTo("query6"u8, target));
        var buffer = new byte[512];
        int length = 0;
        InetEndpoint from = default, original = default;
        Assert.True(lab.Loop.RunUntil(() => proxy.TryReceive(buffer, out length, out from, out original), 5 * Nanos.PerSecond), "the proxy got nothing");
        Assert.Equal("query6", Encoding.ASCII.GetString(buffer, 0, length));
        Assert.Equal(target, original);
        Assert.Equal(V6("2001:db8:1::2"), from.Address.V6);
    }

    [Fact]
    public void FwdToALocalPortWhereNothingListensResetsTheConnectionAsTheOriginalDestination()
    {
        using var lab = Run("""
            jexec r ipfw -q add 100 fwd 127.0.0.1,3128 tcp from 192.0.2.0/24 to any 80 in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any

            """);
        var origin = Stack(lab, "h2").OpenTcp();
        Assert.Equal(Errno.None, origin.Bind(IPv4Address.Any, 80));
        Assert.Equal(Errno.None, origin.Listen(4));
        var atClient = Tap(lab, "h1", "epair0a");
        var client = Stack(lab, "h1").OpenTcp();
        var refused = Errno.None;
        client.Closed = (_, e) => refused = e;
        Assert.Equal(Errno.EINPROGRESS, client.Connect(new InetEndpoint(new IPv4Address(203, 0, 113, 5), 80)));
        lab.Loop.RunFor(Nanos.PerSecond);

        Assert.Equal(Errno.ECONNREFUSED, refused);
        Assert.Equal(0, origin.PendingAccepts);
        var rst = Assert.Single(atClient.Packets, p => !p.Outbound && p.Protocol == 6);
        Assert.Equal("203.0.113.5", rst.Source);
        Assert.Equal(0x14, rst.Frame[14 + 20 + 13]); // RST|ACK
        Assert.True(TcpStack.Attach(Stack(lab, "r")).Statistics.tcps_noport >= 1);
    }

    [Fact]
    public void FwdOfUdpToALocalPortWhereNothingListensAnswersPortUnreachable()
    {
        using var lab = Run("""
            jexec r ipfw -q add 100 fwd 127.0.0.1,5353 udp from 192.0.2.0/24 to any 53 in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any

            """);
        var origin = Stack(lab, "h2").OpenUdp();
        Assert.Equal(Errno.None, origin.Bind(IPv4Address.Any, 53));
        var atClient = Tap(lab, "h1", "epair0a");
        var client = Stack(lab, "h1").OpenUdp();
        Assert.Equal(Errno.None, client.Connect(new InetEndpoint(new IPv4Address(203, 0, 113, 5), 53)));
        Assert.Equal(Errno.None, client.Send("query"u8));
        lab.Loop.RunFor(Nanos.PerSecond);

        Assert.Equal(0, origin.Available);
        Assert.Equal(1, Stack(lab, "r").Udp.NoPort);
        // icmp_reflect: the packet was not addressed to r, so the error comes from the interface it arrived on.
        var icmp = Assert.Single(atClient.Packets, p => !p.Outbound && p.Protocol == 1);
        Assert.Equal("192.0.2.1", icmp.Source);
        Assert.Equal(3, icmp.Frame[14 + 20]);
        Assert.Equal(3, icmp.Frame[14 + 20 + 1]);
        Assert.Equal(Errno.ECONNREFUSED, client.PendingError);
    }

    [Fact]
    public void FwdOnOutputToALocalPortDeliversTheRoutersOwnConnectionToTheProxy()
    {
        // ip_output with M_FASTFWD_OURS: r's own connection to 203.0.113.77 (no such host) goes to its local proxy.
        using var lab = Run("""
            jexec r ipfw -q add 100 fwd 127.0.0.1,3128 tcp from me to 203.0.113.77 80 out
            jexec r ipfw -q add 200 allow ip from any to any

            """);
        var r = Stack(lab, "r");
        var listener = r.OpenTcp();
        Assert.Equal(Errno.None, listener.Bind(IPv4Address.Loopback, 3128));
        Assert.Equal(Errno.None, listener.Listen(4));
        var client = r.OpenTcp();
        var target = new InetEndpoint(new IPv4Address(203, 0, 113, 77), 80);
        Assert.Equal(Errno.EINPROGRESS, client.Connect(target));
        TcpSocket? server = null;
        Assert.True(lab.Loop.RunUntil(() => listener.TryAccept(out server) == Errno.None, 5 * Nanos.PerSecond), "the proxy accepted nothing");
        Assert.True(lab.Loop.RunUntil(() => client.State == TcpState.Established, 5 * Nanos.PerSecond), client.State.ToString());
        Assert.Equal(target, server!.LocalEndpoint);
        client.Send("ping"u8);
        var buffer = new byte[16];
        var n = 0;
        Assert.True(lab.Loop.RunUntil(() => (n = server.Receive(buffer)) > 0, 5 * Nanos.PerSecond));
        Assert.Equal("ping", Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public void FwdToARemoteNextHopStillForwardsTcp()
    {
        using var lab = Run("""
            jexec h2 ifconfig epair1b inet 198.51.100.7/32 alias
            jexec r ipfw -q add 100 fwd 203.0.113.5 tcp from 192.0.2.0/24 to 198.51.100.7 80 in via epair0b
            jexec r ipfw -q add 200 allow ip from any to any

            """);
        var origin = Stack(lab, "h2").OpenTcp();
        Assert.Equal(Errno.None, origin.Bind(IPv4Address.Any, 80));
        Assert.Equal(Errno.None, origin.Listen(4));
        var client = Stack(lab, "h1").OpenTcp();
        Assert.Equal(Errno.EINPROGRESS, client.Connect(new InetEndpoint(new IPv4Address(198, 51, 100, 7), 80)));
        TcpSocket? server = null;
        Assert.True(lab.Loop.RunUntil(() => origin.TryAccept(out server) == Errno.None, 5 * Nanos.PerSecond), "h2 accepted nothing");
        Assert.Equal(new InetEndpoint(new IPv4Address(198, 51, 100, 7), 80), server!.LocalEndpoint);
    }

    private static IPv6Address V6(string text) => IPv6Address.TryParse(text, out var a) ? a : throw new FormatException(text);

    private static string Capture(Lab lab, string commandLine)
    {
        var output = ((StringWriter)lab.Out).GetStringBuilder();
        var start = output.Length;
        Assert.Equal(0, lab.Execute(commandLine));
        return output.ToString(start, output.Length - start);
    }
}
