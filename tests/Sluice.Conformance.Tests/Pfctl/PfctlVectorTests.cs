using System.Text.RegularExpressions;
using Sluice.Cli;

namespace Sluice.Conformance.Tests.Pfctl;

/// <summary>
/// FreeBSD's pfctl regress vectors (sbin/pfctl/tests/files), run as FreeBSD runs them: <c>pfctl -o none -nvf pfNNNN.in</c>
/// from the vector folder, stdout and stderr together, byte-exact against <c>.ok</c> plus the selfpf fixed point, or the
/// <c>.fail</c> regex. Vectors in <c>known-failures.txt</c> must fail (so the list stays honest); all others must pass.
/// </summary>
public sealed class PfctlVectorTests
{
    private static readonly string? Folder = ConformancePaths.Suite("pfctl");

    public static TheoryData<string> Vectors()
    {
        var data = new TheoryData<string>();
        if (Folder is null)
        {
            data.Add("(missing)");
            return data;
        }

        foreach (var f in Directory.GetFiles(Folder, "pf*.in").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileNameWithoutExtension(f));
        }

        return data;
    }

    /// <summary>Known failures: vector name → one-line reason.</summary>
    internal static Dictionary<string, string> KnownFailures()
    {
        var path = ConformancePaths.SourceFile(Path.Combine("Pfctl", "known-failures.txt"));
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (path is null)
        {
            return map;
        }

        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var sp = line.IndexOf(' ', StringComparison.Ordinal);
            map[sp < 0 ? line : line[..sp]] = sp < 0 ? string.Empty : line[(sp + 1)..].Trim();
        }

        return map;
    }

    /// <summary>Runs <c>pfctl</c> with <paramref name="args"/> in a fresh lab host (with the interface tests' vlan when asked).</summary>
    internal static (int Status, string Output) RunPfctl(string workingDirectory, string? vlan, params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        using var lab = new Lab(output, output);
        if (vlan is not null)
        {
            lab.Host.CreateInterface(vlan, null, "vlan");
            lab.Execute(["ifconfig", vlan, "inet", "203.0.113.5/30"]);
            lab.Execute(["ifconfig", vlan, "inet6", "2001:db8::203.0.113.5/126"]);
            output.GetStringBuilder().Clear();
        }

        var ctx = new ToolContext(lab, null, lab.Host, output, output, "pfctl");
        var status = new Sluice.Cli.Pfctl().Run(ctx, args, workingDirectory);
        return (status, output.ToString());
    }

    /// <summary>Checks one vector; returns null when it passes, else why not.</summary>
    internal static string? Check(string name)
    {
        if (Folder is null)
        {
            return "conformance folder shared/conformance/pfctl not found";
        }

        var number = int.Parse(name.AsSpan(2), System.Globalization.CultureInfo.InvariantCulture);
        var vlan = number is >= 1057 and <= 1064 ? $"vlan{number}" : null;
        var (status, output) = RunPfctl(Folder, vlan, "-o", "none", "-nvf", name + ".in");
        var fail = Path.Combine(Folder, name + ".fail");
        if (File.Exists(fail))
        {
            var pattern = File.ReadAllText(fail).TrimEnd('\n');
            return Regex.IsMatch(output, pattern) ? null : $"output does not match /{pattern}/:\n{output}";
        }

        var expected = File.ReadAllText(Path.Combine(Folder, name + ".ok"));
        if (status != 0 || output != expected)
        {
            return $"status {status}; expected:\n{expected}\nactual:\n{output}";
        }

        if (vlan is not null)
        {
            return null;
        }

        var (status2, again) = RunPfctl(Folder, null, "-o", "none", "-nvf", name + ".ok");
        return status2 == 0 && again == expected ? null : $"selfpf: {name}.ok is not a fixed point:\n{again}";
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void VectorMatchesFreeBsdOutput(string name)
    {
        Assert.NotNull(Folder);
        var known = KnownFailures();
        var problem = Check(name);
        if (known.TryGetValue(name, out var reason))
        {
            Assert.True(problem is not null, $"{name} now passes: remove it from known-failures.txt (was: {reason})");
        }
        else
        {
            Assert.True(problem is null, $"{name}: {problem}");
        }
    }

    [Fact]
    public void KnownFailuresNameExistingVectorsWithReasons()
    {
        Assert.NotNull(Folder);
        foreach (var (name, reason) in KnownFailures())
        {
            Assert.True(File.Exists(Path.Combine(Folder!, name + ".in")), $"{name} listed but not a vector");
            Assert.False(string.IsNullOrWhiteSpace(reason), $"{name} has no written reason");
        }
    }
}
