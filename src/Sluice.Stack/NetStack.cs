using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Links;
using Sluice.Stack.Pfil;
using Sluice.Stack.Routing;
using Sluice.Stack.Sysctl;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack;

/// <summary>Options for a <see cref="NetStack"/>.</summary>
public sealed record NetStackOptions
{
    /// <summary>VNET name (the jail's name; "host" for the host).</summary>
    public string Name { get; init; } = "host";

    /// <summary>Host name (kern.hostname).</summary>
    public string? Hostname { get; init; }

    /// <summary>Seed of the stack's random source (IP ids, ports, ISNs): same seed, same run.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// Install the IPv6 routes /etc/rc.d/routing adds at boot (static_inet6): <c>::/96</c>, <c>::ffff:0.0.0.0/96</c>,
    /// <c>fe80::/10</c> and <c>ff02::/16</c> rejected via ::1 on lo0. On by default: a Sluice VNET is a configured
    /// system (lo0 up, as rc leaves it); off gives the bare kernel table of a VNET jail that never ran rc.
    /// </summary>
    public bool StaticInet6Routes { get; init; } = true;
}

/// <summary>
/// One VNET: its own interfaces, routing tables, ARP and neighbour caches, sockets, sysctl tree, statistics and
/// filter hooks. Runs to completion on its <see cref="EventLoop"/>.
/// </summary>
/// <remarks>Not thread-safe: every call is made on the loop's thread.</remarks>
public sealed partial class NetStack
{
    private readonly List<NetworkInterface> _interfaces = [];
    private readonly Random _random;
    private readonly int _seed;

    /// <summary>Creates a stack with a loopback interface `lo0` (127.0.0.1/8, ::1, fe80::1%lo0).</summary>
    public NetStack(EventLoop loop, NetStackOptions? options = null)
    {
        options ??= new NetStackOptions();
        Loop = loop;
        Name = options.Name;
        Hostname = options.Hostname ?? options.Name;
        _random = new Random(options.Seed);
        _seed = options.Seed;
        Sysctl = new SysctlTree();
        RegisterSysctls();
        Arp = new ArpCache(this);
        Ndp = new NeighborCache(this);
        _reassembly4 = new Reassembly4(this);
        _reassembly6 = new Reassembly6(this);
        _icmpLimiter = new IcmpRateLimiter(this);

        Loopback = new NetworkInterface(this, "lo0", "lo", null, MacAddress.Zero, 16384,
            InterfaceFlags.Loopback | InterfaceFlags.Multicast);
        AddToTable(Loopback);
        Loopback.AddAddress(IPv4Address.Loopback, 8); // brings lo0 up: in6_ifattach adds ::1 and fe80::1%lo0
        if (options.StaticInet6Routes)
        {
            AddStaticInet6Routes();
        }

        Sluice.Stack.Tcp.TcpStack.Attach(this);
    }

    /// <summary>The VNET's name.</summary>
    public string Name { get; }

    /// <summary>kern.hostname of this VNET.</summary>
    public string Hostname { get; set; }

    /// <summary>The event loop that runs this stack.</summary>
    public EventLoop Loop { get; }

    /// <summary>The packet pool (the loop's).</summary>
    public PacketPool Pool => Loop.Pool;

    /// <summary>The sysctl tree of this VNET.</summary>
    public SysctlTree Sysctl { get; }

    /// <summary>The kernel message buffer of this VNET (<c>dmesg</c>).</summary>
    public MessageBuffer Messages { get; } = new();

    /// <summary>Interfaces in index order (lo0 first).</summary>
    public ListView<NetworkInterface> Interfaces => new(_interfaces);

    /// <summary>The loopback interface.</summary>
    public NetworkInterface Loopback { get; }

    /// <summary>IPv4 routes.</summary>
    public IPv4RouteTable Routes4 { get; } = new();

    /// <summary>IPv6 routes.</summary>
    public IPv6RouteTable Routes6 { get; } = new();

    /// <summary>The ARP cache.</summary>
    public ArpCache Arp { get; }

    /// <summary>The IPv6 neighbour cache.</summary>
    public NeighborCache Ndp { get; }

    /// <summary>Filter hooks (pf, ipfw attach here).</summary>
    public PfilHooks Pfil { get; } = new();

    /// <summary>IPv4 counters.</summary>
    public IpStatistics Ip { get; } = new();

    /// <summary>ICMP counters.</summary>
    public IcmpStatistics Icmp { get; } = new();

    /// <summary>UDP counters.</summary>
    public UdpStatistics Udp { get; } = new();

    /// <summary>IPv6 counters.</summary>
    public Ip6Statistics Ip6 { get; } = new();

    /// <summary>ICMPv6 counters.</summary>
    public Icmp6Statistics Icmp6 { get; } = new();

    /// <summary>ARP counters.</summary>
    public ArpStatistics ArpStats { get; } = new();

    /// <summary>The stack's deterministic random source.</summary>
    public Random Random => _random;

    /// <summary>Finds an interface by name.</summary>
    public NetworkInterface? FindInterface(string name)
    {
        foreach (var ifp in _interfaces)
        {
            if (ifp.Name == name)
            {
                return ifp;
            }
        }

        return null;
    }

    /// <summary>Finds an interface by index.</summary>
    public NetworkInterface? InterfaceByIndex(int index)
    {
        var i = index - 1;
        if ((uint)i < (uint)_interfaces.Count && _interfaces[i].Index == index)
        {
            return _interfaces[i];
        }

        foreach (var ifp in _interfaces)
        {
            if (ifp.Index == index)
            {
                return ifp;
            }
        }

        return null;
    }

    /// <summary>Creates an Ethernet interface over <paramref name="link"/>.</summary>
    public NetworkInterface CreateInterface(string name, ILink? link, string kind, MacAddress? mac = null, int mtu = 1500)
    {
        if (FindInterface(name) is not null)
        {
            throw new ArgumentException($"interface {name} already exists", nameof(name));
        }

        var address = mac ?? link?.HardwareAddress ?? RandomMac();
        var ifp = new NetworkInterface(this, name, kind, link, address, mtu,
            InterfaceFlags.Broadcast | InterfaceFlags.Simplex | InterfaceFlags.Multicast);
        AddToTable(ifp);
        return ifp;
    }

    /// <summary>Removes <paramref name="ifp"/> from this stack (for a move to another VNET); addresses and routes go.</summary>
    public void DetachInterface(NetworkInterface ifp)
    {
        if (ifp.Stack != this || !_interfaces.Remove(ifp))
        {
            throw new ArgumentException($"{ifp.Name} is not in vnet {Name}", nameof(ifp));
        }

        MldDetach(ifp);
        ifp.ClearAddresses();
        MldDetach(ifp);
        Routes4.RemoveInterface(ifp.Index);
        Routes6.RemoveInterface(ifp.Index);
        Arp.RemoveInterface(ifp.Index);
        Ndp.RemoveInterface(ifp.Index);
    }

    /// <summary>Adds an interface detached from another stack; it gets a fresh index here.</summary>
    public void AttachInterface(NetworkInterface ifp)
    {
        if (FindInterface(ifp.Name) is not null)
        {
            throw new ArgumentException($"interface {ifp.Name} already exists in vnet {Name}", nameof(ifp));
        }

        ifp.Stack = this;
        ifp.Nd6Flags |= Nd6Flags.IfDisabled;
        AddToTable(ifp);
    }

    /// <summary>Destroys an interface: detaches it and disposes its link.</summary>
    public void DestroyInterface(NetworkInterface ifp)
    {
        DetachInterface(ifp);
        ifp.Link?.Dispose();
    }

    private void AddToTable(NetworkInterface ifp)
    {
        var index = 1;
        foreach (var other in _interfaces)
        {
            index = Math.Max(index, other.Index + 1);
        }

        ifp.Index = _interfaces.Count == 0 ? 1 : index;
        _interfaces.Add(ifp);
    }

    private MacAddress RandomMac()
    {
        Span<byte> b = stackalloc byte[6];
        _random.NextBytes(b);
        b[0] = (byte)((b[0] & 0xfe) | 0x02);
        return MacAddress.Read(b);
    }

    internal void OnInterfaceStateChanged(NetworkInterface ifp)
    {
        if (!ifp.IsUp)
        {
            Arp.RemoveInterface(ifp.Index);
            Ndp.RemoveInterface(ifp.Index);
        }
    }
}
