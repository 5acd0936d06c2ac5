namespace Sluice.Cli.Tests;

public sealed class ParserTests
{
    private static List<(int Letter, string? Argument)> Options(string spec, params string[] args)
    {
        var result = new List<(int, string?)>();
        var opt = new GetOpt(args, spec);
        int c;
        while ((c = opt.Next()) != -1)
        {
            result.Add((c, opt.OptionArgument));
        }

        result.Add((-1, opt.OperandIndex.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return result;
    }

    [Fact]
    public void GetOptTakesAttachedAndSeparateArguments() =>
        Assert.Equal([('c', "3"), ('i', "0.2"), ('q', null), (-1, "4")], Options("c:i:q", "-c3", "-i", "0.2", "-q", "10.0.0.1"));

    [Fact]
    public void GetOptClustersLettersAndStopsAtOperandsAndDoubleDash()
    {
        Assert.Equal([('q', null), ('c', "3"), (-1, "1")], Options("c:q", "-qc3", "host", "-q"));
        Assert.Equal([('q', null), (-1, "2")], Options("q", "-q", "--", "-q"));
        Assert.Equal([(-1, "0")], Options("q", "-", "x"));
    }

    [Fact]
    public void GetOptReportsLikeFreeBsdLibc()
    {
        var opt = new GetOpt(["-z"], "c:");
        var c = opt.Next();
        Assert.Equal('?', c);
        Assert.Equal("ping: illegal option -- z", opt.Diagnostic("ping", c));
        opt = new GetOpt(["-c"], "c:");
        c = opt.Next();
        Assert.Equal(':', c);
        Assert.Equal("ping: option requires an argument -- c", opt.Diagnostic("ping", c));
    }

    [Theory]
    [InlineData("ifconfig epair0a inet 10.0.0.1/24 up", new[] { "ifconfig", "epair0a", "inet", "10.0.0.1/24", "up" })]
    [InlineData("  echo 'a  b'  \"c \\\"d\\\"\" e\\ f  ", new[] { "echo", "a  b", "c \"d\"", "e f" })]
    [InlineData("echo a # comment", new[] { "echo", "a" })]
    [InlineData("echo a#b", new[] { "echo", "a#b" })]
    [InlineData("echo ''", new[] { "echo", "" })]
    [InlineData("ifconfig epair0a description \"uplink to r\"", new[] { "ifconfig", "epair0a", "description", "uplink to r" })]
    public void ShellWordsSplitsLikeSh(string line, string[] expected)
    {
        Assert.True(ShellWords.TrySplit(line, out var words, out var error), error);
        Assert.Equal(expected, words);
    }

    [Theory]
    [InlineData("echo 'open")]
    [InlineData("echo \"open")]
    public void ShellWordsRejectsUnterminatedQuotes(string line) =>
        Assert.False(ShellWords.TrySplit(line, out _, out _));

    [Fact]
    public void LabScriptJoinsContinuationsAndSkipsComments()
    {
        const string Text = "# title\n\njail -c name=a \\\n   vnet persist\n  # indented comment\necho one\\\\\necho two\n";
        var commands = LabScript.Parse(Text);
        Assert.Equal(3, commands.Count);
        Assert.Equal(new ScriptCommand(3, "jail -c name=a    vnet persist"), commands[0]);
        Assert.Equal(new ScriptCommand(6, "echo one\\\\"), commands[1]);
        Assert.Equal(7, commands[2].Line);
    }

    [Theory]
    [InlineData("0xffffff00", 24)]
    [InlineData("255.255.255.0", 24)]
    [InlineData("0xffffffff", 32)]
    [InlineData("0.0.0.0", 0)]
    public void NetmasksParse(string text, int prefix)
    {
        Assert.True(Ifconfig.TryParseNetmask(text, out var p));
        Assert.Equal(prefix, p);
    }

    [Theory]
    [InlineData("0xff00ff00")]
    [InlineData("255.0.255.0")]
    [InlineData("0x1ffffffff")]
    [InlineData("mask")]
    public void NonContiguousOrBadNetmasksAreRefused(string text) => Assert.False(Ifconfig.TryParseNetmask(text, out _));
}
