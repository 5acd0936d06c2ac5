using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Ipfw;

/// <summary>A redirect of an in-kernel NAT instance (libalias's redirect_addr/redirect_port/redirect_proto).</summary>
/// <param name="Kind">"addr", "port" or "proto".</param>
/// <param name="Protocol">IP protocol (port, proto).</param>
/// <param name="Local">The inner address.</param>
/// <param name="LocalPort">The inner port (first of the range).</param>
/// <param name="Public">The public address (0: the instance's alias address).</param>
/// <param name="PublicPort">The public port (first of the range).</param>
/// <param name="Count">Ports in the range.</param>
/// <param name="Remote">Only from this remote address (0: any).</param>
/// <param name="RemotePort">Only from this remote port (0: any).</param>
public sealed record IpfwNatRedirect(string Kind, byte Protocol, IPv4Address Local, ushort LocalPort, IPv4Address Public, ushort PublicPort,
    int Count, IPv4Address Remote, ushort RemotePort);

/// <summary>The configuration of <c>ipfw nat N config ...</c>.</summary>
public sealed record IpfwNatConfig
{
    /// <summary>Instance number.</summary>
    public int Id { get; init; }

    /// <summary>The alias address given with <c>ip</c>.</summary>
    public IPv4Address? Address { get; init; }

    /// <summary>The interface given with <c>if</c> (its first IPv4 address is the alias).</summary>
    public string? Interface { get; init; }

    /// <summary>log.</summary>
    public bool Log { get; init; }

    /// <summary>deny_in: drop incoming packets that match no link or redirect.</summary>
    public bool DenyIn { get; init; }

    /// <summary>same_ports: keep the source port when it is free.</summary>
    public bool SamePorts { get; init; }

    /// <summary>unreg_only: translate only RFC 1918 sources.</summary>
    public bool UnregOnly { get; init; }

    /// <summary>unreg_cgn: translate only RFC 1918 and RFC 6598 sources.</summary>
    public bool UnregCgn { get; init; }

    /// <summary>reset: forget links when the alias address changes.</summary>
    public bool Reset { get; init; }

    /// <summary>reverse: swap the inside and outside directions.</summary>
    public bool Reverse { get; init; }

    /// <summary>skip_global.</summary>
    public bool SkipGlobal { get; init; }

    /// <summary>port_range LOW-HIGH (0: libalias's 0x8000-0xffff).</summary>
    public (ushort Low, ushort High) PortRange { get; init; }

    /// <summary>Redirects in the order given.</summary>
    public IReadOnlyList<IpfwNatRedirect> Redirects { get; init; } = [];

    /// <summary>Parses the words after <c>ipfw nat N config</c>; false with ipfw's message on a bad word.</summary>
    public static bool TryParse(int id, ReadOnlySpan<string> av, out IpfwNatConfig? config, out string? error)
    {
        config = null;
        error = null;
        var c = new IpfwNatConfig { Id = id };
        var redirects = new List<IpfwNatRedirect>();
        var i = 0;
        while (i < av.Length)
        {
            var tok = av[i++];
            switch (tok)
            {
                case "ip":
                    if (i >= av.Length || !IPv4Address.TryParse(av[i], out var ip))
                    {
                        error = i >= av.Length ? "missing option" : $"bad ip address ``{av[i]}''";
                        return false;
                    }

                    i++;
                    c = c with { Address = ip, Interface = null };
                    break;
                case "if":
                    if (i >= av.Length)
                    {
                        error = "missing option";
                        return false;
                    }

                    c = c with { Interface = av[i++], Address = null };
                    break;
                case "log":
                    c = c with { Log = true };
                    break;
                case "deny_in":
                    c = c with { DenyIn = true };
                    break;
                case "same_ports":
                    c = c with { SamePorts = true };
                    break;
                case "unreg_only":
                    c = c with { UnregOnly = true };
                    break;
                case "unreg_cgn":
                    c = c with { UnregCgn = true };
                    break;
                case "reset":
                    c = c with { Reset = true };
                    break;
                case "reverse":
                    c = c with { Reverse = true };
                    break;
                case "skip_global":
                    c = c with { SkipGlobal = true };
                    break;
                case "port_range":
                    {
                        if (i >= av.Length || !TryRange(av[i], out var lo, out var n) || lo < 1024 || n < 1)
                        {
                            error = "invalid port_range";
                            return false;
                        }

                        i++;
                        c = c with { PortRange = (lo, (ushort)(lo + n - 1)) };
                        break;
                    }

                case "redirect_addr":
                    {
                        if (i + 1 >= av.Length || !IPv4Address.TryParse(av[i], out var local) || !IPv4Address.TryParse(av[i + 1], out var pub))
                        {
                            error = "redirect_addr: missing or bad address";
                            return false;
                        }

                        i += 2;
                        redirects.Add(new IpfwNatRedirect("addr", 0, local, 0, pub, 0, 1, default, 0));
                        break;
                    }

                case "redirect_port":
                    {
                        if (i + 2 >= av.Length || ProtocolNumber(av[i]) is not (6 or 17 or 132) || !TryEndpoint(av[i + 1], out var local, out var lport, out var lcount))
                        {
                            error = "redirect_port: missing or bad argument";
                            return false;
                        }

                        var proto = (byte)ProtocolNumber(av[i])!;
                        IPv4Address pub = default;
                        var p = av[i + 2];
                        var colon = p.IndexOf(':', StringComparison.Ordinal);
                        if (colon >= 0 && !IPv4Address.TryParse(p[..colon], out pub))
                        {
                            error = $"redirect_port: bad address ``{p}''";
                            return false;
                        }

                        if (!TryRange(colon >= 0 ? p[(colon + 1)..] : p, out var pport, out var pcount) || pcount != lcount)
                        {
                            error = "redirect_port: port ranges have different sizes";
                            return false;
                        }

                        i += 3;
                        IPv4Address remote = default;
                        ushort rport = 0;
                        if (i < av.Length && char.IsAsciiDigit(av[i][0]) && av[i].Contains('.', StringComparison.Ordinal))
                        {
                            if (!TryEndpoint(av[i], out remote, out rport, out _))
                            {
                                error = $"redirect_port: bad remote ``{av[i]}''";
                                return false;
                            }

                            i++;
                        }

                        redirects.Add(new IpfwNatRedirect("port", proto, local, lport, pub, pport, lcount, remote, rport));
                        break;
                    }

                case "redirect_proto":
                    {
                        if (i + 1 >= av.Length || ProtocolNumber(av[i]) is not { } proto || !IPv4Address.TryParse(av[i + 1], out var local))
                        {
                            error = "redirect_proto: missing or bad argument";
                            return false;
                        }

                        i += 2;
                        IPv4Address pub = default, remote = default;
                        if (i < av.Length && IPv4Address.TryParse(av[i], out var a))
                        {
                            pub = a;
                            i++;
                            if (i < av.Length && IPv4Address.TryParse(av[i], out var r))
                            {
                                remote = r;
                                i++;
                            }
                        }

                        redirects.Add(new IpfwNatRedirect("proto", (byte)proto, local, 0, pub, 0, 1, remote, 0));
                        break;
                    }

                default:
                    error = $"unrecognised option ``{tok}''";
                    return false;
            }
        }

        config = c with { Redirects = redirects };
        return true;
    }

    private static int? ProtocolNumber(string name) => name switch
    {
        "tcp" => 6,
        "udp" => 17,
        "sctp" => 132,
        "icmp" => 1,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        _ => int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n < 256 ? n : null,
    };

    private static bool TryRange(string s, out ushort first, out int count)
    {
        first = 0;
        count = 0;
        var dash = s.IndexOf('-', StringComparison.Ordinal);
        if (!ushort.TryParse(dash < 0 ? s : s[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out first))
        {
            return false;
        }

        var last = first;
        if (dash >= 0 && (!ushort.TryParse(s[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out last) || last < first))
        {
            return false;
        }

        count = last - first + 1;
        return true;
    }

    private static bool TryEndpoint(string s, out IPv4Address address, out ushort port, out int count)
    {
        port = 0;
        count = 1;
        var colon = s.IndexOf(':', StringComparison.Ordinal);
        if (!IPv4Address.TryParse(colon < 0 ? s : s[..colon], out address))
        {
            return false;
        }

        return colon < 0 || TryRange(s[(colon + 1)..], out port, out count);
    }

    /// <summary>The line of <c>ipfw nat show config</c> (nat_show_cfg in sbin/ipfw/nat.c).</summary>
    public string Format()
    {
        var sb = new StringBuilder();
        sb.Append("ipfw nat ").Append(Id.ToString(CultureInfo.InvariantCulture)).Append(" config");
        if (Interface is not null)
        {
            sb.Append(" if ").Append(Interface);
        }
        else if (Address is { } a)
        {
            sb.Append(" ip ").Append(a);
        }

        if (Log)
        {
            sb.Append(" log");
        }

        if (DenyIn)
        {
            sb.Append(" deny_in");
        }

        if (SamePorts)
        {
            sb.Append(" same_ports");
        }

        if (SkipGlobal)
        {
            sb.Append(" skip_global");
        }

        if (UnregOnly)
        {
            sb.Append(" unreg_only");
        }

        if (UnregCgn)
        {
            sb.Append(" unreg_cgn");
        }

        if (Reset)
        {
            sb.Append(" reset");
        }

        if (Reverse)
        {
            sb.Append(" reverse");
        }

        if (PortRange.Low != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $" port_range {PortRange.Low}-{PortRange.High}");
        }

        foreach (var r in Redirects)
        {
            switch (r.Kind)
            {
                case "addr":
                    sb.Append(" redirect_addr ").Append(r.Local).Append(' ').Append(r.Public);
                    break;
                case "port":
                    sb.Append(" redirect_port ").Append(Sluice.Dummynet.DummynetInstance.ProtocolName(r.Protocol)).Append(' ');
                    sb.Append(r.Local).Append(':').Append(r.LocalPort.ToString(CultureInfo.InvariantCulture));
                    if (r.Count > 1)
                    {
                        sb.Append('-').Append((r.LocalPort + r.Count - 1).ToString(CultureInfo.InvariantCulture));
                    }

                    sb.Append(' ');
                    if (!r.Public.IsUnspecified)
                    {
                        sb.Append(r.Public).Append(':');
                    }

                    sb.Append(r.PublicPort.ToString(CultureInfo.InvariantCulture));
                    if (r.Count > 1)
                    {
                        sb.Append('-').Append((r.PublicPort + r.Count - 1).ToString(CultureInfo.InvariantCulture));
                    }

                    if (!r.Remote.IsUnspecified)
                    {
                        sb.Append(' ').Append(r.Remote);
                        if (r.RemotePort != 0)
                        {
                            sb.Append(':').Append(r.RemotePort.ToString(CultureInfo.InvariantCulture));
                        }
                    }

                    break;
                default:
                    sb.Append(" redirect_proto ").Append(Sluice.Dummynet.DummynetInstance.ProtocolName(r.Protocol) ?? r.Protocol.ToString(CultureInfo.InvariantCulture));
                    sb.Append(' ').Append(r.Local);
                    if (!r.Public.IsUnspecified)
                    {
                        sb.Append(' ').Append(r.Public);
                        if (!r.Remote.IsUnspecified)
                        {
                            sb.Append(' ').Append(r.Remote);
                        }
                    }

                    break;
            }
        }

        return sb.ToString();
    }
}

/// <summary>
/// One in-kernel NAT instance (ipfw_nat.c over libalias): outgoing packets get the alias address and a free alias
/// port (or ICMP echo id), incoming packets to the alias are matched to their link and restored; redirects publish
/// inner servers; TCP/UDP/ICMP checksums are updated incrementally (RFC 1624), also inside ICMP errors.
/// </summary>
/// <remarks>Runs on the stack's loop. Packets start at the IPv4 header and must be writable.</remarks>
public sealed class IpfwNatInstance
{
    private const long TcpLifetime = 86400, TcpClosingLifetime = 10, UdpLifetime = 60, IcmpLifetime = 60, ProtoLifetime = 60;

    private readonly NetStack _stack;
    private readonly Dictionary<OutKey, NatLink> _out = [];
    private readonly Dictionary<InKey, NatLink> _in = [];
    private IPv4Address _lastAlias;
    private bool _partial;

    internal IpfwNatInstance(NetStack stack, IpfwNatConfig config)
    {
        _stack = stack;
        Config = config;
    }

    /// <summary>The configuration.</summary>
    public IpfwNatConfig Config { get; internal set; }

    /// <summary>Live links (translations).</summary>
    public int LinkCount => _out.Count;

    private readonly record struct OutKey(byte Protocol, uint Local, ushort LocalPort, uint Remote, ushort RemotePort);

    private readonly record struct InKey(byte Protocol, ushort AliasPort, uint Remote, ushort RemotePort);

    private sealed class NatLink
    {
        public OutKey Out;
        public InKey In;
        public long Expire;
    }

    /// <summary>The alias address now (the interface's first IPv4 address with <c>if</c>).</summary>
    public IPv4Address? AliasAddress =>
        Config.Interface is { } name ? _stack.FindInterface(name)?.PrimaryIPv4?.Address : Config.Address;

    /// <summary>Clears every link (ipfw nat N config again, or an alias change with <c>reset</c>).</summary>
    public void ClearLinks()
    {
        _out.Clear();
        _in.Clear();
    }

    /// <summary>
    /// Translates <paramref name="packet"/> (writable, from its IPv4 header) in direction <paramref name="outbound"/>;
    /// false when it must be dropped (deny_in, or a packet libalias cannot handle).
    /// </summary>
    public bool Translate(Packet packet, bool outbound)
    {
        if (AliasAddress is not { } alias)
        {
            return true;
        }

        if (alias != _lastAlias)
        {
            if (Config.Reset && !_lastAlias.IsUnspecified)
            {
                ClearLinks();
            }

            _lastAlias = alias;
        }

        _partial = (packet.Flags & PacketFlags.ChecksumPartial) != 0;
        var data = packet.Data;
        if (!IPv4Packet.TryCreate(data, out var ip))
        {
            return false;
        }

        if (Config.Reverse)
        {
            outbound = !outbound;
        }

        if (ip.FragmentOffset != 0)
        {
            // Later fragments carry no ports: only the address follows the first fragment (libalias FragmentIn/Out).
            return outbound ? RewriteSourceAddressOnly(packet, alias) : true;
        }

        return outbound ? Out(packet, alias) : In(packet, alias);
    }

    private static bool IsUnregistered(uint a, bool cgn) =>
        (a & 0xff000000) == 0x0a000000 || (a & 0xfff00000) == 0xac100000 || (a & 0xffff0000) == 0xc0a80000
        || (cgn && (a & 0xffc00000) == 0x64400000);

    private bool Out(Packet packet, IPv4Address alias)
    {
        var data = packet.Data;
        var hlen = (data[0] & 0x0f) * 4;
        var proto = data[9];
        var src = BinaryPrimitives.ReadUInt32BigEndian(data[12..]);
        var dst = BinaryPrimitives.ReadUInt32BigEndian(data[16..]);
        if (src == alias.Value || ((Config.UnregOnly || Config.UnregCgn) && !IsUnregistered(src, Config.UnregCgn)))
        {
            return true;
        }

        if (proto == 1)
        {
            // ICMP echo/timestamp requests use the identifier as the port; errors from inside are rewritten too.
            if (data.Length < hlen + 8)
            {
                return true;
            }

            var type = data[hlen];
            if (type is 8 or 13)
            {
                var id = BinaryPrimitives.ReadUInt16BigEndian(data[(hlen + 4)..]);
                var link = GetOrCreate(1, src, id, dst, 0, alias, IcmpLifetime);
                SetSource(data, hlen, alias.Value);
                SetIcmpId(data, hlen, link.In.AliasPort);
            }
            else
            {
                SetSource(data, hlen, alias.Value);
            }

            return true;
        }

        if (proto is 6 or 17 && data.Length >= hlen + (proto == 6 ? 20 : 8))
        {
            var sport = BinaryPrimitives.ReadUInt16BigEndian(data[hlen..]);
            var dport = BinaryPrimitives.ReadUInt16BigEndian(data[(hlen + 2)..]);
            var link = GetOrCreate(proto, src, sport, dst, dport, alias, proto == 6 ? TcpLifetime : UdpLifetime);
            if (proto == 6)
            {
                TrackTcp(link, data[hlen + 13]);
            }

            var publicAddress = RedirectPublicFor(proto, src, sport) ?? alias.Value;
            SetSource(data, hlen, publicAddress);
            SetTransportPort(packet, data, hlen, proto, source: true, link.In.AliasPort);
            return true;
        }

        // Other protocols: the address only (libalias ProtoAliasOut), or a redirect_proto's public address.
        var pub = Config.Redirects.FirstOrDefault(r => r.Kind is "proto" or "addr" && r.Local.Value == src && (r.Kind == "addr" || r.Protocol == proto));
        SetSource(data, hlen, pub is not null && !pub.Public.IsUnspecified ? pub.Public.Value : alias.Value);
        return true;
    }

    private uint? RedirectPublicFor(byte proto, uint src, ushort sport)
    {
        foreach (var r in Config.Redirects)
        {
            if (r.Kind == "addr" && r.Local.Value == src)
            {
                return r.Public.Value;
            }

            if (r.Kind == "port" && r.Protocol == proto && r.Local.Value == src && sport >= r.LocalPort && sport < r.LocalPort + r.Count
                && !r.Public.IsUnspecified)
            {
                return r.Public.Value;
            }
        }

        return null;
    }

    private bool In(Packet packet, IPv4Address alias)
    {
        var data = packet.Data;
        var hlen = (data[0] & 0x0f) * 4;
        var proto = data[9];
        var src = BinaryPrimitives.ReadUInt32BigEndian(data[12..]);
        var dst = BinaryPrimitives.ReadUInt32BigEndian(data[16..]);
        var now = _stack.Loop.Now;
        if (proto == 1 && data.Length >= hlen + 8)
        {
            var type = data[hlen];
            if (type is 0 or 14 && dst == alias.Value)
            {
                var id = BinaryPrimitives.ReadUInt16BigEndian(data[(hlen + 4)..]);
                if (Find(new InKey(1, id, src, 0), now) is { } link)
                {
                    SetDestination(data, hlen, link.Out.Local);
                    SetIcmpId(data, hlen, link.Out.LocalPort);
                    return true;
                }
            }
            else if (type is 3 or 4 or 5 or 11 or 12)
            {
                return IcmpErrorIn(data, hlen, alias, now) || !Config.DenyIn;
            }

            return RedirectAddressIn(data, hlen, proto, dst, alias) || !Config.DenyIn;
        }

        if (proto is 6 or 17 && data.Length >= hlen + (proto == 6 ? 20 : 8))
        {
            var sport = BinaryPrimitives.ReadUInt16BigEndian(data[hlen..]);
            var dport = BinaryPrimitives.ReadUInt16BigEndian(data[(hlen + 2)..]);
            if (dst == alias.Value || Config.Redirects.Any(r => r.Public.Value == dst))
            {
                var link = Find(new InKey(proto, dport, src, sport), now);
                if (link is null)
                {
                    // redirect_port: a new link from the remote to the inner server (libalias FindRtspOut-style partial link).
                    foreach (var r in Config.Redirects)
                    {
                        var pub = r.Public.IsUnspecified ? alias.Value : r.Public.Value;
                        if (r.Kind == "port" && r.Protocol == proto && pub == dst && dport >= r.PublicPort && dport < r.PublicPort + r.Count
                            && (r.Remote.IsUnspecified || r.Remote.Value == src) && (r.RemotePort == 0 || r.RemotePort == sport))
                        {
                            var localPort = (ushort)(r.LocalPort + (dport - r.PublicPort));
                            link = Add(new OutKey(proto, r.Local.Value, localPort, src, sport), new InKey(proto, dport, src, sport),
                                proto == 6 ? TcpLifetime : UdpLifetime);
                            break;
                        }
                    }
                }

                if (link is not null)
                {
                    if (proto == 6)
                    {
                        TrackTcp(link, data[hlen + 13]);
                    }

                    SetDestination(data, hlen, link.Out.Local);
                    SetTransportPort(packet, data, hlen, proto, source: false, link.Out.LocalPort);
                    return true;
                }
            }

            return RedirectAddressIn(data, hlen, proto, dst, alias) || !Config.DenyIn;
        }

        return RedirectAddressIn(data, hlen, proto, dst, alias) || !Config.DenyIn;
    }

    private bool RedirectAddressIn(Span<byte> data, int hlen, byte proto, uint dst, IPv4Address alias)
    {
        foreach (var r in Config.Redirects)
        {
            var pub = r.Public.IsUnspecified ? alias.Value : r.Public.Value;
            if ((r.Kind == "addr" || (r.Kind == "proto" && r.Protocol == proto)) && pub == dst)
            {
                SetDestination(data, hlen, r.Local.Value);
                return true;
            }
        }

        return false;
    }

    /// <summary>An ICMP error about a packet we translated: restore the quoted header and the outer destination.</summary>
    private bool IcmpErrorIn(Span<byte> data, int hlen, IPv4Address alias, long now)
    {
        var inner = data[(hlen + 8)..];
        if (inner.Length < 28 || (inner[0] >> 4) != 4)
        {
            return false;
        }

        var ihl = (inner[0] & 0x0f) * 4;
        var proto = inner[9];
        var isrc = BinaryPrimitives.ReadUInt32BigEndian(inner[12..]);
        var idst = BinaryPrimitives.ReadUInt32BigEndian(inner[16..]);
        if (isrc != alias.Value || inner.Length < ihl + 8)
        {
            return false;
        }

        NatLink? link;
        int portOffset;
        if (proto == 1)
        {
            link = Find(new InKey(1, BinaryPrimitives.ReadUInt16BigEndian(inner[(ihl + 4)..]), idst, 0), now);
            portOffset = ihl + 4;
        }
        else if (proto is 6 or 17)
        {
            link = Find(new InKey(proto, BinaryPrimitives.ReadUInt16BigEndian(inner[ihl..]), idst, BinaryPrimitives.ReadUInt16BigEndian(inner[(ihl + 2)..])), now);
            portOffset = ihl;
        }
        else
        {
            return false;
        }

        if (link is null)
        {
            return false;
        }

        // Quoted header: source address and port back to the inner host; its checksum too. The quoted transport
        // checksum is left alone (it covers data that is usually cut off); the ICMP checksum is recomputed.
        BinaryPrimitives.WriteUInt32BigEndian(inner[12..], link.Out.Local);
        BinaryPrimitives.WriteUInt16BigEndian(inner[portOffset..], link.Out.LocalPort);
        BinaryPrimitives.WriteUInt16BigEndian(inner[10..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(inner[10..], Checksum.Compute(inner[..ihl]));
        var icmp = data[hlen..BinaryPrimitives.ReadUInt16BigEndian(data[2..])];
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum.Compute(icmp));
        SetDestination(data, hlen, link.Out.Local);
        return true;
    }

    private NatLink? Find(InKey key, long now)
    {
        if (!_in.TryGetValue(key, out var link) && !_in.TryGetValue(key with { Remote = 0, RemotePort = 0 }, out link))
        {
            return null;
        }

        if (link.Expire <= now)
        {
            _in.Remove(link.In);
            _out.Remove(link.Out);
            return null;
        }

        return link;
    }

    private NatLink GetOrCreate(byte proto, uint src, ushort sport, uint dst, ushort dport, IPv4Address alias, long lifetime)
    {
        var now = _stack.Loop.Now;
        var key = new OutKey(proto, src, sport, dst, dport);
        if (_out.TryGetValue(key, out var link) && link.Expire > now)
        {
            if (link.Expire - now < lifetime * Nanos.PerSecond / 2 || proto != 6)
            {
                link.Expire = now + (lifetime * Nanos.PerSecond);
            }

            return link;
        }

        if (link is not null)
        {
            _in.Remove(link.In);
            _out.Remove(link.Out);
        }

        return Add(key, new InKey(proto, AllocatePort(proto, sport, dst, dport, now), dst, dport), lifetime);
    }

    private NatLink Add(OutKey o, InKey i, long lifetime)
    {
        var link = new NatLink { Out = o, In = i, Expire = _stack.Loop.Now + (lifetime * Nanos.PerSecond) };
        _out[o] = link;
        _in[i] = link;
        return link;
    }

    /// <summary>libalias GetNewPort: the same port with same_ports when free, else a random free one in the range.</summary>
    private ushort AllocatePort(byte proto, ushort wanted, uint remote, ushort remotePort, long now)
    {
        bool Free(ushort p) => p != 0 && (!_in.TryGetValue(new InKey(proto, p, remote, remotePort), out var l) || l.Expire <= now)
            && !Config.Redirects.Any(r => r.Kind == "port" && r.Protocol == proto && p >= r.PublicPort && p < r.PublicPort + r.Count);

        if (Config.SamePorts && Free(wanted))
        {
            return wanted;
        }

        var (lo, hi) = Config.PortRange.Low != 0 ? (Config.PortRange.Low, Config.PortRange.High) : ((ushort)0x8000, (ushort)0xffff);
        var span = hi - lo + 1;
        for (var attempt = 0; attempt < 64; attempt++)
        {
            var p = (ushort)(lo + _stack.Random.Next(span));
            if (Free(p))
            {
                return p;
            }
        }

        for (var p = lo; p <= hi && p != 0; p++)
        {
            if (Free(p))
            {
                return p;
            }
        }

        return wanted;
    }

    private static void TrackTcp(NatLink link, byte flags)
    {
        if ((flags & 0x05) != 0)
        {
            // FIN or RST: libalias shortens the link's life once the connection closes.
            link.Expire = Math.Min(link.Expire, link.Expire - (TcpLifetime * Nanos.PerSecond) + (TcpClosingLifetime * Nanos.PerSecond) + Nanos.PerSecond);
        }
    }

    private void SetSource(Span<byte> data, int hlen, uint address) => SetAddress(data, hlen, 12, address);

    private void SetDestination(Span<byte> data, int hlen, uint address) => SetAddress(data, hlen, 16, address);

    private void SetAddress(Span<byte> data, int hlen, int offset, uint address)
    {
        var old = BinaryPrimitives.ReadUInt32BigEndian(data[offset..]);
        if (old == address)
        {
            return;
        }

        BinaryPrimitives.WriteUInt32BigEndian(data[offset..], address);
        BinaryPrimitives.WriteUInt16BigEndian(data[10..], Checksum.Update(BinaryPrimitives.ReadUInt16BigEndian(data[10..]), old, address));
        var proto = data[9];
        var fragmentOffset = BinaryPrimitives.ReadUInt16BigEndian(data[6..]) & 0x1fff;
        if (fragmentOffset != 0)
        {
            return;
        }

        // The pseudo-header includes the addresses: TCP and UDP checksums change with them (a zero UDP checksum stays).
        var at = proto == 6 ? hlen + 16 : proto == 17 ? hlen + 6 : -1;
        if (at > 0 && data.Length >= at + 2)
        {
            var sum = BinaryPrimitives.ReadUInt16BigEndian(data[at..]);
            if (proto == 17 && sum == 0)
            {
                return;
            }

            // A partial checksum holds the uncomplemented pseudo-header sum.
            var updated = _partial ? (ushort)~Checksum.Update((ushort)~sum, old, address) : Checksum.Update(sum, old, address);
            BinaryPrimitives.WriteUInt16BigEndian(data[at..], proto == 17 && updated == 0 && !_partial ? (ushort)0xffff : updated);
        }
    }

    private static void SetTransportPort(Packet packet, Span<byte> data, int hlen, byte proto, bool source, ushort port)
    {
        var at = hlen + (source ? 0 : 2);
        var old = BinaryPrimitives.ReadUInt16BigEndian(data[at..]);
        if (old == port)
        {
            return;
        }

        BinaryPrimitives.WriteUInt16BigEndian(data[at..], port);
        if ((packet.Flags & PacketFlags.ChecksumPartial) != 0)
        {
            // The port is summed by whoever completes a partial checksum later.
            return;
        }

        var sumAt = proto == 6 ? hlen + 16 : hlen + 6;
        var sum = BinaryPrimitives.ReadUInt16BigEndian(data[sumAt..]);
        if (proto == 17 && sum == 0)
        {
            return;
        }

        var updated = Checksum.Update(sum, old, port);
        BinaryPrimitives.WriteUInt16BigEndian(data[sumAt..], proto == 17 && updated == 0 ? (ushort)0xffff : updated);
    }

    private static void SetIcmpId(Span<byte> data, int hlen, ushort id)
    {
        var old = BinaryPrimitives.ReadUInt16BigEndian(data[(hlen + 4)..]);
        BinaryPrimitives.WriteUInt16BigEndian(data[(hlen + 4)..], id);
        BinaryPrimitives.WriteUInt16BigEndian(data[(hlen + 2)..], Checksum.Update(BinaryPrimitives.ReadUInt16BigEndian(data[(hlen + 2)..]), old, id));
    }

    private bool RewriteSourceAddressOnly(Packet packet, IPv4Address alias)
    {
        var data = packet.Data;
        SetSource(data, (data[0] & 0x0f) * 4, alias.Value);
        return true;
    }
}
