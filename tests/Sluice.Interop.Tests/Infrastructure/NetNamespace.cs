using System.Security.Cryptography;

namespace Sluice.Interop.Tests.Infrastructure;

/// <summary>
/// A Linux network namespace made for one test (<c>sl-</c> plus random hex), deleted on <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// Every command run inside is bounded by a timeout and killed when it overruns. Tests only use documentation
/// address ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) inside namespaces they made.
/// </remarks>
public sealed class NetNamespace : IDisposable
{
    private readonly ITestOutputHelper? _log;
    private int _disposed;

    private NetNamespace(string name, ITestOutputHelper? log)
    {
        Name = name;
        _log = log;
    }

    /// <summary>The namespace's name (as <c>ip netns</c> knows it).</summary>
    public string Name { get; }

    /// <summary>Creates a fresh, uniquely named namespace with its loopback up.</summary>
    public static NetNamespace Create(ITestOutputHelper? log = null)
    {
        var name = "sl-" + RandomHex(4);
        Command.Run("ip", ["netns", "add", name], log: log).EnsureSuccess();
        var ns = new NetNamespace(name, log);
        try
        {
            ns.Exec("ip", "link", "set", "lo", "up").EnsureSuccess();
            return ns;
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    /// <summary>A unique Linux interface name: <paramref name="prefix"/> plus six hex digits (at most 15 bytes).</summary>
    public static string NewDeviceName(string prefix = "slt") => prefix + RandomHex(3);

    /// <summary>Random lowercase hex of <paramref name="bytes"/> bytes.</summary>
    public static string RandomHex(int bytes) => Convert.ToHexString(RandomNumberGenerator.GetBytes(bytes)).ToLowerInvariant();

    /// <summary>Runs <paramref name="arguments"/> inside the namespace with the default timeout.</summary>
    public CommandResult Exec(params string[] arguments) => Exec(Command.DefaultTimeout, arguments);

    /// <summary>Runs <paramref name="arguments"/> inside the namespace, killed after <paramref name="timeout"/>.</summary>
    public CommandResult Exec(TimeSpan timeout, params string[] arguments) =>
        ExecAsync(timeout, arguments).GetAwaiter().GetResult();

    /// <summary>Starts <paramref name="arguments"/> inside the namespace; completes when it exits or is killed.</summary>
    public Task<CommandResult> ExecAsync(TimeSpan timeout, params string[] arguments) =>
        Command.RunAsync("ip", ["netns", "exec", Name, .. arguments], timeout, _log);

    /// <summary>Moves the Linux device <paramref name="device"/> (e.g. a TAP link's) into this namespace.</summary>
    /// <remarks>A TAP descriptor keeps working after its device moved.</remarks>
    public void AdoptLink(string device) =>
        Command.Run("ip", ["link", "set", device, "netns", Name], log: _log).EnsureSuccess();

    /// <summary>
    /// Gives <paramref name="device"/> (already in this namespace) the addresses given and brings it up.
    /// IPv6 addresses are added with <c>nodad</c> so that they are usable at once.
    /// </summary>
    public void ConfigureLink(string device, string? ipv4 = "192.0.2.1/24", string? ipv6 = "2001:db8::1/64")
    {
        if (ipv4 is not null)
        {
            Exec("ip", "addr", "add", ipv4, "dev", device).EnsureSuccess();
        }

        if (ipv6 is not null)
        {
            Exec("ip", "-6", "addr", "add", ipv6, "dev", device, "nodad").EnsureSuccess();
        }

        Exec("ip", "link", "set", device, "up").EnsureSuccess();
    }

    /// <summary>Moves <paramref name="device"/> here and configures it (see <see cref="ConfigureLink"/>).</summary>
    public void AdoptAndConfigure(string device, string? ipv4 = "192.0.2.1/24", string? ipv6 = "2001:db8::1/64")
    {
        AdoptLink(device);
        ConfigureLink(device, ipv4, ipv6);
    }

    /// <summary>Kills what still runs inside and deletes the namespace; idempotent, never throws (errors are logged).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            var pids = Command.Run("ip", ["netns", "pids", Name], TimeSpan.FromSeconds(5), _log);
            foreach (var pid in pids.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                Command.Run("kill", ["-9", pid], TimeSpan.FromSeconds(5), _log);
            }

            var deleted = Command.Run("ip", ["netns", "delete", Name], log: _log);
            if (!deleted.Succeeded)
            {
                Command.Log(_log, $"[interop] could not delete namespace {Name}: {deleted}");
            }
        }
        catch (Exception e)
        {
            Command.Log(_log, $"[interop] error deleting namespace {Name}: {e}");
        }
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
