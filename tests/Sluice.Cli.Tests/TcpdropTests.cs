using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Cli.Tests;

/// <summary>tcpdrop(8) in a virtual-time lab: two hosts on one epair, run through jexec.</summary>
public sealed class TcpdropTests : IDisposable
{
    private const string Topology = """
        jail -c name=h1 vnet persist
        jail -c name=h2 vnet persist
        ifconfig epair0 create
        ifconfig epair0a vnet h1
        ifconfig epair0b vnet h2
        jexec h1 ifconfig epair0a inet 192.0.2.1/24 up
        jexec h2 ifconfig epair0b inet 192.0.2.2/24 up
        """;

    private static readonly IPv4Address Server = new(192, 0, 2, 2);
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();
    private readonly Lab _lab;
    private readonly TcpSocket _listener;

    public TcpdropTests()
    {
        _lab = new Lab(_out, _err);
        Assert.True(_lab.RunScriptText(Topology, "topology.lab") == 0, _err.ToString());
        _listener = _lab.Jail("h2")!.Stack.OpenTcp();
        Assert.Equal(Errno.None, _listener.Bind(Server, 8080));
        Assert.Equal(Errno.None, _listener.Listen(8));
        _out.GetStringBuilder().Clear();
    }

    public void Dispose() => _lab.Dispose();

    [Fact]
    public void DropsOneConnectionByItsAddressesAndPortsAndThePeerSeesReset()
    {
        var (c, s) = Connect();
        var port = c.LocalEndpoint.Port;
        Errno? peer = null;
        s.Closed = (_, e) => peer = e;

        Assert.Equal(0, Execute($"jexec h1 tcpdrop 192.0.2.1 {port} 192.0.2.2 8080"));
        Assert.Equal($"192.0.2.1 {port} 192.0.2.2 8080: dropped\n", _out.ToString());
        Assert.Equal(Errno.ECONNABORTED, c.Error);
        Assert.True(_lab.Loop.RunUntil(() => peer is not null, Nanos.PerSecond));
        Assert.Equal(Errno.ECONNRESET, peer);

        // Gone now: ESRCH as warn(3) prints it, exit 1 (the addr.port form this time).
        Assert.Equal(1, Execute($"jexec h1 tcpdrop 192.0.2.1.{port} 192.0.2.2.8080"));
        Assert.Equal($"tcpdrop: 192.0.2.1 {port} 192.0.2.2 8080: No such process\n", _err.ToString());
    }

    [Fact]
    public void ListModePrintsACommandPerConnectionAndDropsNothing()
    {
        var (c, _) = Connect();
        var port = c.LocalEndpoint.Port;
        Assert.Equal(0, Execute("jexec h2 tcpdrop -l -a"));
        Assert.Equal($"tcpdrop 192.0.2.2 8080 192.0.2.1 {port}\n", _out.ToString()); // the listener is skipped
        Assert.Equal(TcpState.Established, c.State);
    }

    [Fact]
    public void StateFilterDropsOnlyConnectionsInThatState()
    {
        var (c1, s1) = Connect();
        var (c2, _) = Connect();
        c1.Close();
        _lab.Loop.RunFor(Nanos.FromMilliseconds(100));
        s1.Close();
        Assert.True(_lab.Loop.RunUntil(() => c1.State == TcpState.TimeWait, Nanos.PerSecond));

        Assert.Equal(0, Execute("jexec h1 tcpdrop -s TIME_WAIT"));
        Assert.Equal($"192.0.2.1 {c1.LocalEndpoint.Port} 192.0.2.2 8080: dropped\n", _out.ToString());
        Assert.Equal(TcpState.Established, c2.State);
        var left = Assert.Single(TcpStack.Attach(_lab.Jail("h1")!.Stack).Connections());
        Assert.Equal(TcpState.Established, left.State);

        // -S matches the stack; TIME_WAIT belongs to none.
        Assert.Equal(0, Execute("jexec h1 tcpdrop -l -S rack"));
        Assert.Equal(string.Empty, _out.ToString());
        Assert.Equal(0, Execute("jexec h1 tcpdrop -l -S freebsd -C newreno"));
        Assert.Equal($"tcpdrop 192.0.2.1 {c2.LocalEndpoint.Port} 192.0.2.2 8080\n", _out.ToString());
    }

    [Theory]
    [InlineData("jexec h1 tcpdrop -s LISTEN")]
    [InlineData("jexec h1 tcpdrop -s NOSUCHSTATE")]
    [InlineData("jexec h1 tcpdrop -a 192.0.2.1")]
    [InlineData("jexec h1 tcpdrop -a -s ESTABLISHED")]
    [InlineData("jexec h1 tcpdrop -l 192.0.2.1 1 192.0.2.2 2")]
    [InlineData("jexec h1 tcpdrop 192.0.2.1 1 192.0.2.2")]
    public void UsageErrorsExitOneWithTheUsageText(string command)
    {
        Assert.Equal(1, Execute(command));
        Assert.Contains("usage: tcpdrop local-address local-port foreign-address foreign-port\n", _err.ToString(), StringComparison.Ordinal);
        Assert.Equal(string.Empty, _out.ToString());
    }

    [Fact]
    public void MixedAddressFamiliesAndBadNamesAreRefused()
    {
        Assert.Equal(1, Execute("jexec h1 tcpdrop 192.0.2.1 1 2001:db8::1 2"));
        Assert.Equal("tcpdrop: 192.0.2.1 1 2001:db8::1 2: different address families\n", _err.ToString());
        Assert.Equal(1, Execute("jexec h1 tcpdrop host.example 1 192.0.2.2 x"));
        Assert.StartsWith("tcpdrop: getaddrinfo: host.example port 1: ", _err.ToString(), StringComparison.Ordinal);
    }

    private (TcpSocket Client, TcpSocket Server) Connect()
    {
        var c = _lab.Jail("h1")!.Stack.OpenTcp();
        Assert.Equal(Errno.EINPROGRESS, c.Connect(new InetEndpoint(Server, 8080)));
        TcpSocket? s = null;
        Assert.True(_lab.Loop.RunUntil(() => c.State == TcpState.Established && _listener.TryAccept(out s) == Errno.None, Nanos.FromSeconds(5)));
        return (c, s!);
    }

    private int Execute(string command)
    {
        _out.GetStringBuilder().Clear();
        _err.GetStringBuilder().Clear();
        return _lab.Execute(command);
    }
}
