namespace Sluice.Stack.Routing;

/// <summary>One routing table entry: a destination prefix and where packets to it go.</summary>
/// <typeparam name="TAddress">The address family's address type (<c>IPv4Address</c> or <c>IPv6Address</c>).</typeparam>
/// <remarks>
/// <see cref="Destination"/> must have no bits set beyond <see cref="PrefixLength"/>; the tables refuse it otherwise
/// (route(8) masks what the user typed before it asks the kernel).
/// </remarks>
public sealed class Route<TAddress>(TAddress destination, int prefixLength, TAddress? gateway, int interfaceIndex, RouteFlags flags)
    where TAddress : struct, IEquatable<TAddress>, IComparable<TAddress>
{
    /// <summary>The network (or host) address, masked to <see cref="PrefixLength"/>.</summary>
    public TAddress Destination { get; } = destination;

    /// <summary>Number of leading bits that must match; 0 for the default route.</summary>
    public int PrefixLength { get; } = prefixLength;

    /// <summary>The next hop, or null for a route to a directly connected network (netstat prints <c>link#N</c>).</summary>
    public TAddress? Gateway { get; } = gateway;

    /// <summary>Index of the outgoing interface.</summary>
    public int InterfaceIndex { get; } = interfaceIndex;

    /// <summary>RTF_* flags.</summary>
    public RouteFlags Flags { get; set; } = flags;

    /// <summary>Path MTU for this route; 0 means the interface MTU.</summary>
    public int Mtu { get; set; }

    /// <summary>
    /// For routes to the stack's own addresses (which go via lo0): the index of the interface that owns the address,
    /// shown as the gateway `link#N` by netstat; 0 otherwise.
    /// </summary>
    public int GatewayInterfaceIndex { get; init; }

    /// <summary>
    /// Scope zone of the destination (the interface index of a link-local <c>fe80::%IF</c> prefix or host, as KAME
    /// embeds it in the address); 0 for global destinations and for all IPv4 routes.
    /// </summary>
    public int Zone { get; init; }

    /// <summary>
    /// Counters of the interface address the route was made from or reaches its gateway through (FreeBSD's
    /// <c>nh_ifa</c>): ip_output counts packets sent over the route on it. Null when there is none.
    /// </summary>
    public Interfaces.AddressCounters? Ifa { get; set; }

    /// <summary>Number of times the route was used; the forwarding path increments it.</summary>
    public long Uses { get; set; }

    /// <summary>Absolute expiry time in nanoseconds of the stack's clock; 0 for none.</summary>
    public long Expire { get; set; }

    /// <summary>True for the default route (prefix length 0).</summary>
    public bool IsDefault => PrefixLength == 0;

    /// <inheritdoc />
    public override string ToString() =>
        $"{Destination}/{PrefixLength} {(Gateway is { } g ? g.ToString() : $"link#{InterfaceIndex}")} {Flags.FormatNetstatFlags()}";
}

/// <summary>The texts route(8) prints when the kernel refuses a change.</summary>
public static class RouteErrors
{
    /// <summary>EEXIST: route(8) prints <c>add net D: gateway G: route already in table</c>.</summary>
    public const string AlreadyInTable = "route already in table";

    /// <summary>ESRCH: route(8) prints <c>delete net D: not in table</c>.</summary>
    public const string NotInTable = "not in table";

    /// <summary>EINVAL (bad prefix length or host bits beyond the prefix), printed as strerror.</summary>
    public const string InvalidArgument = "Invalid argument";

    /// <summary>The warning route(8) prints on stderr (after <c>route: </c>) for an EEXIST from the routing socket.</summary>
    public const string WritingExists = "writing to routing socket: File exists";

    /// <summary>The warning route(8) prints on stderr (after <c>route: </c>) for an ESRCH from the routing socket.</summary>
    public const string WritingNoSuchProcess = "writing to routing socket: No such process";
}
