using System.Globalization;
using Sluice.Stack;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Routing;
using Sluice.Wire;

namespace Sluice.Cli;

/// <summary>
/// IPv6 literals with a zone, <c>fe80::1%epair0a</c> or <c>fe80::1%2</c> (RFC 4007 §11), as getaddrinfo(3) reads them
/// for the tools (lib/libc/net/getaddrinfo.c ip6_str2scopeid) and as the kernel then checks them (scope6.c
/// sa6_embedscope / sa6_checkzone).
/// </summary>
/// <remarks>
/// For a scoped address (link-local unicast, interface- or link-local multicast) the zone is an interface name, else a
/// decimal interface index; other addresses take only a numeric zone, and the kernel refuses any but 0 for them. The
/// zone must name an interface of the stack. Never throws: bad input gives false and a reason.
/// </remarks>
internal static class ScopedAddress
{
    /// <summary>Parses <paramref name="text"/> (<c>addr</c> or <c>addr%zone</c>); <paramref name="zone"/> is null without a zone.</summary>
    public static bool TryParse(string? text, NetStack stack, out IPv6Address address, out NetworkInterface? zone, out string? error)
    {
        address = default;
        zone = null;
        error = null;
        if (string.IsNullOrEmpty(text))
        {
            error = "empty address";
            return false;
        }

        var percent = text.IndexOf('%', StringComparison.Ordinal);
        var literal = percent < 0 ? text : text[..percent];
        if (!IPv6Address.TryParse(literal, out address))
        {
            error = "not an IPv6 address";
            return false;
        }

        if (percent < 0)
        {
            return true;
        }

        var scope = text[(percent + 1)..];
        if (scope.Length == 0)
        {
            error = "empty zone";
            return false;
        }

        var scoped = IPv6RouteTable.IsScoped(address);
        if (scoped && stack.FindInterface(scope) is { } byName)
        {
            zone = byName;
            return true;
        }

        if (!uint.TryParse(scope, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            error = $"no such interface: {scope}";
            return false;
        }

        if (index == 0)
        {
            return true; // %0: no zone
        }

        if (!scoped)
        {
            error = "a zone is only allowed on a link-local address"; // sa6_checkzone: EINVAL
            return false;
        }

        if (index > ushort.MaxValue || stack.InterfaceByIndex((int)index) is not { } byIndex)
        {
            error = $"no interface with index {scope}"; // sa6_embedscope: ENXIO
            return false;
        }

        zone = byIndex;
        return true;
    }

    /// <summary>The address as getnameinfo(NI_NUMERICHOST) prints it: scoped addresses with <c>%ifname</c> when the zone is known.</summary>
    public static string Format(IPv6Address address, NetworkInterface? zone) =>
        zone is not null && IPv6RouteTable.IsScoped(address) ? $"{address}%{zone.Name}" : address.ToString();
}
