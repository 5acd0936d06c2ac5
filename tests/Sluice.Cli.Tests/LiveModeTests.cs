namespace Sluice.Cli.Tests;

/// <summary>What a virtual-time lab says about the live (real-time) features, and <c>sluice run</c>'s argument checks. No root needed.</summary>
public sealed class LiveModeTests
{
    [Theory]
    [InlineData("ifconfig tap0 create")]
    [InlineData("ifconfig tap create")]
    public void AVirtualLabRefusesTapDevices(string command)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var lab = new Lab(stdout, stderr);
        Assert.False(lab.IsRealTime);
        Assert.Equal(1, lab.Execute(command));
        Assert.StartsWith("ifconfig: SIOCIFCREATE2 (tap", stderr.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("): Operation not supported in a virtual-time lab\n", stderr.ToString(), StringComparison.Ordinal);
        Assert.Empty(lab.Taps);
        Assert.Equal("lo0\n", Run(lab, stdout, "ifconfig -l"));
    }

    [Theory]
    [InlineData("ifconfig tap0x create", "ifconfig: SIOCIFCREATE2 (tap0x): Invalid argument\n")]
    [InlineData("ifconfig tap01 create", "ifconfig: SIOCIFCREATE2 (tap01): Invalid argument\n")]
    public void BadTapNamesAreInvalidArguments(string command, string message)
    {
        var stderr = new StringWriter();
        using var lab = new Lab(new StringWriter(), stderr);
        Assert.Equal(1, lab.Execute(command));
        Assert.Equal(message, stderr.ToString());
    }

    [Fact]
    public void AVirtualLabStillRefusesAnEndlessPing()
    {
        var stderr = new StringWriter();
        using var lab = new Lab(new StringWriter(), stderr);
        Assert.Equal(64, lab.Execute("ping 127.0.0.1"));
        Assert.Contains("give -c count or -t timeout", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ARealTimeLabWithoutDevicesSleepsOnTheRealClock()
    {
        var stdout = new StringWriter();
        using var lab = Lab.CreateRealTime(stdout, new StringWriter());
        Assert.True(lab.IsRealTime);
        var before = lab.Loop.Now;
        Assert.Equal(0, lab.Execute("sleep 0.05"));
        Assert.InRange(lab.Loop.Now - before, 50_000_000L, 5_000_000_000L);
        Assert.Equal(0, lab.Execute("ping -c 2 -i 0.05 127.0.0.1"));
        Assert.Contains("2 packets transmitted, 2 packets received, 0.0% packet loss", stdout.ToString(), StringComparison.Ordinal);
        lab.StopAfter(TimeSpan.FromMilliseconds(50));
        lab.RunUntilStopped(TimeSpan.FromSeconds(10));
        Assert.True(lab.Stopping.IsCancellationRequested);
        Assert.Equal(0, lab.Execute("sleep 100")); // a stopped lab's sleep returns at once
    }

    [Theory]
    [InlineData(new[] { "run" }, "usage: sluice run [-p linux-prefix] [-t seconds] FILE\n")]
    [InlineData(new[] { "run", "-t", "0", "x.lab" }, "sluice run: invalid time limit: `0'\n")]
    [InlineData(new[] { "run", "-p", "much-too-long-prefix", "x.lab" }, "sluice run: invalid Linux interface prefix: `much-too-long-prefix'\n")]
    [InlineData(new[] { "run", "-x", "x.lab" }, "sluice run: illegal option -- x\n")]
    public void RunChecksItsArguments(string[] args, string message)
    {
        var stderr = new StringWriter();
        Assert.Equal(Cli.ExitUsage, Cli.Run(args, new StringWriter(), stderr));
        Assert.StartsWith(message, stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void RunOfAMissingFileIsNoInput()
    {
        var stderr = new StringWriter();
        Assert.Equal(Cli.ExitNoInput, Cli.Run(["run", "-t", "5", "/nonexistent/x.lab"], new StringWriter(), stderr));
        Assert.Equal("sluice: /nonexistent/x.lab: No such file or directory\n", stderr.ToString());
    }

    private static string Run(Lab lab, StringWriter stdout, string command)
    {
        var before = stdout.GetStringBuilder().Length;
        Assert.Equal(0, lab.Execute(command));
        return stdout.ToString()[before..];
    }
}
