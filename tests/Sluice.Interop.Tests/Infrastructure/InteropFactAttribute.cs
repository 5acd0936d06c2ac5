using System.Runtime.InteropServices;

namespace Sluice.Interop.Tests.Infrastructure;

/// <summary>
/// A fact that needs root, /dev/net/tun and iproute2. Skipped with the reason printed when those are missing,
/// except under CI (<c>CI=true</c>), where it always runs so that a broken machine fails loudly.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class InteropFactAttribute : FactAttribute
{
    public InteropFactAttribute()
    {
        if (InteropEnvironment.MissingReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A theory with the same requirements and skipping rule as <see cref="InteropFactAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class InteropTheoryAttribute : TheoryAttribute
{
    public InteropTheoryAttribute()
    {
        if (InteropEnvironment.MissingReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>What the host lacks for interop tests (null when everything is there, or under CI).</summary>
public static partial class InteropEnvironment
{
    private static readonly Lazy<string?> Reason = new(Compute);

    /// <summary>True when running under CI (<c>CI=true</c>): interop tests never skip.</summary>
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Why interop tests are skipped here, or null when they run.</summary>
    public static string? MissingReason => Reason.Value;

    /// <summary>Finds an executable on PATH (and the sbin directories root normally has).</summary>
    public static string? FindExecutable(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static string? Compute()
    {
        var missing = new List<string>();
        if (!IsRoot())
        {
            missing.Add($"not root (user {Environment.UserName})");
        }

        if (!File.Exists("/dev/net/tun"))
        {
            missing.Add("no /dev/net/tun");
        }

        if (FindExecutable("ip") is null)
        {
            missing.Add("no 'ip' (iproute2) on PATH");
        }

        if (missing.Count == 0)
        {
            return null;
        }

        var reason = "Interop test needs root, /dev/net/tun and iproute2: " + string.Join(", ", missing) + ".";
        if (IsCi)
        {
            Console.Error.WriteLine($"[interop] CI=true, running anyway: {reason}");
            return null;
        }

        Console.Error.WriteLine($"[interop] skipping: {reason}");
        return reason;
    }

    private static bool IsRoot()
    {
        try
        {
            return GetEffectiveUserId() == 0;
        }
        catch (DllNotFoundException)
        {
            return Environment.UserName == "root";
        }
        catch (EntryPointNotFoundException)
        {
            return Environment.UserName == "root";
        }
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();
}
