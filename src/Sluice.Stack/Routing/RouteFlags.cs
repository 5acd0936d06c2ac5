namespace Sluice.Stack.Routing;

/// <summary>Route flags with FreeBSD's <c>RTF_*</c> values (<c>sys/net/route.h</c>).</summary>
[Flags]
public enum RouteFlags
{
    /// <summary>No flags.</summary>
    None = 0,

    /// <summary>RTF_UP: route usable.</summary>
    Up = 0x1,

    /// <summary>RTF_GATEWAY: destination is reached through a gateway.</summary>
    Gateway = 0x2,

    /// <summary>RTF_HOST: host entry (net otherwise).</summary>
    Host = 0x4,

    /// <summary>RTF_REJECT: host or net unreachable.</summary>
    Reject = 0x8,

    /// <summary>RTF_DYNAMIC: created dynamically (by redirect).</summary>
    Dynamic = 0x10,

    /// <summary>RTF_MODIFIED: modified dynamically (by redirect).</summary>
    Modified = 0x20,

    /// <summary>RTF_DONE: message confirmed.</summary>
    Done = 0x40,

    /// <summary>RTF_XRESOLVE: external daemon resolves name.</summary>
    XResolve = 0x200,

    /// <summary>RTF_LLINFO: deprecated, kept for compatibility.</summary>
    LLInfo = 0x400,

    /// <summary>RTF_STATIC: manually added.</summary>
    Static = 0x800,

    /// <summary>RTF_BLACKHOLE: silently discard packets.</summary>
    Blackhole = 0x1000,

    /// <summary>RTF_PROTO2: protocol-specific routing flag.</summary>
    Proto2 = 0x4000,

    /// <summary>RTF_PROTO1: protocol-specific routing flag.</summary>
    Proto1 = 0x8000,

    /// <summary>RTF_PROTO3: protocol-specific routing flag.</summary>
    Proto3 = 0x40000,

    /// <summary>RTF_FIXEDMTU: MTU was explicitly specified.</summary>
    FixedMtu = 0x80000,

    /// <summary>RTF_PINNED: route is immutable.</summary>
    Pinned = 0x100000,

    /// <summary>RTF_LOCAL: route represents a local address.</summary>
    Local = 0x200000,

    /// <summary>RTF_BROADCAST: route represents a broadcast address.</summary>
    Broadcast = 0x400000,

    /// <summary>RTF_MULTICAST: route represents a multicast address.</summary>
    Multicast = 0x800000,
}

/// <summary>Formatting of <see cref="RouteFlags"/> as netstat(1) prints them.</summary>
public static class RouteFlagsFormat
{
    // usr.bin/netstat/route.c bits[]: the letters in the order netstat prints them.
    private static readonly (RouteFlags Flag, char Letter)[] Letters =
    [
        (RouteFlags.Up, 'U'),
        (RouteFlags.Gateway, 'G'),
        (RouteFlags.Host, 'H'),
        (RouteFlags.Reject, 'R'),
        (RouteFlags.Dynamic, 'D'),
        (RouteFlags.Modified, 'M'),
        (RouteFlags.Done, 'd'),
        (RouteFlags.XResolve, 'X'),
        (RouteFlags.Static, 'S'),
        (RouteFlags.Proto1, '1'),
        (RouteFlags.Proto2, '2'),
        (RouteFlags.Proto3, '3'),
        (RouteFlags.Blackhole, 'B'),
        (RouteFlags.Broadcast, 'b'),
        (RouteFlags.LLInfo, 'L'),
    ];

    /// <summary>The Flags column of <c>netstat -rn</c>, e.g. <c>UGS</c>; flags without a letter are not shown.</summary>
    public static string FormatNetstatFlags(this RouteFlags flags)
    {
        Span<char> buffer = stackalloc char[Letters.Length];
        var n = 0;
        foreach (var (flag, letter) in Letters)
        {
            if ((flags & flag) != 0)
            {
                buffer[n++] = letter;
            }
        }

        return new string(buffer[..n]);
    }
}
