using Sluice.Stack.Buffers;
using Sluice.Stack.Links;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Interfaces;

/// <summary>Sees every frame an interface receives or sends (BPF-style taps such as `tcpdump -w`).</summary>
public interface IFrameTap
{
    /// <summary>Called synchronously with the frame's bytes; the tap must copy what it keeps.</summary>
    void OnFrame(NetworkInterface ifp, ReadOnlySpan<byte> frame, bool outbound);
}

/// <summary>
/// An ifnet: a named interface in one VNET stack with its link, flags, MTU, addresses and counters.
/// </summary>
/// <remarks>
/// Frames from the link arrive through <see cref="Deliver"/> on the event loop thread. An interface belongs to one
/// <see cref="NetStack"/> at a time; <c>ifconfig IF vnet JAIL</c> moves it (see <see cref="NetStack.DetachInterface"/>).
/// </remarks>
public sealed class NetworkInterface : IPacketSink
{
    private readonly List<IPv4InterfaceAddress> _ipv4 = [];
    private readonly List<IPv6InterfaceAddress> _ipv6 = [];
    private readonly List<IFrameTap> _taps = [];
    private readonly List<string> _groups = [];
    private int _mtu;

    internal NetworkInterface(NetStack stack, string name, string kind, ILink? link, MacAddress hardwareAddress, int mtu, InterfaceFlags flags)
    {
        Stack = stack;
        Name = name;
        Kind = kind;
        Link = link;
        HardwareAddress = hardwareAddress;
        _mtu = mtu;
        Flags = flags;
        Nd6Flags = Nd6Flags.PerformNud | Nd6Flags.AutoLinkLocal | (kind == "lo" ? Nd6Flags.None : Nd6Flags.IfDisabled);
        if (kind != "lo" || name != "lo0")
        {
            _groups.Add(GroupFromName(name, kind));
        }
        else
        {
            _groups.Add("lo");
        }

        link?.Attach(this);
    }

    /// <summary>The stack (VNET) the interface belongs to now.</summary>
    public NetStack Stack { get; internal set; }

    /// <summary>Interface name (`epair0a`).</summary>
    public string Name { get; }

    /// <summary>Interface index in its current stack (if_index, from 1).</summary>
    public int Index { get; internal set; }

    /// <summary>Driver kind: "epair", "lo", "tap".</summary>
    public string Kind { get; }

    /// <summary>The link under the interface (null for loopback).</summary>
    public ILink? Link { get; }

    /// <summary>Ethernet address.</summary>
    public MacAddress HardwareAddress { get; set; }

    /// <summary>IFF_* flags.</summary>
    public InterfaceFlags Flags { get; private set; }

    /// <summary>IPv6 ND flags (`nd6 options=`); setting them does not configure addresses, <see cref="SetNd6Flags"/> does.</summary>
    public Nd6Flags Nd6Flags { get; set; }

    /// <summary>
    /// Sets the ND flags as <c>ifconfig IF inet6 [-]ifdisabled [-]auto_linklocal</c> does (nd6_ioctl SIOCSIFINFO_IN6):
    /// when IPv6 becomes enabled with AUTO_LINKLOCAL on an interface that is up, the link-local address is configured.
    /// </summary>
    public void SetNd6Flags(Nd6Flags flags)
    {
        Nd6Flags = flags;
        if (IsUp)
        {
            AttachLinkLocal();
        }
    }

    /// <summary>True when administratively up.</summary>
    public bool IsUp => (Flags & InterfaceFlags.Up) != 0;

    /// <summary>True for lo interfaces.</summary>
    public bool IsLoopback => (Flags & InterfaceFlags.Loopback) != 0;

    /// <summary>Free text set with `ifconfig IF description`.</summary>
    public string? Description { get; set; }

    /// <summary>Interface groups (`groups:`), not including the implicit `all`.</summary>
    public IReadOnlyList<string> Groups => _groups;

    /// <summary>Maximum transmission unit.</summary>
    public int Mtu => _mtu;

    /// <summary>IPv4 addresses in assignment order.</summary>
    public ListView<IPv4InterfaceAddress> IPv4Addresses => new(_ipv4);

    /// <summary>IPv6 addresses in assignment order.</summary>
    public ListView<IPv6InterfaceAddress> IPv6Addresses => new(_ipv6);

    /// <summary>Traffic counters.</summary>
    public InterfaceCounters Counters { get; } = new();

    /// <summary>Sets the MTU; returns an error message (ifconfig's wording) or null.</summary>
    public string? TrySetMtu(int mtu)
    {
        var max = 65535; // IF_MAXMTU (net/if.h); tun(4) and lo(4) take it
        if (mtu < 72 || mtu > max)
        {
            return "ioctl SIOCSIFMTU (set mtu): Invalid argument";
        }

        _mtu = mtu;
        return null;
    }

    /// <summary>Brings the interface up or down (IFF_UP; RUNNING follows for links with carrier).</summary>
    public void SetUp(bool up) => SetUp(up, IPv6AddressFlags.None, attachLinkLocal: true);

    private void SetUp(bool up, IPv6AddressFlags linkLocalFlags, bool attachLinkLocal)
    {
        if (up)
        {
            Flags |= InterfaceFlags.Up;
            if (Link is null || Link.IsUp)
            {
                Flags |= InterfaceFlags.Running | (IsLoopback ? 0 : InterfaceFlags.LowerUp);
            }

            // if_up → in6_if_up → in6_ifattach: the link-local address, when IPv6 is enabled on the interface.
            if (attachLinkLocal)
            {
                AttachLinkLocal(linkLocalFlags);
            }
        }
        else
        {
            Flags &= ~InterfaceFlags.Up;
        }

        Stack.OnInterfaceStateChanged(this);
    }

    /// <summary>Sets or clears IFF_PROMISC.</summary>
    public void SetPromiscuous(bool on) => Flags = on ? Flags | InterfaceFlags.Promisc : Flags & ~InterfaceFlags.Promisc;

    /// <summary>Adds (or replaces) an IPv4 address; adds the connected and local routes.</summary>
    public void AddAddress(IPv4Address address, int prefixLength, IPv4Address? broadcast = null)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)prefixLength, 32u, nameof(prefixLength));
        RemoveAddress(address);
        if (broadcast is null && (Flags & InterfaceFlags.Broadcast) != 0 && prefixLength < 31)
        {
            broadcast = new IPv4Address(address.Mask(prefixLength).Value | ~IPv4Address.MaskFromPrefix(prefixLength).Value);
        }

        var ifa = new IPv4InterfaceAddress(address, prefixLength, broadcast);
        _ipv4.Add(ifa);
        if (!IsUp)
        {
            // ifconfig brings an interface up when an address is assigned (in_ifinit → if_up).
            SetUp(true);
        }

        Stack.OnAddressAdded(this, ifa);
    }

    /// <summary>Removes an IPv4 address and its routes; false when it was not assigned.</summary>
    public bool RemoveAddress(IPv4Address address)
    {
        for (var i = 0; i < _ipv4.Count; i++)
        {
            if (_ipv4[i].Address == address)
            {
                var ifa = _ipv4[i];
                _ipv4.RemoveAt(i);
                Stack.OnAddressRemoved(this, ifa);
                return true;
            }
        }

        return false;
    }

    /// <summary>Adds (or replaces) an IPv6 address; enables IPv6 on the interface and adds its link-local address.</summary>
    public void AddAddress(IPv6Address address, int prefixLength, IPv6AddressFlags flags = IPv6AddressFlags.None)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)prefixLength, 128u, nameof(prefixLength));
        RemoveAddress(address);
        if ((Nd6Flags & Nd6Flags.IfDisabled) != 0)
        {
            Nd6Flags &= ~Nd6Flags.IfDisabled;
        }

        if (!IsUp)
        {
            // A link-local address given by the user replaces the automatic one.
            SetUp(true, flags, attachLinkLocal: !address.IsLinkLocal);
        }

        if (!address.IsLinkLocal)
        {
            AttachLinkLocal(flags);
        }

        AddIPv6(address, prefixLength, flags);
    }

    /// <summary>Removes an IPv6 address; false when it was not assigned.</summary>
    public bool RemoveAddress(IPv6Address address)
    {
        for (var i = 0; i < _ipv6.Count; i++)
        {
            if (_ipv6[i].Address == address)
            {
                var ifa = _ipv6[i];
                _ipv6.RemoveAt(i);
                Stack.OnAddressRemoved(this, ifa);
                return true;
            }
        }

        return false;
    }

    /// <summary>Drops every address (used when the interface moves to another VNET).</summary>
    internal void ClearAddresses()
    {
        while (_ipv4.Count > 0)
        {
            RemoveAddress(_ipv4[^1].Address);
        }

        while (_ipv6.Count > 0)
        {
            RemoveAddress(_ipv6[^1].Address);
        }
    }

    /// <summary>Adds a frame tap (capture).</summary>
    public void AddTap(IFrameTap tap) => _taps.Add(tap);

    /// <summary>Removes a frame tap.</summary>
    public bool RemoveTap(IFrameTap tap) => _taps.Remove(tap);

    /// <summary>First IPv4 address, if any.</summary>
    public IPv4InterfaceAddress? PrimaryIPv4 => _ipv4.Count > 0 ? _ipv4[0] : null;

    /// <summary>The link-local IPv6 address, if any.</summary>
    public IPv6InterfaceAddress? LinkLocal
    {
        get
        {
            foreach (var a in _ipv6)
            {
                if (a.Address.IsLinkLocal)
                {
                    return a;
                }
            }

            return null;
        }
    }

    /// <summary>Frame from the link. Takes ownership.</summary>
    public void Deliver(Packet packet)
    {
        Counters.InputPackets++;
        Counters.InputBytes += packet.Length;
        if (!IsUp)
        {
            Counters.InputDrops++;
            packet.Release();
            return;
        }

        Tap(packet.Data, outbound: false);
        packet.ResetMetadata();
        packet.ReceiveInterfaceIndex = Index;
        Stack.EthernetInput(this, packet);
    }

    /// <summary>Sends a complete Ethernet frame out of the link. Takes ownership.</summary>
    internal void Transmit(Packet frame)
    {
        if (!IsUp || Link is null)
        {
            Counters.OutputDrops++;
            frame.Release();
            return;
        }

        Counters.OutputPackets++;
        Counters.OutputBytes += frame.Length;
        if (frame.Length >= 6 && (frame.Data[0] & 1) != 0)
        {
            Counters.OutputMulticast++;
        }

        Tap(frame.Data, outbound: true);
        Link.Transmit(frame);
    }

    /// <summary>
    /// Shows <paramref name="frame"/> to this interface's taps only (counted as output or input), for pseudo-interfaces
    /// such as pflog0 and ipfw0 whose "traffic" exists only to be captured.
    /// </summary>
    public void Capture(ReadOnlySpan<byte> frame, bool outbound)
    {
        if (outbound)
        {
            Counters.OutputPackets++;
            Counters.OutputBytes += frame.Length;
        }
        else
        {
            Counters.InputPackets++;
            Counters.InputBytes += frame.Length;
        }

        Tap(frame, outbound);
    }

    internal void Tap(ReadOnlySpan<byte> frame, bool outbound)
    {
        for (var i = 0; i < _taps.Count; i++)
        {
            _taps[i].OnFrame(this, frame, outbound);
        }
    }

    private bool HasLinkLocal() => LinkLocal is not null;

    /// <summary>
    /// in6_ifattach's link-local address: <c>fe80::1</c> on loopback, else the modified EUI-64 interface identifier
    /// from the MAC (RFC 4291 §2.5.1, in6_get_hw_ifid), /64; only when IPv6 is enabled (no IFDISABLED), AUTO_LINKLOCAL
    /// is set and the interface has none yet.
    /// </summary>
    private void AttachLinkLocal(IPv6AddressFlags flags = IPv6AddressFlags.None)
    {
        if ((Nd6Flags & (Nd6Flags.IfDisabled | Nd6Flags.AutoLinkLocal)) != Nd6Flags.AutoLinkLocal || HasLinkLocal())
        {
            return;
        }

        if (IsLoopback)
        {
            // in6_ifattach_loopback first: ::1/128, then the link-local fe80::1%lo0.
            if (!_ipv6.Exists(a => a.Address.IsLoopback))
            {
                AddIPv6(IPv6Address.Loopback, 128, flags);
            }

            AddIPv6(new IPv6Address(0xFE80_0000_0000_0000UL, 1UL), 64, flags);
            return;
        }

        AddIPv6(IPv6Address.LinkLocalFromMac(HardwareAddress), 64, flags);
    }

    private void AddIPv6(IPv6Address address, int prefixLength, IPv6AddressFlags flags)
    {
        var ifa = new IPv6InterfaceAddress(address, prefixLength) { Flags = flags };
        _ipv6.Add(ifa);
        Stack.OnAddressAdded(this, ifa);
    }

    private static string GroupFromName(string name, string kind)
    {
        var end = name.Length;
        while (end > 0 && (char.IsAsciiDigit(name[end - 1]) || (kind == "epair" && name[end - 1] is 'a' or 'b')))
        {
            end--;
        }

        return end == 0 ? kind : name[..end];
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
