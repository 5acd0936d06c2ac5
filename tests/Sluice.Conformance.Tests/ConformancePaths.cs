namespace Sluice.Conformance.Tests;

/// <summary>Finds the third-party conformance suites and this project's source folder from the test assembly.</summary>
internal static class ConformancePaths
{
    /// <summary>
    /// The folder <c>shared/conformance/&lt;suite&gt;</c>: looked for beside or inside every parent of the test assembly's
    /// directory (CI clones the repo with <c>shared/</c> as its sibling), so it is found from any checkout layout.
    /// </summary>
    public static string? Suite(string suite)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "conformance", suite);
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>A file of this test project's source tree (e.g. <c>Pfctl/known-failures.txt</c>), found by walking up.</summary>
    public static string? SourceFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Sluice.Conformance.Tests", relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
