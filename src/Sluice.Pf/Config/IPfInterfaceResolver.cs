namespace Sluice.Pf.Config;

/// <summary>An address of an interface, as getifaddrs(3) reports it to pfctl.</summary>
public readonly record struct PfInterfaceAddress(PfIp Address, int Prefix, PfIp? Broadcast = null, PfIp? Peer = null, bool IsLoopback = false);

/// <summary>What the parser may ask about the host's interfaces (pfctl's ifa_lookup).</summary>
public interface IPfInterfaceResolver
{
    /// <summary>The addresses of interface (or group) <paramref name="name"/>, or null when there is no such interface.</summary>
    IReadOnlyList<PfInterfaceAddress>? Addresses(string name);

    /// <summary>All addresses of all interfaces (<c>self</c>).</summary>
    IReadOnlyList<PfInterfaceAddress> AllAddresses();
}

/// <summary>A resolver for a host with no interfaces.</summary>
public sealed class PfNoInterfaces : IPfInterfaceResolver
{
    /// <summary>The instance.</summary>
    public static readonly PfNoInterfaces Instance = new();

    /// <inheritdoc/>
    public IReadOnlyList<PfInterfaceAddress>? Addresses(string name) => null;

    /// <inheritdoc/>
    public IReadOnlyList<PfInterfaceAddress> AllAddresses() => [];
}
