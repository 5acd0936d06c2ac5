using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Sluice.Stack;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Cli.Tests;

/// <summary>fetch, httpd and netstat's TCP views in virtual-time labs: two hosts and a router.</summary>
public sealed partial class TcpToolsTests : IDisposable
{
    private const string Topology = """
        jail -c name=h1 vnet persist
        jail -c name=h2 vnet persist
        jail -c name=r vnet persist
        ifconfig epair0 create
        ifconfig epair1 create
        ifconfig epair0a vnet h1
        ifconfig epair0b vnet r
        ifconfig epair1a vnet r
        ifconfig epair1b vnet h2
        jexec h1 ifconfig epair0a inet 192.0.2.2/24 up
        jexec r  ifconfig epair0b inet 192.0.2.1/24 up
        jexec r  ifconfig epair1a inet 198.51.100.1/24 up
        jexec h2 ifconfig epair1b inet 198.51.100.2/24 up
        jexec h1 route add default 192.0.2.1
        jexec h2 route add default 198.51.100.1
        jexec r sysctl net.inet.ip.forwarding=1
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-tcp-").FullName;
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();
    private readonly Lab _lab;

    public TcpToolsTests()
    {
        _lab = new Lab(_out, _err);
        Assert.True(_lab.RunScriptText(Topology, "topology.lab") == 0, _err.ToString());
        _out.GetStringBuilder().Clear();
    }

    public void Dispose()
    {
        _lab.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void FetchGetsTenMegabytesFromHttpdAcrossTheRouterByteExact(string stack)
    {
        var file = Path.Combine(_dir, "big");
        Run($"jexec h1 sysctl net.inet.tcp.functions_default={stack}");
        Run($"jexec h2 sysctl net.inet.tcp.functions_default={stack}");
        Run("jexec h2 httpd -p 80 -g big:10m");
        var start = _lab.Loop.Now;
        _err.GetStringBuilder().Clear();
        Run($"jexec h1 fetch -o {file} http://198.51.100.2/big");
        var elapsed = _lab.Loop.Now - start;

        Assert.Equal(SHA256.HashData(Generated(10 << 20)), SHA256.HashData(File.ReadAllBytes(file)));

        // stat_start/stat_end without a TTY: the name padded to 46, then size, rate and time on the same line.
        Assert.True(StatLine().IsMatch(_err.ToString()), _err.ToString());
        Assert.StartsWith(file.PadRight(46) + "          10 MB ", _err.ToString(), StringComparison.Ordinal);
        Assert.True(elapsed >= 0);

        // The server closed first (Connection: close): its side waits in TIME_WAIT; the client's is gone.
        var server = Output("jexec h2 netstat -an -p tcp");
        Assert.Matches(@"tcp4       0      0 198\.51\.100\.2\.80        192\.0\.2\.2\.\d+ +TIME_WAIT  \n", server);
        Assert.Contains("tcp4       0      0 *.80                   *.*                    LISTEN     \n", server, StringComparison.Ordinal);
        Assert.DoesNotContain("192.0.2.2", Output("jexec h1 netstat -an"), StringComparison.Ordinal);

        var client = Output("jexec h1 netstat -s -p tcp");
        Assert.Contains("\t1 connection request\n", client, StringComparison.Ordinal);
        Assert.Contains("\t1 connection established (including accepts)\n", client, StringComparison.Ordinal);
        Assert.Contains("\t0 connection accepts\n", client, StringComparison.Ordinal);
        Assert.Matches(@"\t\t\d+ packets \(10485\d\d\d bytes\) received in-sequence\n", client);
        var serverStats = Output("jexec h2 netstat -s -p tcp");
        Assert.Contains("\t1 connection accept\n", serverStats, StringComparison.Ordinal);
        Assert.Contains("\t1 connection established (including accepts)\n", serverStats, StringComparison.Ordinal);
        Assert.Contains("\t1 connection in TIME_WAIT state\n", serverStats, StringComparison.Ordinal);
        Assert.Contains("\t1 connection in LISTEN state\n", serverStats, StringComparison.Ordinal);
        Assert.Equal(0, _lab.InternalErrors);
    }

    [Fact]
    public void TheTcpFetchExampleTransfersThroughALossyDummynetLinkWithBothStacks()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !Directory.Exists(Path.Combine(dir, "examples")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        Assert.NotNull(dir);
        var text = File.ReadAllText(Path.Combine(dir!, "examples", "tcp-fetch.lab")).Replace("-o big.", $"-o {_dir}/big.", StringComparison.Ordinal);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Lab(stdout, stderr);
        Assert.True(lab.RunScriptText(text, "tcp-fetch.lab") == 0, stderr.ToString());

        var expected = SHA256.HashData(Generated(10 << 20));
        Assert.Equal(expected, SHA256.HashData(File.ReadAllBytes(Path.Combine(_dir, "big.freebsd"))));
        Assert.Equal(expected, SHA256.HashData(File.ReadAllBytes(Path.Combine(_dir, "big.rack"))));
        var output = stdout.ToString();
        Assert.Contains("\t2 connections in TIME_WAIT state\n", output, StringComparison.Ordinal);
        Assert.Matches(@"\t\t[1-9]\d* data packets? \(\d+ bytes?\) retransmitted\n", output);
        Assert.Equal(0, lab.InternalErrors);
    }

    [Fact]
    public void NetstatShowsAnOpenConnectionAsEstablishedOnBothSides()
    {
        Run("jexec h2 httpd -p 8080 -g x:1k");
        var h1 = _lab.Jail("h1")!.Stack;
        var socket = h1.OpenTcp();
        Assert.Equal(Errno.EINPROGRESS, socket.Connect(new InetEndpoint(new IPv4Address(198, 51, 100, 2), 8080)));
        _lab.Loop.RunUntil(() => socket.State == TcpState.Established, Nanos.FromSeconds(5));
        _lab.Loop.RunFor(Nanos.FromMilliseconds(100));
        var port = socket.LocalEndpoint.Port;

        var client = Output("jexec h1 netstat -an");
        Assert.Equal(
            "Active Internet connections (including servers)\n"
            + "Proto Recv-Q Send-Q Local Address          Foreign Address        (state)    \n"
            + $"tcp4       0      0 {$"192.0.2.2.{port}",-22} 198.51.100.2.8080      ESTABLISHED\n",
            client);
        var server = Output("jexec h2 netstat -a");
        Assert.Contains($"tcp4       0      0 198.51.100.2.http-alt  192.0.2.2.{port,-12} ESTABLISHED\n", server, StringComparison.Ordinal);
        Assert.Contains("tcp4       0      0 *.http-alt             *.*                    LISTEN     \n", server, StringComparison.Ordinal);

        // Without -a the listener is left out.
        Assert.DoesNotContain("LISTEN", Output("jexec h2 netstat -n"), StringComparison.Ordinal);
        Assert.Equal(string.Empty, Output("jexec h2 netstat -an -p udp"));
        Assert.Equal(string.Empty, Output("jexec h2 netstat -an -6"));

        socket.Close();
        _lab.Loop.RunFor(Nanos.FromSeconds(1));
        Assert.Matches(@$"tcp4       0      0 192\.0\.2\.2\.{port} +198\.51\.100\.2\.8080      TIME_WAIT  \n", Output("jexec h1 netstat -an"));
    }

    [Fact]
    public void FetchReportsHttpErrorsRefusalsAndTimeoutsWithExitStatusOne()
    {
        Run("jexec h2 httpd -p 80 -d " + _dir);
        File.WriteAllText(Path.Combine(_dir, "hello.txt"), "hello, world\n");
        var target = Path.Combine(_dir, "out.txt");

        Assert.Equal(0, _lab.Execute($"jexec h1 fetch -q -o {target} http://198.51.100.2/hello.txt"));
        Assert.Equal("hello, world\n", File.ReadAllText(target));

        _err.GetStringBuilder().Clear();
        Assert.Equal(1, _lab.Execute($"jexec h1 fetch -o {target}.2 http://198.51.100.2/missing"));
        Assert.Equal("fetch: http://198.51.100.2/missing: Not Found\n", _err.ToString());
        Assert.False(File.Exists(target + ".2"));

        _err.GetStringBuilder().Clear();
        Assert.Equal(1, _lab.Execute($"jexec h1 fetch -o {target}.3 http://198.51.100.2:81/x"));
        Assert.Equal("fetch: http://198.51.100.2:81/x: Connection refused\n", _err.ToString());

        _err.GetStringBuilder().Clear();
        Assert.Equal(1, _lab.Execute($"jexec h1 fetch -T 3 -o {target}.4 http://203.0.113.9/x"));
        Assert.Equal("fetch: http://203.0.113.9/x: Operation timed out\n", _err.ToString());

        _err.GetStringBuilder().Clear();
        Assert.Equal(1, _lab.Execute("jexec h1 fetch https://198.51.100.2/x"));
        Assert.Equal("fetch: https://198.51.100.2/x: URL scheme not supported\n", _err.ToString());

        _out.GetStringBuilder().Clear();
        Assert.Equal(0, _lab.Execute("jexec h1 fetch -s http://198.51.100.2/hello.txt"));
        Assert.Equal("13\n", _out.ToString());
        Assert.Equal(0, _lab.InternalErrors);
    }

    [Fact]
    public void HttpdAnswersBadRequestsAndKeepsConnectionsAlive()
    {
        Run("jexec h2 httpd -g a:5 -g b:3");
        var h1 = _lab.Jail("h1")!.Stack;
        var socket = h1.OpenTcp();
        socket.Connect(new InetEndpoint(new IPv4Address(198, 51, 100, 2), 80));
        _lab.Loop.RunUntil(() => socket.State == TcpState.Established, Nanos.FromSeconds(5));
        var request = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nPOST /a HTTP/1.1\r\nHost: x\r\n\r\nGET /zz HTTP/1.1\r\nConnection: close\r\n\r\n"u8.ToArray();
        Assert.Equal(request.Length, socket.Send(request));
        var received = new MemoryStream();
        var buffer = new byte[4096];
        _lab.Loop.RunUntil(
            () =>
            {
                int n;
                while ((n = socket.Receive(buffer)) > 0)
                {
                    received.Write(buffer, 0, n);
                }

                return n == 0;
            },
            Nanos.FromSeconds(5));
        var text = System.Text.Encoding.ASCII.GetString(received.ToArray());
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", text, StringComparison.Ordinal);
        Assert.Contains("Content-Length: 5\r\n\r\n" + System.Text.Encoding.Latin1.GetString(Enumerable.Range(0, 5).Select(i => Httpd.GeneratedByte(i)).ToArray()) + "HTTP/1.1 200 OK\r\n", text, StringComparison.Ordinal);
        Assert.Contains("Content-Length: 3\r\n\r\nHTTP/1.1 405 Method Not Allowed\r\n", text, StringComparison.Ordinal);
        Assert.Contains("Allow: GET, HEAD\r\n", text, StringComparison.Ordinal);
        Assert.Contains("HTTP/1.1 404 Not Found\r\n", text, StringComparison.Ordinal);
        Assert.EndsWith("</html>\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void NetstatStatisticsPrintFreeBsdWordingAndPlurals()
    {
        var s = new TcpStatistics { tcps_sndtotal = 1, tcps_sndpack = 2, tcps_sndbyte = 1, tcps_sc_added = 1, tcps_badrst = 2 };
        var states = new long[11];
        states[(int)TcpState.Established] = 1;
        var text = Sluice.Cli.Formatting.ProtocolStatistics.Tcp(s, states, zeros: true);
        Assert.StartsWith("tcp:\n\t1 packet sent\n\t\t2 data packets (1 byte)\n\t\t0 data packets (0 bytes) retransmitted\n", text, StringComparison.Ordinal);
        Assert.Contains("\t1 syncache entry added\n\t\t0 retransmitted\n\t\t0 dupsyn\n", text, StringComparison.Ordinal);
        Assert.Contains("\t2 ignored RSTs in the windows\n", text, StringComparison.Ordinal);
        Assert.Contains("\t0 cookies sent\n\t0 cookies received\n", text, StringComparison.Ordinal);
        Assert.Contains("TCP connection count by state:\n\t0 connections in CLOSED state\n", text, StringComparison.Ordinal);
        Assert.Contains("\t1 connection in ESTABLISHED state\n", text, StringComparison.Ordinal);
        var quiet = Sluice.Cli.Formatting.ProtocolStatistics.Tcp(s, states, zeros: false);
        Assert.Equal("tcp:\n\t1 packet sent\n\t\t2 data packets (1 byte)\n\t2 ignored RSTs in the windows\n\t1 syncache entry added\nTCP connection count by state:\n\t1 connection in ESTABLISHED state\n", quiet);
    }

    [Fact]
    public void FetchStatisticsFormatLikeFetchC()
    {
        Assert.Equal("1024 kB", Fetch.StatBytes(1 << 20));
        Assert.Equal("  12  B", Fetch.StatBytes(12));
        Assert.Equal("9999  B", Fetch.StatBytes(9999));
        Assert.Equal("  10 MB", Fetch.StatBytes(10 << 20));
        Assert.Equal("?? Bps", Fetch.StatRate(100, 0));
        Assert.Equal("  12 MBps", Fetch.StatRate(12 << 20, 1_000_000_000));
        Assert.Equal("   00s", Fetch.StatSeconds(0));
        Assert.Equal("01m26s", Fetch.StatSeconds(86));
        Assert.Equal("01h00m", Fetch.StatSeconds(3600));
        Assert.Equal("        1024 kB   12 MBps    00s", Fetch.StatEnd(1 << 20, 80_000_000));
    }

    [GeneratedRegex(@"^.{46}          10 MB (\?\? Bps|[ \d]{4} [ kMG]Bps) +(\d\dm)?\d\ds\n$")]
    private static partial Regex StatLine();

    private static byte[] Generated(int length)
    {
        var data = new byte[length];
        Httpd.FillGenerated(data, 0);
        return data;
    }

    private void Run(string command)
    {
        var status = _lab.Execute(command);
        Assert.True(status == 0, $"{command}: exit {status}\n{_err}");
    }

    private string Output(string command)
    {
        _out.GetStringBuilder().Clear();
        Run(command);
        var text = _out.ToString();
        _out.GetStringBuilder().Clear();
        return text;
    }
}
