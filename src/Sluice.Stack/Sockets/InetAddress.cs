using Sluice.Wire;

namespace Sluice.Stack.Sockets;

/// <summary>An IPv4 or IPv6 address, without allocation (the stack's sockaddr).</summary>
public readonly record struct InetAddress
{
    private InetAddress(bool isV6, IPv4Address v4, IPv6Address v6)
    {
        IsIPv6 = isV6;
        V4 = v4;
        V6 = v6;
    }

    /// <summary>True for IPv6.</summary>
    public bool IsIPv6 { get; }

    /// <summary>The IPv4 address (when not <see cref="IsIPv6"/>).</summary>
    public IPv4Address V4 { get; }

    /// <summary>The IPv6 address (when <see cref="IsIPv6"/>).</summary>
    public IPv6Address V6 { get; }

    /// <summary>True for 0.0.0.0 or ::.</summary>
    public bool IsUnspecified => IsIPv6 ? V6.IsUnspecified : V4.IsUnspecified;

    public static implicit operator InetAddress(IPv4Address address) => new(false, address, default);

    public static implicit operator InetAddress(IPv6Address address) => new(true, default, address);

    /// <summary>Parses dotted-quad or IPv6 text.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out InetAddress address)
    {
        if (IPv4Address.TryParse(text, out var v4))
        {
            address = v4;
            return true;
        }

        if (IPv6Address.TryParse(text, out var v6))
        {
            address = v6;
            return true;
        }

        address = default;
        return false;
    }

    /// <inheritdoc />
    public override string ToString() => IsIPv6 ? V6.ToString() : V4.ToString();
}

/// <summary>An address and port.</summary>
public readonly record struct InetEndpoint(InetAddress Address, ushort Port)
{
    /// <inheritdoc />
    public override string ToString() => Address.IsIPv6 ? $"[{Address}]:{Port}" : $"{Address}:{Port}";
}
