namespace Sluice.Stack.Interfaces;

/// <summary>Interface flags with FreeBSD's IFF_* bit values (sys/net/if.h).</summary>
[Flags]
public enum InterfaceFlags
{
    None = 0,
    Up = 0x1,
    Broadcast = 0x2,
    Debug = 0x4,
    Loopback = 0x8,
    PointToPoint = 0x10,
    /// <summary>IFF_NEEDSEPOCH: kernel-internal; counted in the value, never named by ifconfig.</summary>
    NeedsEpoch = 0x20,
    Running = 0x40,
    NoArp = 0x80,
    Promisc = 0x100,
    AllMulti = 0x200,
    OActive = 0x400,
    Simplex = 0x800,
    Link0 = 0x1000,
    Link1 = 0x2000,
    Link2 = 0x4000,
    Multicast = 0x8000,
    CantConfig = 0x10000,
    PPromisc = 0x20000,
    Monitor = 0x40000,
    StaticArp = 0x80000,
    StickyArp = 0x100000,
    Dying = 0x200000,
    Renaming = 0x400000,
    LowerUp = 0x1000000,
}

/// <summary>IPv6 per-interface ND flags (ND6_IFF_*, sys/netinet6/nd6.h) as shown by `ifconfig` in `nd6 options=`.</summary>
[Flags]
public enum Nd6Flags
{
    None = 0,
    PerformNud = 0x1,
    AcceptRtadv = 0x2,
    Prefer_Source = 0x4,
    IfDisabled = 0x8,
    DontSetIfroute = 0x10,
    AutoLinkLocal = 0x20,
    NoRadr = 0x40,
    NoPreferIface = 0x80,
    NoDad = 0x100,
}

/// <summary>Per-address IPv6 flags (IN6_IFF_*).</summary>
[Flags]
public enum IPv6AddressFlags
{
    None = 0,
    Anycast = 0x01,
    Tentative = 0x02,
    Duplicated = 0x04,
    Detached = 0x08,
    Deprecated = 0x10,
    NoDad = 0x20,
    Autoconf = 0x40,
    Temporary = 0x80,
    PreferSource = 0x100,
}
