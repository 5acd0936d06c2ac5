using CsCheck;
using Sluice.Stack.Sysctl;

namespace Sluice.Stack.Tests.Sysctl;

public sealed class SysctlTreeTests
{
    private static SysctlTree Sample()
    {
        var tree = new SysctlTree();
        tree.AddInt("net.inet.ip.forwarding", "Enable IP forwarding between interfaces", 0, 0, 1);
        tree.AddInt("net.inet.tcp.mssdflt", "Default TCP Maximum Segment Size", 536, 88, 65535);
        tree.AddInt("net.inet.ip.ttl", "Maximum TTL on IP packets", 64, 1, 255);
        tree.AddInt("kern.hz", "Number of clock ticks per second", 1000, readOnly: true);
        var stack = "freebsd";
        tree.AddString("net.inet.tcp.functions_default", "Set/get the default TCP functions", () => stack,
            v => v is "freebsd" or "rack" ? SetStack(v) : "No such file or directory");
        tree.AddComputed("net.inet.tcp.functions_available", "list available TCP Function sets", () => "\nStack D");
        tree.AddInt("net.inet.ip_x", "sorts after net.inet.ip by component", 7);
        return tree;

        string? SetStack(string v)
        {
            stack = v;
            return null;
        }
    }

    [Fact]
    public void SetsIntegerAndReportsOldAndNew()
    {
        var tree = Sample();
        var changed = new List<long>();
        ((SysctlInt)tree.Find("net.inet.ip.forwarding")!).Changed = changed.Add;
        var result = tree.TrySet("net.inet.ip.forwarding", "1");
        Assert.Equal(SysctlSetStatus.Ok, result.Status);
        Assert.Equal("net.inet.ip.forwarding: 0 -> 1", result.Line);
        Assert.Null(result.Message);
        Assert.Equal(1, ((SysctlInt)tree.Find("net.inet.ip.forwarding")!).Value);
        Assert.Equal([1L], changed);
    }

    [Theory]
    [InlineData("0x40", 64)]
    [InlineData("0X7f", 127)]
    [InlineData("255", 255)]
    [InlineData("+9", 9)]
    [InlineData("010", 10)]
    public void AcceptsDecimalAndHex(string text, long expected)
    {
        var tree = Sample();
        Assert.True(tree.TrySet("net.inet.ip.ttl", text).Succeeded);
        Assert.Equal(expected, ((SysctlInt)tree.Find("net.inet.ip.ttl")!).Value);
    }

    [Theory]
    [InlineData("abc", "invalid integer 'abc'")]
    [InlineData("12abc", "invalid integer '12abc'")]
    [InlineData("0x", "invalid integer '0x'")]
    [InlineData(" 5", "invalid integer ' 5'")]
    [InlineData("99999999999999999999", "invalid integer '99999999999999999999'")]
    [InlineData("", "empty numeric value")]
    public void RejectsGarbageAsSysctlDoes(string text, string message)
    {
        var tree = Sample();
        var result = tree.TrySet("net.inet.ip.ttl", text);
        Assert.Equal(SysctlSetStatus.InvalidValue, result.Status);
        Assert.True(result.IsParseError);
        Assert.False(result.ShowsOldValue);
        Assert.Equal(message, result.Message);
        Assert.Equal(64, ((SysctlInt)tree.Find("net.inet.ip.ttl")!).Value);
    }

    [Fact]
    public void OutOfRangeIsInvalidArgumentAfterTheOldValue()
    {
        var tree = Sample();
        var result = tree.TrySet("net.inet.ip.ttl", "256");
        Assert.Equal(SysctlSetStatus.OutOfRange, result.Status);
        Assert.True(result.ShowsOldValue);
        Assert.Equal("64", result.OldValue);
        Assert.Equal("net.inet.ip.ttl=256: Invalid argument", result.Message);
        Assert.Equal(SysctlSetStatus.OutOfRange, tree.TrySet("net.inet.ip.ttl", "-0x1").Status);
    }

    [Fact]
    public void UnknownReadOnlyAndInteriorNodesHaveSysctlMessages()
    {
        var tree = Sample();
        Assert.Equal("unknown oid 'net.inet.nope'", tree.TrySet("net.inet.nope", "1").Message);
        Assert.Equal(SysctlSetStatus.UnknownOid, tree.TrySet("net.inet.nope", "1").Status);
        Assert.Equal("oid 'kern.hz' is read only", tree.TrySet("kern.hz", "1").Message);
        Assert.Equal(SysctlSetStatus.ReadOnly, tree.TrySet("net.inet.tcp.functions_available", "x").Status);
        Assert.Equal("oid 'net.inet' isn't a leaf node", tree.TrySet("net.inet", "1").Message);
    }

    [Fact]
    public void StringSetterErrorIsPrintedAfterNameAndValue()
    {
        var tree = Sample();
        var ok = tree.TrySet("net.inet.tcp.functions_default", "rack");
        Assert.Equal("net.inet.tcp.functions_default: freebsd -> rack", ok.Line);
        var bad = tree.TrySet("net.inet.tcp.functions_default", "bbr");
        Assert.Equal(SysctlSetStatus.InvalidValue, bad.Status);
        Assert.True(bad.ShowsOldValue);
        Assert.Equal("net.inet.tcp.functions_default=bbr: No such file or directory", bad.Message);
        Assert.Equal("rack", tree.Find("net.inet.tcp.functions_default")!.FormatValue());
    }

    [Fact]
    public void NodesDescribeThemselves()
    {
        var tree = Sample();
        var ttl = tree.Find("net.inet.ip.ttl")!;
        Assert.Equal(SysctlKind.Integer, ttl.Kind);
        Assert.Equal("integer", ttl.TypeName);
        Assert.Equal("Maximum TTL on IP packets", ttl.Description);
        Assert.True(ttl.IsWritable);
        Assert.Equal("64", ttl.FormatValue());
        var available = tree.Find("net.inet.tcp.functions_available")!;
        Assert.Equal(SysctlKind.String, available.Kind);
        Assert.False(available.IsWritable);
        Assert.Equal("\nStack D", available.FormatValue());
        var inet = tree.Find("net.inet")!;
        Assert.Equal(SysctlKind.Node, inet.Kind);
        Assert.Equal("node", inet.TypeName);
        Assert.Equal(7, tree.Count);
    }

    [Fact]
    public void EnumeratesLeavesInComponentOrder()
    {
        var tree = Sample();
        Assert.Equal(
            ["kern.hz", "net.inet.ip.forwarding", "net.inet.ip.ttl", "net.inet.ip_x", "net.inet.tcp.functions_available", "net.inet.tcp.functions_default", "net.inet.tcp.mssdflt"],
            tree.Enumerate(null).Select(n => n.Name));
        Assert.Equal(["net.inet.ip.forwarding", "net.inet.ip.ttl"], tree.Enumerate("net.inet.ip").Select(n => n.Name));
        Assert.Equal(["net.inet.ip.ttl"], tree.Enumerate("net.inet.ip.ttl").Select(n => n.Name));
        Assert.Empty(tree.Enumerate("net.inet.i"));
        Assert.Empty(tree.Enumerate("net.inet."));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Net.inet")]
    [InlineData("net..inet")]
    [InlineData(".net")]
    [InlineData("net.")]
    [InlineData("net inet")]
    [InlineData("net.inet-x")]
    public void RejectsMalformedNames(string name)
    {
        Assert.Throws<ArgumentException>(() => new SysctlTree().AddInt(name, "", 0));
    }

    [Fact]
    public void RejectsDuplicatesAndLeavesUnderLeaves()
    {
        var tree = Sample();
        Assert.Throws<ArgumentException>(() => tree.AddInt("net.inet.ip.ttl", "", 0));
        Assert.Throws<ArgumentException>(() => tree.AddInt("net.inet", "", 0));
        Assert.Throws<ArgumentException>(() => tree.AddInt("net.inet.ip.ttl.x", "", 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => tree.AddInt("net.inet.ip.y", "", 5, 0, 1));
        Assert.Null(tree.Find("net.inet.ip.ttl.x"));
        Assert.Null(tree.Find("net.inet.ip.y"));
        tree.AddInt("dev.%parent", "percent is a valid name character", 1);
        Assert.NotNull(tree.Find("dev.%parent"));
    }

    private static readonly string[] Interesting =
        ["net.inet.ip.ttl", "net.inet", "net.inet.tcp.functions_default", "kern.hz", "", "0x", "-", "9223372036854775808", "-9223372036854775808", "200"];

    [Fact]
    public void HostileNamesAndValuesNeverThrow()
    {
        var tree = Sample();
        var text = Gen.OneOf(
            Gen.String,
            Gen.Char["abcnet.ip_0x%-+ 9"].Array[0, 24].Select(c => new string(c)),
            Gen.Int[0, Interesting.Length - 1].Select(i => Interesting[i]));
        Gen.Select(text, text).Sample((name, value) =>
        {
            _ = tree.Find(name);
            _ = tree.Enumerate(name).Count();
            var result = tree.TrySet(name, value);
            Assert.Equal(result.Status == SysctlSetStatus.Ok, result.Message is null);
            Assert.Equal(result.Status == SysctlSetStatus.Ok, result.Line is not null);
            var ttl = ((SysctlInt)tree.Find("net.inet.ip.ttl")!).Value;
            Assert.InRange(ttl, 1, 255);
        }, iter: 20_000);
        Assert.Null(tree.Find(null));
        Assert.Equal(SysctlSetStatus.UnknownOid, tree.TrySet(null, null).Status);
    }

    [Fact]
    public void ParsesTheWholeLongRange()
    {
        Assert.True(SysctlTree.TryParseInteger("-9223372036854775808", out var min));
        Assert.Equal(long.MinValue, min);
        Assert.True(SysctlTree.TryParseInteger("0x7fffffffffffffff", out var max));
        Assert.Equal(long.MaxValue, max);
        Assert.False(SysctlTree.TryParseInteger("9223372036854775808", out _));
        Assert.False(SysctlTree.TryParseInteger("-0x8000000000000001", out _));
        Assert.False(SysctlTree.TryParseInteger("１２", out _));
    }
}
