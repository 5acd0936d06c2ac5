using Sluice.Wire;

namespace Sluice.Stack.Sockets;

/// <summary>An IPv4 or IPv6 address with its IPv6 scope zone, without allocation (the stack's sockaddr).</summary>
/// <remarks>
/// Equality includes <see cref="ScopeId"/>: <c>fe80::1%epair0a</c> and <c>fe80::1%epair1a</c> are different peers, as
/// they are in FreeBSD's PCBs (the zone embedded in the address).
/// </remarks>
public readonly record struct InetAddress
{
    private InetAddress(bool isV6, IPv4Address v4, IPv6Address v6, uint scopeId = 0)
    {
        IsIPv6 = isV6;
        V4 = v4;
        V6 = v6;
        ScopeId = scopeId;
    }

    /// <summary>
    /// sin6_scope_id: the interface index of the zone of a link-local (or link/interface-local multicast) address,
    /// 0 for none.
    /// </summary>
    public uint ScopeId { get; }

    /// <summary>An IPv6 address in the zone of interface index <paramref name="scopeId"/> (<c>fe80::1%2</c>).</summary>
    public static InetAddress Scoped(IPv6Address address, uint scopeId) => new(true, default, address, scopeId);

    /// <summary>The same address without its zone.</summary>
    public InetAddress WithoutScope => new(IsIPv6, V4, V6);

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

    /// <summary>Parses dotted-quad or IPv6 text; IPv6 may carry a numeric zone (<c>fe80::1%2</c>; names need a stack).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out InetAddress address)
    {
        if (IPv4Address.TryParse(text, out var v4))
        {
            address = v4;
            return true;
        }

        var percent = text.IndexOf('%');
        if (percent >= 0)
        {
            if (IPv6Address.TryParse(text[..percent], out var scoped)
                && uint.TryParse(text[(percent + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var zone))
            {
                address = Scoped(scoped, zone);
                return true;
            }

            address = default;
            return false;
        }

        if (IPv6Address.TryParse(text, out var v6))
        {
            address = v6;
            return true;
        }

        address = default;
        return false;
    }

    /// <summary>The address with a numeric zone (<c>fe80::1%2</c>), as getnameinfo prints it when the index has no name.</summary>
    public override string ToString() => IsIPv6 ? ScopeId != 0 ? $"{V6}%{ScopeId}" : V6.ToString() : V4.ToString();

    /// <summary>
    /// The address as FreeBSD's tools print it (getnameinfo NI_NUMERICHOST): the zone by interface name,
    /// <c>fe80::1%epair0a</c>, when <paramref name="stack"/> has that interface.
    /// </summary>
    public string ToString(NetStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        if (!IsIPv6 || ScopeId == 0)
        {
            return ToString();
        }

        return ScopeId <= int.MaxValue && stack.InterfaceByIndex((int)ScopeId) is { } ifp ? $"{V6}%{ifp.Name}" : ToString();
    }
}

/// <summary>An address (with its IPv6 zone) and port.</summary>
public readonly record struct InetEndpoint(InetAddress Address, ushort Port)
{
    /// <summary>sin6_scope_id of the address (0 = none).</summary>
    public uint ScopeId => Address.ScopeId;

    /// <inheritdoc />
    public override string ToString() => Address.IsIPv6 ? $"[{Address}]:{Port}" : $"{Address}:{Port}";

    /// <summary>As <see cref="ToString()"/> with the zone by interface name: <c>[fe80::1%epair0a]:53</c>.</summary>
    public string ToString(NetStack stack) => Address.IsIPv6 ? $"[{Address.ToString(stack)}]:{Port}" : $"{Address}:{Port}";
}
