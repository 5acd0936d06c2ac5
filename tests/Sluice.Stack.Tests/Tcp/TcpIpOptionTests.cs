using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>IP_TOS / IP_TTL / IPV6_TCLASS / IPV6_UNICAST_HOPS on TCP sockets (ip_ctloutput, ip6_ctloutput).</summary>
public sealed class TcpIpOptionTests
{
    private static List<(byte Tos, byte Ttl, TcpFlags Flags)> Record(ImpairedLink link)
    {
        var frames = new List<(byte, byte, TcpFlags)>();
        link.Drop = f =>
        {
            var d = f.Data;
            if (d.Length >= 54 && d[12] == 0x08 && d[13] == 0x00 && d[23] == 6)
            {
                frames.Add((d[15], d[22], (TcpFlags)d[14 + ((d[14] & 0x0f) * 4) + 13]));
            }

            return false;
        };
        return frames;
    }

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void TosAndTtlApplyToEverySegmentAndCanChangeMidConnection(string block)
    {
        var net = new TcpPair(block, oneWayDelayNs: Nanos.FromMilliseconds(2));
        var fromClient = Record(net.ClientLink);
        var listener = net.Listen();
        var (c, s) = net.Establish(listener, sock =>
        {
            Assert.Equal(Errno.None, sock.GetOption(TcpSocketOption.IP_TTL, out var ttl));
            Assert.Equal(64, ttl); // inp_ip_ttl starts at net.inet.ip.ttl
            Assert.Equal(Errno.None, sock.GetOption(TcpSocketOption.IP_TOS, out var tos));
            Assert.Equal(0, tos);
            Assert.Equal(Errno.None, sock.SetOption(TcpSocketOption.IP_TOS, 0x20));
            Assert.Equal(Errno.None, sock.SetOption(TcpSocketOption.IP_TTL, 4));
        });
        var data = TcpPair.Pattern(20_000, 1);
        Assert.Equal(data, net.Transfer(c, s, data, close: false));
        var before = fromClient.Count;
        Assert.True(before >= 3);
        Assert.All(fromClient, f => Assert.Equal((0x20, 4), (f.Tos & ~3, (int)f.Ttl)));

        Assert.Equal(Errno.None, c.SetOption(TcpSocketOption.IP_TOS, 0xe0));
        Assert.Equal(Errno.None, c.SetOption(TcpSocketOption.IP_TTL, 6));
        Assert.Equal(Errno.None, c.GetOption(TcpSocketOption.IP_TTL, out var now));
        Assert.Equal(6, now);
        Assert.Equal(data, net.Transfer(c, s, data));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.True(fromClient.Count > before);
        Assert.All(fromClient.Skip(before), f => Assert.Equal((0xe0, 6), (f.Tos & ~3, (int)f.Ttl)));

        // The server side kept the defaults.
        Assert.Equal(Errno.None, s.GetOption(TcpSocketOption.IP_TTL, out var serverTtl));
        Assert.Equal(64, serverTtl);
    }

    [Fact]
    public void ResetOfAnAbortedConnectionCarriesTheSocketsTtlAndTos()
    {
        var net = new TcpPair();
        var fromClient = Record(net.ClientLink);
        var listener = net.Listen();
        var (c, _) = net.Establish(listener, sock =>
        {
            Assert.Equal(Errno.None, sock.SetOption(TcpSocketOption.IP_TOS, 0xb8));
            Assert.Equal(Errno.None, sock.SetOption(TcpSocketOption.IP_TTL, 17));
        });
        c.Abort();
        net.Loop.RunFor(Nanos.FromMilliseconds(10));
        var rst = fromClient.Last();
        Assert.True((rst.Flags & TcpFlags.Rst) != 0);
        Assert.Equal(17, rst.Ttl);
        Assert.Equal(0xb8, rst.Tos & ~3);
    }

    [Fact]
    public void AcceptedConnectionsInheritTheListenersTtl()
    {
        var net = new TcpPair();
        var fromServer = Record(net.ServerLink);
        var listener = net.Listen();
        Assert.Equal(Errno.None, listener.SetOption(TcpSocketOption.IP_TTL, 33));
        var (_, s) = net.Establish(listener);
        Assert.Equal(Errno.None, s.GetOption(TcpSocketOption.IP_TTL, out var ttl));
        Assert.Equal(33, ttl);
        Assert.NotEmpty(fromServer);
        Assert.All(fromServer, f => Assert.Equal(33, f.Ttl));
    }

    [Fact]
    public void Ipv6OptionsKeepFreeBsdLimitsAndMinusOneRestoresTheDefault()
    {
        var net = new TcpPair();
        var v6 = net.Client.Tcp.Open(ipv6: true);
        Assert.Equal(Errno.None, v6.GetOption(TcpSocketOption.IPV6_UNICAST_HOPS, out var hops));
        Assert.Equal(64, hops); // net.inet6.ip6.hlim
        Assert.Equal(Errno.None, v6.SetOption(TcpSocketOption.IPV6_UNICAST_HOPS, 4));
        Assert.Equal(Errno.None, v6.GetOption(TcpSocketOption.IPV6_UNICAST_HOPS, out hops));
        Assert.Equal(4, hops);
        Assert.Equal(Errno.None, v6.SetOption(TcpSocketOption.IPV6_UNICAST_HOPS, -1));
        Assert.Equal(Errno.None, v6.GetOption(TcpSocketOption.IPV6_UNICAST_HOPS, out hops));
        Assert.Equal(64, hops);
        Assert.True(net.Client.Sysctl.TrySet("net.inet6.ip6.hlim", "99").Succeeded);
        Assert.Equal(Errno.None, v6.GetOption(TcpSocketOption.IPV6_UNICAST_HOPS, out hops));
        Assert.Equal(99, hops); // -1 follows the sysctl
        Assert.Equal(Errno.EINVAL, v6.SetOption(TcpSocketOption.IPV6_UNICAST_HOPS, 256));
        Assert.Equal(Errno.EINVAL, v6.SetOption(TcpSocketOption.IPV6_UNICAST_HOPS, -2));
        Assert.Equal(Errno.None, v6.SetOption(TcpSocketOption.IPV6_TCLASS, 0xe0));
        Assert.Equal(Errno.None, v6.GetOption(TcpSocketOption.IPV6_TCLASS, out var tclass));
        Assert.Equal(0xe0, tclass);
        Assert.Equal(Errno.None, v6.SetOption(TcpSocketOption.IPV6_TCLASS, -1));
        Assert.Equal(Errno.None, v6.GetOption(TcpSocketOption.IPV6_TCLASS, out tclass));
        Assert.Equal(0, tclass);
        Assert.Equal(Errno.EINVAL, v6.SetOption(TcpSocketOption.IPV6_TCLASS, 256));

        // Each family's level only (ip_ctloutput / ip6_ctloutput answer EINVAL for the other).
        Assert.Equal(Errno.EINVAL, v6.SetOption(TcpSocketOption.IP_TTL, 4));
        Assert.Equal(Errno.EINVAL, v6.GetOption(TcpSocketOption.IP_TOS, out _));
        var v4 = net.Client.OpenTcp();
        Assert.Equal(Errno.EINVAL, v4.SetOption(TcpSocketOption.IPV6_UNICAST_HOPS, 4));
        Assert.Equal(Errno.EINVAL, v4.GetOption(TcpSocketOption.IPV6_TCLASS, out _));
    }
}
