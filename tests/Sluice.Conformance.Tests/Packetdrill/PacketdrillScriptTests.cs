using Sluice.Cli.Packetdrill;

namespace Sluice.Conformance.Tests.Packetdrill;

/// <summary>
/// The FreeBSD TCP test suite's packetdrill scripts (<c>shared/conformance/packetdrill/freebsd</c>), each run in-process
/// on virtual time under both TCP stacks (<c>freebsd</c>, <c>rack</c>) as FreeBSD runs them under whatever
/// <c>functions_default</c> is. A (stack, script) pair listed in <c>known-failures.txt</c> must fail (so the list stays
/// honest: fixing the stack makes the suite ask for the line to be removed); every other pair must pass.
/// </summary>
public sealed class PacketdrillScriptTests
{
    private static readonly string? Folder = ConformancePaths.Suite(Path.Combine("packetdrill", "freebsd"));

    private static readonly string[] Stacks = ["freebsd", "rack"];

    public static TheoryData<string, string> Scripts()
    {
        var data = new TheoryData<string, string>();
        if (Folder is null)
        {
            data.Add("freebsd", "(missing)");
            return data;
        }

        foreach (var f in Directory.GetFiles(Folder, "*.pkt", SearchOption.AllDirectories).Select(RelativeName).Order(StringComparer.Ordinal))
        {
            foreach (var stack in Stacks)
            {
                data.Add(stack, f);
            }
        }

        return data;
    }

    private static string RelativeName(string path) => Path.GetRelativePath(Folder!, path).Replace('\\', '/');

    /// <summary>Known failures: "stack script" → reason.</summary>
    internal static Dictionary<string, string> KnownFailures()
    {
        var path = ConformancePaths.SourceFile(Path.Combine("Packetdrill", "known-failures.txt"));
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

            var parts = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
            map[parts.Length > 1 ? $"{parts[0]} {parts[1]}" : parts[0]] = parts.Length > 2 ? parts[2] : string.Empty;
        }

        return map;
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void ScriptPassesOrFailsAsListed(string stack, string script)
    {
        Assert.True(Folder is not null, "shared/conformance/packetdrill/freebsd not found beside or above the test assembly");
        var failure = PacketdrillCommand.RunText(File.ReadAllText(Path.Combine(Folder!, script)), script, stack, TextWriter.Null);
        var listed = KnownFailures().TryGetValue($"{stack} {script}", out var reason);
        if (failure is null && listed)
        {
            Assert.Fail($"{script} now passes under {stack}: remove '{stack} {script}' from Packetdrill/known-failures.txt (was: {reason})");
        }

        if (failure is not null && !listed)
        {
            Assert.Fail($"{script} fails under {stack} and is not in Packetdrill/known-failures.txt:\n{failure}");
        }
    }

    [Fact]
    public void EveryKnownFailureNamesAScriptAndGivesAReason()
    {
        Assert.True(Folder is not null, "shared/conformance/packetdrill/freebsd not found");
        foreach (var (key, reason) in KnownFailures())
        {
            var parts = key.Split(' ');
            Assert.True(parts.Length == 2 && Stacks.Contains(parts[0]), $"'{key}': expected 'STACK SCRIPT REASON'");
            Assert.True(File.Exists(Path.Combine(Folder!, parts[1])), $"'{key}': no such script");
            Assert.True(reason.StartsWith("stack:", StringComparison.Ordinal) || reason.StartsWith("interpreter:", StringComparison.Ordinal),
                $"'{key}': the reason must say whose gap it is (stack: or interpreter:), got '{reason}'");
        }
    }
}
