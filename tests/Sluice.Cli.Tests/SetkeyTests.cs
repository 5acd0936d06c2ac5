using Sluice.Cli.Packetdrill;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;

namespace Sluice.Cli.Tests;

/// <summary>setkey(8) on the tcp-md5 SAD, and the sh lists the packetdrill interpreter runs it in.</summary>
public sealed class SetkeyTests
{
    private static (int Status, string Out, string Err) Run(Lab lab, string stdin, params string[] argv)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var status = Setkey.Execute(lab.Host, argv, new StringReader(stdin), stdout, stderr);
        return (status, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void AddFromStdinFillsTheSadAndDumpShowsIt()
    {
        using var lab = new Lab(TextWriter.Null, TextWriter.Null);
        var (status, _, err) = Run(lab, """
            # two directions, as the packetdrill scripts add them
            add 192.168.0.1 192.0.2.1 tcp 0x1000 -A tcp-md5 "secret" ;
            add 192.0.2.1 192.168.0.1 tcp 4097 -A tcp-md5 0x736563726574 ;
            """, "-c");
        Assert.True(status == 0, err);
        var sad = TcpStack.Attach(lab.Host).Md5Keys;
        Assert.Equal(2, sad.Associations.Count);
        Assert.True(sad.TryGetKey(InetAddress.TryParse("192.0.2.1", out var a) ? a : default, InetAddress.TryParse("192.168.0.1", out var b) ? b : default, out var key));
        Assert.Equal("secret"u8.ToArray(), key);
        Assert.Equal(0x1001u, sad.Associations[1].Spi);

        var dump = Run(lab, "", "-D");
        Assert.Equal(0, dump.Status);
        Assert.Equal(
            "192.168.0.1 192.0.2.1\n\ttcp mode=any spi=4096(0x00001000) reqid=0(0x00000000)\n\tA: tcp-md5 73656372 6574\n\tseq=0x00000000 replay=0 flags=0x00000040 state=mature \n"
            + "192.0.2.1 192.168.0.1\n\ttcp mode=any spi=4097(0x00001001) reqid=0(0x00000000)\n\tA: tcp-md5 73656372 6574\n\tseq=0x00000000 replay=0 flags=0x00000040 state=mature \n",
            dump.Out.Replace("\r\n", "\n", StringComparison.Ordinal));

        Assert.Equal(0, Run(lab, "", "-F").Status);
        Assert.Empty(sad.Associations);
        Assert.Equal("No SAD entries.\n", Run(lab, "", "-D").Out.Replace("\r\n", "\n", StringComparison.Ordinal));
    }

    [Fact]
    public void KernelErrorsNameTheLineAndTheRestStillRuns()
    {
        using var lab = new Lab(TextWriter.Null, TextWriter.Null);
        var (status, _, err) = Run(lab, "add 10.0.0.1 10.0.0.2 tcp 1 -A tcp-md5 \"a\" ;\nadd 10.0.0.3 10.0.0.4 tcp 1 -A tcp-md5 \"b\" ;\ndelete 10.0.0.9 10.0.0.2 tcp 7 ;\nadd 10.0.0.5 10.0.0.6 tcp 2 -A tcp-md5 \"c\" ;\n", "-c");
        Assert.Equal(1, status);
        Assert.Contains("The result of line 2: File exists.", err, StringComparison.Ordinal);
        Assert.Contains("The result of line 3: No such process.", err, StringComparison.Ordinal);
        Assert.Equal(2, TcpStack.Attach(lab.Host).Md5Keys.Associations.Count);
    }

    [Theory]
    [InlineData("add 10.0.0.1 nowhere tcp 1 -A tcp-md5 \"k\" ;", "line 1: bad address", "[nowhere]")]
    [InlineData("\n\nadd 10.0.0.1 10.0.0.2 esp 1 -E des-cbc 0x00 ;", "line 3: protocol 'esp' is not supported", "[esp]")]
    [InlineData("add 10.0.0.1 10.0.0.2 tcp 1 -A hmac-md5 \"k\" ;", "line 1: algorithm 'hmac-md5' is not supported", "[hmac-md5]")]
    [InlineData("add 10.0.0.1 10.0.0.2 tcp 1 -A tcp-md5 \"k\"", "line 1: syntax error (missing ';')", "")]
    [InlineData("add 10.0.0.1 10.0.0.2 tcp zz -A tcp-md5 \"k\" ;", "line 1: bad SPI", "[zz]")]
    [InlineData("add 10.0.0.1 10.0.0.2 tcp 1 -A tcp-md5 0xabc ;", "line 1: bad key", "[0xabc]")]
    [InlineData("frobnicate ;", "line 1: syntax error", "[frobnicate]")]
    [InlineData("add 10.0.0.1 10.0.0.2 tcp 1 -A tcp-md5 \"unterminated ;", "line 1: unterminated string", "")]
    public void SyntaxErrorsNameLineAndTokenAndChangeNothing(string text, string message, string token)
    {
        using var lab = new Lab(TextWriter.Null, TextWriter.Null);
        var (status, _, err) = Run(lab, text, "-c");
        Assert.Equal(1, status);
        Assert.Contains(message, err, StringComparison.Ordinal);
        Assert.Contains(token, err, StringComparison.Ordinal);
        Assert.Empty(TcpStack.Attach(lab.Host).Md5Keys.Associations);
    }

    [Fact]
    public void ShellListsSplitOnlyOutsideQuotes()
    {
        Assert.True(PacketdrillRunner.TrySplitList("kldstat -q -m tcpmd5 || kldload tcpmd5; echo 'add a b tcp 1 -A tcp-md5 \"s\" ;' | setkey -c", out var items, out var error), error);
        Assert.Equal(3, items.Count);
        Assert.Equal(("kldstat -q -m tcpmd5", "||"), items[0]);
        Assert.Equal(("kldload tcpmd5", ";"), items[1]);
        Assert.Equal(("echo 'add a b tcp 1 -A tcp-md5 \"s\" ;' | setkey -c", ""), items[2]);
        Assert.False(PacketdrillRunner.TrySplitList("true ||", out _, out error));
        Assert.False(PacketdrillRunner.TrySplitList("echo 'open", out _, out error));
        Assert.False(PacketdrillRunner.TrySplitList("&& true", out _, out error));
    }
}
