using Xunit.Abstractions;

namespace Sluice.Testing;

/// <summary>Finds tshark for the tests that cross-check what Sluice writes against Wireshark's dissectors.</summary>
internal static class Tshark
{
    /// <summary>
    /// The tshark executable, or null when it is not installed: then the caller skips its cross-check after this has
    /// printed why, except under <c>CI=true</c>, where a missing tshark fails the test (.ci/run installs it).
    /// </summary>
    public static string? Find(ITestOutputHelper output)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var candidate = Path.Combine(dir, "tshark");
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.False(Environment.GetEnvironmentVariable("CI") == "true", "tshark is required when CI=true");
        output.WriteLine("tshark not installed; skipping the cross-check.");
        return null;
    }
}
